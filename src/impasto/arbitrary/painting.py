"""Painting a photo with the arbitrary-style network: any painting, blends, any size.

One pass: the photo's relu4_1 features are moved to the painting's per-channel mean and spread
(AdaIN) and decoded. The knobs mean what the engine's do, as far as one pass allows:

* ``alpha``: the content/style balance, a mix of the AdaIN features with the photo's own
  (``alpha * AdaIN + (1 - alpha) * content``); 0 gives the decoder's rendering of the photo.
* ``blend``: several paintings, weighted. The weighted sum of each painting's AdaIN output is
  itself an AdaIN with the weighted means and spreads, so a blend costs one decode.
* ``color``: the engine's colour modes (``images/color.py``), on the same images.
* ``long_edge`` and ``style_scale``: the output's size, and the painting's long edge relative
  to it (its strokes' size, as in the engine).

The photo is padded to a multiple of 8 pixels and cropped back; large pictures are processed
in exact tiles (``tiles.py``) with the statistics taken over the whole.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ImpastoError
from ..features.devices import precision_context, resolve_device
from ..features.network import Network
from ..images import color as C
from ..images.io import MAX_PIXELS, fit_long_edge, load_image, to_pil, to_tensor
from .model import load_decoder
from .network import STRIDE, Decoder, load_encoder
from .tiles import TILE, decode_tiled, encode_tiled

ImageLike = "str | os.PathLike[str] | Image.Image"
MIN_SIDE = 2 * STRIDE  # the decoder mirrors its first layer's input, which needs two relu4_1 cells


@dataclass
class ArbitraryModel:
    """The encoder and a trained decoder on one device, loaded once and reused for many pictures."""

    decoder: Decoder
    encoder: Network
    precision: str = "auto"  # what the layout was chosen for, and the default for stylize
    path: str = ""
    train: dict = field(default_factory=dict)  # the decoder file's training record

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, device: str = "auto",
             precision: str = "auto") -> "ArbitraryModel":
        """The decoder file (default: the one shipped in the package) and the encoder, on ``device``.

        A missing or damaged file is a one-line ImpastoError saying how to get one."""
        dev = resolve_device(device)
        loaded = load_decoder(path, dev)  # fails fast, before the encoder's weights are read
        encoder = load_encoder(str(dev), precision)
        if encoder.channels_last:
            loaded.net.to(memory_format=torch.channels_last)
        return cls(loaded.net, encoder, precision, loaded.path, loaded.train)


def _weights(blend: Sequence[float] | None, count: int) -> list[float]:
    if blend is None:
        return [1.0 / count] * count
    weights = [float(w) for w in blend]
    if len(weights) != count:
        raise ImpastoError(f"--style-blend has {len(weights)} weights for {count} style images")
    if any(not w >= 0 for w in weights) or sum(weights) <= 0:
        raise ImpastoError("--style-blend weights must be at least 0 and not all zero")
    total = sum(weights)
    return [w / total for w in weights]


def blend_statistics(stats: Sequence[tuple[torch.Tensor, torch.Tensor]],
                     weights: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The weighted means and spreads of several paintings (``weights`` summing to 1).

    AdaIN is linear in the style's mean and spread, so decoding AdaIN with these is decoding the
    weighted sum of each painting's AdaIN output, the blend of Huang & Belongie (section 7)."""
    mean = sum(w * m for (m, _), w in zip(stats, weights))
    std = sum(w * s for (_, s), w in zip(stats, weights))
    return mean, std  # type: ignore[return-value]


def adain_affine(content_mean: torch.Tensor, content_std: torch.Tensor, style_mean: torch.Tensor,
                 style_std: torch.Tensor, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with ``scale * f + shift == alpha * AdaIN(f) + (1 - alpha) * f``: the whole
    transform as one per-channel map, so it can be applied tile by tile."""
    ratio = style_std / content_std
    return alpha * ratio + (1 - alpha), alpha * (style_mean - content_mean * ratio)


def _padded(rgb: torch.Tensor) -> torch.Tensor:
    """Right and bottom edges mirrored out to a multiple of 8 (photos are at least 16 pixels a
    side and paintings 8, so the padding, at most 7, is always narrower than the picture)."""
    h, w = rgb.shape[-2:]
    ph, pw = -h % STRIDE, -w % STRIDE
    return F.pad(rgb, (0, pw, 0, ph), mode="reflect") if ph or pw else rgb


def _style_moments(model: ArbitraryModel, painting: Image.Image, long_edge: int, tile: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A painting's relu4_1 mean and spread at ``long_edge`` (short side at least 8 pixels)."""
    edge = max(long_edge, -(-STRIDE * max(painting.size) // min(painting.size)))
    rgb = _padded(to_tensor(fit_long_edge(painting, edge)).to(model.device))
    _, moments = encode_tiled(model.encoder, rgb, tile, keep=False)
    return moments.mean_std()


@torch.no_grad()
def stylize(model: ArbitraryModel, photo: ImageLike, paintings: Sequence[ImageLike] | ImageLike,
            blend: Sequence[float] | None = None, alpha: float = 1.0, color: str = "style",
            long_edge: int | None = None, style_scale: float = 1.0, precision: str | None = None,
            tile: int = TILE, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The photo painted in the style of ``paintings`` (files or PIL images), in one pass.

    ``long_edge``: the output's long edge (default: the photo's own size). ``precision``: default
    the one the model was loaded for. ``tile``: the largest part of the picture processed at once,
    in pixels (memory, not the result: tiles are exact). Bad images, weights and sizes are
    one-line ImpastoErrors, as in the engine."""
    if not isinstance(paintings, (list, tuple)):
        paintings = [paintings]  # type: ignore[list-item]
    if not paintings:
        raise ImpastoError("at least one style image is needed")
    if not 0.0 <= alpha <= 1.0:
        raise ImpastoError(f"alpha (the content/style balance) must be from 0 to 1, not {alpha!r}")
    if not style_scale > 0:
        raise ImpastoError(f"--style-scale must be positive, not {style_scale!r}")
    if color not in C.COLOR_MODES:
        raise ImpastoError(f"--color must be one of {', '.join(C.COLOR_MODES)}, not {color!r}")
    if tile < STRIDE or tile % STRIDE:
        raise ImpastoError(f"tile must be a multiple of {STRIDE} pixels, not {tile!r}")
    weights = _weights(blend, len(paintings))
    image = load_image(photo, max_pixels)
    if long_edge is not None:
        image = fit_long_edge(image, long_edge)
    if min(image.size) < MIN_SIDE:
        raise ImpastoError(f"the image is {image.width}x{image.height} px: the arbitrary-style network needs at "
                           f"least {MIN_SIDE} px a side; make the output larger (--max-long-edge)")
    styles = [load_image(p, max_pixels) for p in paintings]
    content, styles, _, finish = C.optimiser_images(color, image, styles, None, weights)
    if color == "only":  # the photo in the paintings' palette: nothing for the network to do
        return content
    return to_pil(finish(paint_tensor(model, to_tensor(content), styles, weights, alpha,
                                      round(max(content.size) * style_scale), precision, tile).cpu()))


def paint_tensor(model: ArbitraryModel, rgb: torch.Tensor, styles: Sequence[Image.Image], weights: Sequence[float],
                 alpha: float = 1.0, style_edge: int | None = None, precision: str | None = None,
                 tile: int = TILE) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1] -> the painted (1, 3, H, W), clamped; ``weights`` sum to 1.

    ``style_edge``: the paintings' long edge (default: the photo's). The building block of
    :func:`stylize` for callers that hold tensors (frames of a video)."""
    precision = precision or model.precision
    dev = model.device
    h, w = rgb.shape[-2:]
    with torch.no_grad(), precision_context(dev, precision):
        features, moments = encode_tiled(model.encoder, _padded(rgb.to(dev)), tile)
        used = [(img, wt) for img, wt in zip(styles, weights) if wt > 0]
        stats = [_style_moments(model, img, style_edge or max(h, w), tile) for img, _ in used]
        scale, shift = adain_affine(*moments.mean_std(), *blend_statistics(stats, [wt for _, wt in used]), alpha)

        def transform(f: torch.Tensor) -> torch.Tensor:
            return (f.float() * scale + shift).to(f.dtype)

        assert features is not None
        out = decode_tiled(model.decoder, features, transform, tile, model.encoder.channels_last)
    return out[:, :, :h, :w].float().clamp_(0, 1)
