"""Small JPEGs for lists: a history page of 24 full-size PNGs is tens of megabytes on a phone,
their thumbnails a few hundred kilobytes. Each is made once, beside its image, and kept."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..images.io import save_image

QUALITY = 80


def thumbnail(source: Path, target: Path, edge: int) -> Path:
    """``target``: ``source`` with a long edge of at most ``edge`` px, made unless it exists
    (written atomically, so two requests at once both find a whole file)."""
    if not target.is_file():
        with Image.open(source) as img:
            img.draft("RGB", (edge, edge))
            small = img.convert("RGB")
        small.thumbnail((edge, edge), Image.LANCZOS)
        save_image(small, target, quality=QUALITY)
    return target
