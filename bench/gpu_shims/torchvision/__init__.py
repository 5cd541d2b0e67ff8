"""A stand-in for the few parts of torchvision neural-style-pt uses, for rehearsing ``bench gpu``
on a machine without torchvision (the GPU machine has the real one). SWITCH: bench/shims."""
