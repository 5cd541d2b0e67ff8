"""Turning an uploaded file into a trusted image, or a clear 4xx.

Nothing about an upload is believed: not its name, extension or content type. The bytes are
counted as they arrive (refused past the limit), decoded by Pillow with only the common raster
formats enabled, and the image written back as a fresh PNG under a name the server chose, so
the client's bytes are never served.

Decoding is where an upload costs memory (a 131 KB one-colour PNG can hold 6300x6300 pixels,
120 MB decoded), so it is bounded three ways before and after the pixels exist: the size an
image announces is checked before anything is decoded, JPEGs are decoded at a reduced scale
(Pillow's ``draft``) and other formats refused above ``WebConfig.max_decode_pixels``; only
``max_decodes`` images are decoded at once; and the image is shrunk to the job's size straight
after decoding, before any conversion copies it, and the freed memory handed back to the system.
"""

from __future__ import annotations

import ctypes
import io
import threading
import warnings

from fastapi import HTTPException, UploadFile
from PIL import Image, UnidentifiedImageError

from ..errors import ImpastoError
from ..images.io import load_image
from .config import WebConfig

# Formats a browser can produce; the others Pillow knows (EPS via Ghostscript, ...) stay off.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
CHUNK = 1024 * 1024
# Modes Image.reduce cannot average, and what to turn them into first.
_REDUCIBLE = {"1": "L", "I;16": "I", "I;16L": "I", "I;16B": "I", "I;16N": "I"}


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


def _release_memory() -> None:
    """Give freed memory back to the system. glibc keeps the pages of freed large images for
    reuse, so without this a few big uploads leave the server hundreds of MB larger for good."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _shrink(img: Image.Image, long_edge: int) -> Image.Image:
    """Average down by the largest whole factor that keeps the long edge at least ``long_edge``
    (cheap, and in the image's own mode, before any conversion makes a full-size copy)."""
    factor = max(img.size) // long_edge
    if factor < 2:
        return img
    if img.mode in _REDUCIBLE:
        img = img.convert(_REDUCIBLE[img.mode])
    elif img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    return img.reduce(factor)


class Decoder:
    """Decodes uploads for one server, at most ``cfg.max_decodes`` at a time."""

    def __init__(self, cfg: WebConfig) -> None:
        self.cfg = cfg
        self._slots = threading.BoundedSemaphore(max(1, cfg.max_decodes))

    def open(self, data: bytes, what: str) -> Image.Image:
        """The image's header only (nothing decoded), or a 413/415 saying why not."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise HTTPException(413, f"the {what} image is too large (refused as a decompression bomb)") from None
        except UnidentifiedImageError:
            raise HTTPException(415, f"the {what} file is not an image (use PNG, JPEG or WebP)") from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise HTTPException(415, f"the {what} image is damaged or truncated") from None
        if img.width * img.height > self.cfg.max_pixels:
            raise HTTPException(413, f"the {what} image is {img.width}x{img.height}: more than "
                                     f"{self.cfg.max_pixels / 1e6:g} megapixels")
        if img.width == 0 or img.height == 0:
            raise HTTPException(415, f"the {what} image is empty (0 pixels)")
        return img

    def decode(self, img: Image.Image, what: str, long_edge: int) -> Image.Image:
        """``img`` (from :meth:`open`) as upright RGB with a long edge of at most ``long_edge``."""
        width, height = img.size
        if img.format == "JPEG":
            img.draft("RGB", (long_edge, long_edge))  # decode at 1/2, 1/4 or 1/8 scale when enough
        if img.width * img.height > self.cfg.max_decode_pixels:
            edge = 4 * self.cfg.max_size
            raise HTTPException(413, f"the {what} image is {width}x{height}: more pixels than a painting "
                                     f"of at most {self.cfg.max_size} px can use; save a copy of at most "
                                     f"{edge}x{edge} px (or a JPEG) and upload that")
        with self._slots:
            try:
                return self._decode(img, what, long_edge)
            finally:
                _release_memory()

    @staticmethod
    def _decode(img: Image.Image, what: str, long_edge: int) -> Image.Image:
        source = img
        try:
            img.load()  # (the bomb check was made by open)
            img = _shrink(img, long_edge)
            img = load_image(img)  # upright (EXIF) RGB, transparency on white
        except ImpastoError as e:
            raise HTTPException(415, f"the {what} image cannot be used: {e}") from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise HTTPException(415, f"the {what} image is damaged or truncated") from None
        finally:
            if img is not source:
                source.close()  # frees the full-size pixels now, whoever still holds the image
        if max(img.size) > long_edge:
            img.thumbnail((long_edge, long_edge), Image.LANCZOS)
        return img
