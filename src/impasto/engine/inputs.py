"""Every image a transfer reads, decoded once: the photo, the paintings, an init image, masks.

Counts that must agree (one blend weight and one mask per painting) are checked here, before
any network is loaded, so a wrong command fails in a moment with one line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from ..errors import ImpastoError
from ..images.io import load_image
from ..options import BUILTIN_INITS, Resolved

ImageInput = "str | os.PathLike[str] | Image.Image"


@dataclass(frozen=True)
class Inputs:
    content: Image.Image
    styles: tuple[Image.Image, ...]
    blend: tuple[float, ...]  # one weight per painting
    init: Image.Image | None  # an init image, when ``init`` names one
    masks: tuple[Image.Image, ...] | None  # grey, one per painting

    def mask_tensors(self, size: tuple[int, int]) -> list[torch.Tensor] | None:
        """Each mask as a (1, 1, H, W) tensor in [0, 1] at ``size`` (W, H) of the image."""
        if self.masks is None:
            return None
        out = []
        for m in self.masks:
            img = m.resize(size, resample=Image.BILINEAR)
            t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).float().div(255)
            out.append(t.reshape(1, 1, size[1], size[0]))
        return out


def load_inputs(content: ImageInput, style: ImageInput | Sequence[ImageInput], o: Resolved) -> Inputs:
    """Decode everything ``o`` and the arguments name, or raise a one-line ImpastoError."""
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise ImpastoError("at least one style image is needed")
    blend = o.style_blend or tuple(1.0 for _ in styles)
    if len(blend) != len(styles):
        raise ImpastoError(f"--style-blend has {len(blend)} weights for {len(styles)} style images")
    masks = None
    if o.masks is not None:
        if len(o.masks) != len(styles):
            raise ImpastoError(f"got {len(o.masks)} mask(s) for {len(styles)} style image(s); give one --mask per style")
        masks = tuple(load_image(m, o.max_pixels).convert("L") for m in o.masks)
        for i, m in enumerate(masks):
            if m.getextrema()[1] == 0:
                raise ImpastoError(f"mask {i + 1} is all black: its style would go nowhere")
    init = None
    if not (isinstance(o.init, str) and o.init in BUILTIN_INITS):
        init = load_image(o.init, o.max_pixels)
    return Inputs(load_image(content, o.max_pixels), tuple(load_image(s, o.max_pixels) for s in styles),
                  tuple(blend), init, masks)
