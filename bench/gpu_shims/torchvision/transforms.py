"""torchvision.transforms as neural-style-pt calls it: Compose, Resize (to an exact (h, w)),
ToTensor, Lambda, Normalize, ToPILImage."""

import numpy as np
import torch
from PIL import Image


class Compose:
    def __init__(self, fs):
        self.fs = fs

    def __call__(self, x):
        for f in self.fs:
            x = f(x)
        return x


class Resize:
    def __init__(self, size):
        self.size = size  # (h, w)

    def __call__(self, img):
        h, w = self.size
        return img if img.size == (w, h) else img.resize((w, h), Image.BILINEAR)


class ToTensor:
    def __call__(self, img):
        return torch.from_numpy(np.asarray(img.convert("RGB"), np.float32) / 255).permute(2, 0, 1).contiguous()


class Lambda:
    def __init__(self, f):
        self.f = f

    def __call__(self, x):
        return self.f(x)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)

    def __call__(self, x):
        return (x - self.mean) / self.std


class ToPILImage:
    def __call__(self, t):
        return Image.fromarray((t.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())
