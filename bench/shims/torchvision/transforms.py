"""torchvision.transforms as neural-style-pt uses it, with torchvision's semantics (see __init__).

``Resize`` refuses to resample: the benchmark hands every tool files already at the size it
runs at, so a resize that is not the identity means the inputs were not matched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image


class Compose:
    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class Lambda:
    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class Resize:
    """(height, width); torchvision returns the image untouched when it already has that size."""

    def __init__(self, size: Sequence[int]) -> None:
        self.size = tuple(int(s) for s in size)

    def __call__(self, img: Image.Image) -> Image.Image:
        if (img.height, img.width) != self.size:
            raise SystemExit(f"bench torchvision shim: asked to resize {img.width}x{img.height} to "
                             f"{self.size[1]}x{self.size[0]}; the bench's inputs must need no resize")
        return img


class ToTensor:
    """PIL RGB (H, W, 3) uint8 -> float32 (3, H, W) in [0, 1]."""

    def __call__(self, img: Image.Image) -> torch.Tensor:
        a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        return torch.from_numpy(a).permute(2, 0, 1).contiguous()


class Normalize:
    """(x - mean) / std per channel, on a copy (torchvision's default ``inplace=False``)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean, self.std = list(mean), list(std)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(-1, 1, 1)
        return (x - mean) / std


class ToPILImage:
    """Float (3, H, W) -> PIL RGB as torchvision does it: ``x.mul(255).byte()``, which truncates."""

    def __call__(self, x: torch.Tensor) -> Image.Image:
        if x.is_floating_point():
            x = x.mul(255).byte()
        return Image.fromarray(x.permute(1, 2, 0).numpy(), "RGB")
