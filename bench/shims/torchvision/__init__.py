"""A stand-in for torchvision, put on PYTHONPATH only for neural-style-pt's process, and only
where torchvision is not installed (``bench.peers.torchvision_env``), on the CPU and on the GPU.

neural-style-pt imports torchvision solely for ``torchvision.transforms`` (load, scale, RGB->BGR,
mean subtraction on the way in; the reverse and ``ToPILImage`` on the way out). Installing
torchvision here would pull a multi-GB CUDA build of torch, so ``transforms`` below gives those
six classes with torchvision's behaviour for PIL images and float tensors. Never imported by
impasto or its tests.
"""
