"""Features: the VGG network Gatys et al. read images with, its weights, device and precision."""
