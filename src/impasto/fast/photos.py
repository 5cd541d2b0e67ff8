"""Training photos: a folder read once into memory, served as random square crops with flips.

Each photo is scaled so its short side is a random size between the crop size and twice it
before cropping, so the network sees objects at several scales (Johnson et al. resize to
256x256; random scale and position give more variety from a small folder such as BSDS500).
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from PIL import Image

from ..errors import ImpastoError
from ..images.io import load_image, to_tensor

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def photo_files(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted so runs are reproducible."""
    root = Path(folder)
    if not root.is_dir():
        raise ImpastoError(f"--photos {root}: not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not files:
        raise ImpastoError(f"--photos {root}: no images found (jpg, png, webp ...)")
    return files


class Photos:
    """Random crops from a folder of photos; the short sides are pre-shrunk to save memory."""

    def __init__(self, folder: str | Path, crop: int, seed: int = 0) -> None:
        self.crop = crop
        self.files = photo_files(folder)
        self.images: list[Image.Image] = []
        for f in self.files:
            try:
                img = load_image(f)
            except ImpastoError:
                continue  # one broken photo should not stop a long training run
            s = 2 * crop / min(img.size)
            if s < 1:
                img = img.resize((max(crop, round(img.width * s)), max(crop, round(img.height * s))),
                                 Image.LANCZOS)
            self.images.append(img)
        if not self.images:
            raise ImpastoError(f"--photos {folder}: none of the {len(self.files)} images could be read")
        self.rng = random.Random(seed)

    def crop_one(self) -> torch.Tensor:
        img = self.rng.choice(self.images)
        short = self.rng.randint(self.crop, max(self.crop, min(2 * self.crop, min(img.size))))
        s = short / min(img.size)
        w, h = max(self.crop, round(img.width * s)), max(self.crop, round(img.height * s))
        if (w, h) != img.size:
            img = img.resize((w, h), Image.BILINEAR)
        x, y = self.rng.randint(0, w - self.crop), self.rng.randint(0, h - self.crop)
        img = img.crop((x, y, x + self.crop, y + self.crop))
        if self.rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return to_tensor(img)

    def batch(self, n: int) -> torch.Tensor:
        """(n, 3, crop, crop) in [0, 1]."""
        return torch.cat([self.crop_one() for _ in range(n)])
