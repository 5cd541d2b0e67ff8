"""Colour preservation for engines without the ``color`` option: keep the photo's chroma.

Only a fallback: when ``Options`` has ``color`` the engine does this itself (and better, during
the optimisation). Here the finished painting's luminance is combined with the content's
chroma in YCbCr, the post-processing variant of Gatys et al. 2016.
"""

from __future__ import annotations

from PIL import Image


def keep_content_colours(painting: Image.Image, content: Image.Image) -> Image.Image:
    """``painting``'s brightness with ``content``'s colours (resized to match)."""
    y, _, _ = painting.convert("YCbCr").split()
    _, cb, cr = content.resize(painting.size, Image.LANCZOS).convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")
