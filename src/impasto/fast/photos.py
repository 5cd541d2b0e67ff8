"""Training photos: a folder decoded once into one tensor on the training device, served as
random square crops with flips, cut on that device.

Each crop is taken as if the photo's short side had been scaled to a random size between the
crop size and twice it (never past the photo's own short side, so crops are not blown up),
then cut at a random place and flipped left-right half the time: the network sees objects at
several scales (Johnson et al. resize to 256x256; random scale and position give more variety
from a small folder such as BSDS500).

All photos are pasted into one uint8 canvas (photo i in its top-left corner, its size kept
beside it) that lives on the device, and a batch is one ``grid_sample`` of the chosen photos
under per-crop affine maps drawn from a generator on the device. So a training step never
decodes, resizes or copies from the host, and never asks the device for a number: on a GPU
the Python loop runs ahead of the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ImpastoError
from ..images.formats import INPUT_SUFFIXES
from ..images.io import load_image


def photo_files(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted so runs are reproducible."""
    root = Path(folder)
    if not root.is_dir():
        raise ImpastoError(f"--photos {root}: not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in INPUT_SUFFIXES and p.is_file())
    if not files:
        raise ImpastoError(f"--photos {root}: no images found (jpg, png, webp ...)")
    return files


def _shrunk(img: Image.Image, crop: int) -> Image.Image:
    """Short side at most twice the crop (the largest scale a crop is taken at), never below the crop."""
    s = 2 * crop / min(img.size)
    if s >= 1:
        return img
    return img.resize((max(crop, round(img.width * s)), max(crop, round(img.height * s))), Image.LANCZOS)


class Photos:
    """Random crops from a folder of photos, held on ``device`` (see the module docstring)."""

    def __init__(self, folder: str | Path | Sequence[Path], crop: int, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        """``folder``: a folder of images (searched recursively) or the image files themselves."""
        self.crop = crop
        self.files = photo_files(folder) if isinstance(folder, (str, Path)) else list(folder)
        images: list[np.ndarray] = []
        for f in self.files:
            try:
                images.append(np.asarray(_shrunk(load_image(f), crop)))
            except ImpastoError:
                continue  # one broken photo should not stop a long training run
        if not images:
            where = folder if isinstance(folder, (str, Path)) else "the files given"
            raise ImpastoError(f"--photos {where}: none of the {len(self.files)} images could be read")
        h = max(a.shape[0] for a in images)
        w = max(a.shape[1] for a in images)
        canvas = np.zeros((len(images), h, w, 3), np.uint8)
        for i, a in enumerate(images):
            canvas[i, : a.shape[0], : a.shape[1]] = a
        self.device = torch.device(device)
        self.canvas = torch.from_numpy(canvas).permute(0, 3, 1, 2).contiguous().to(self.device)
        self.sizes = torch.tensor([a.shape[:2] for a in images], dtype=torch.float32, device=self.device)
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def __len__(self) -> int:
        return self.canvas.shape[0]

    def _uniform(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.generator, device=self.device)

    def batch(self, n: int) -> torch.Tensor:
        """(n, 3, crop, crop) in [0, 1] on the device."""
        crop = float(self.crop)
        idx = torch.randint(len(self), (n,), generator=self.generator, device=self.device)
        h, w = self.sizes[idx].unbind(1)
        short = torch.minimum(h, w)
        most = short.clamp(max=2 * crop).clamp(min=crop)  # the largest short side a crop is taken at
        scaled = crop + (most - crop) * self._uniform(n)  # the photo's short side "scaled" to this
        side = crop * short / scaled  # the crop's side in the photo's own pixels (at most its short side)
        y0 = (h - side).clamp(min=0) * self._uniform(n)
        x0 = (w - side).clamp(min=0) * self._uniform(n)
        flip = torch.where(self._uniform(n) < 0.5, -1.0, 1.0)
        H, W = self.canvas.shape[-2:]
        # Output pixel centres at x0 + (j + 0.5) * side / crop, in grid_sample's [-1, 1] coordinates.
        theta = torch.zeros(n, 2, 3, device=self.device)
        theta[:, 0, 0] = flip * side / W
        theta[:, 0, 2] = (2 * x0 + side) / W - 1
        theta[:, 1, 1] = side / H
        theta[:, 1, 2] = (2 * y0 + side) / H - 1
        grid = F.affine_grid(theta, [n, 3, self.crop, self.crop], align_corners=False)
        src = self.canvas[idx].float().div_(255)
        return F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp_(0, 1)
