"""Pixels in and out: decoding any common image safely, resizing, and writing atomically.

Every decode problem becomes an :class:`ImpastoError` (one line, no traceback); every write goes
to a temporary file in the target folder that is renamed into place, so an output is either the
whole new image or untouched.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImpastoError
from .atomic import atomic_path, output_format

# Above this many pixels a file is refused as a likely decompression bomb (Pillow's own limit).
MAX_PIXELS = 89_478_485


def _flatten(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB. Transparent pixels are composited on white, as a viewer shows them."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(a)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def load_image(source: str | os.PathLike[str] | Image.Image, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode a file (or take a PIL image) as upright RGB, refusing what is not a sane image."""
    if isinstance(source, Image.Image):
        img = source
        name = "image"
    else:
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise ImpastoError(f"no such file: {path}")
        if path.is_dir():
            raise ImpastoError(f"{path} is a folder, not an image")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(path)
                if img.width * img.height > max_pixels:
                    raise ImpastoError(
                        f"{path} is {img.width}x{img.height}: too many pixels (limit {max_pixels:,}), "
                        "refused as a possible decompression bomb"
                    )
                img.load()
        except ImpastoError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImpastoError(f"{path} is too large, refused as a possible decompression bomb") from None
        except UnidentifiedImageError:
            raise ImpastoError(f"{path} is not an image Pillow can read") from None
        except PermissionError:
            raise ImpastoError(f"cannot read {path}: permission denied") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImpastoError(f"{path} is damaged or truncated ({e})") from None
    if img.width == 0 or img.height == 0:
        raise ImpastoError(f"{name} has zero size")
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:
        pass  # a broken EXIF block only loses the orientation
    return _flatten(img)


def fit_long_edge(img: Image.Image, long_edge: int) -> Image.Image:
    """Resize so the longer side is ``long_edge`` (up or down), keeping the aspect ratio."""
    w, h = img.size
    s = long_edge / max(w, h)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return img if size == img.size else img.resize(size, Image.LANCZOS)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor (1, 3, H, W) in [0, 1]."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(t: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] -> RGB PIL image (clamped, rounded)."""
    t = t.detach().float().squeeze(0).clamp(0, 1).mul(255).round().to(torch.uint8)
    return Image.fromarray(t.permute(1, 2, 0).cpu().numpy(), "RGB")


def save_image(img: Image.Image, path: str | os.PathLike[str], quality: int = 95) -> None:
    """Write ``img`` in the format its extension names, atomically and without metadata."""
    fmt = output_format(path)
    with atomic_path(path) as tmp:
        try:
            _clean_save(img, tmp, fmt, quality)
        except OSError as e:
            raise ImpastoError(f"cannot write {path}: {e.strerror or e}") from None


def encode_image(img: Image.Image, path: str | os.PathLike[str], quality: int = 95) -> bytes:
    """The bytes :func:`save_image` would write to ``path`` (a batch worker on another machine
    paints, the machine that owns the outputs writes them)."""
    buf = io.BytesIO()
    _clean_save(img, buf, output_format(path), quality)
    return buf.getvalue()


def _clean_save(img: Image.Image, target: object, fmt: str, quality: int) -> None:
    clean = Image.frombytes("RGB", img.size, img.convert("RGB").tobytes())  # drops EXIF and all info
    clean.save(target, fmt, **({"quality": quality} if fmt in ("JPEG", "WEBP") else {}))
