"""Turning an uploaded file into a trusted image, or a clear 4xx.

Nothing about an upload is believed: not its name, extension or content type. The bytes are
counted as they arrive (refused past the limit), decoded by Pillow with only the common raster
formats enabled, the pixel count checked before any pixel is decoded, and the image written
back as a fresh PNG under a name the server chose, so the client's bytes are never served.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from fastapi import HTTPException, UploadFile
from PIL import Image, UnidentifiedImageError

from ..errors import ImpastoError
from ..images.io import load_image, save_image

# Formats a browser can produce; the others Pillow knows (EPS via Ghostscript, ...) stay off.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
CHUNK = 1024 * 1024


async def read_limited(upload: UploadFile, what: str, max_bytes: int) -> bytes:
    """The upload's bytes, refusing with 413 as soon as they pass ``max_bytes``."""
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await upload.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(413, f"the {what} image is larger than {max_bytes // (1024 * 1024)} MB")
        parts.append(chunk)
    if size == 0:
        raise HTTPException(422, f"the {what} file is empty")
    return b"".join(parts)


def decode_image(data: bytes, what: str, max_pixels: int) -> Image.Image:
    """Decode ``data`` as an upright RGB image, or raise a 413/415 saying why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            if img.width * img.height > max_pixels:
                raise HTTPException(413, f"the {what} image is {img.width}x{img.height}: more than "
                                         f"{max_pixels / 1e6:g} megapixels")
            img.load()
    except HTTPException:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise HTTPException(413, f"the {what} image is too large (refused as a decompression bomb)") from None
    except UnidentifiedImageError:
        raise HTTPException(415, f"the {what} file is not an image (use PNG, JPEG or WebP)") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise HTTPException(415, f"the {what} image is damaged or truncated") from None
    try:
        return load_image(img)
    except ImpastoError as e:
        raise HTTPException(415, f"the {what} image cannot be used: {e}") from None


def store_image(img: Image.Image, path: Path, max_edge: int) -> Image.Image:
    """Shrink to ``max_edge`` (never enlarge) and write atomically; returns what was written."""
    if max(img.size) > max_edge:
        img = img.copy()
        img.thumbnail((max_edge, max_edge), Image.LANCZOS)
    save_image(img, path)
    return img
