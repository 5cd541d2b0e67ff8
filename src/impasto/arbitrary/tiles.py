"""The network's passes over a picture of any size, in tiles that leave no seams.

A tile is a window of the picture processed alone, of which only the inner part is kept. The
encoder (VGG to relu4_1) and the decoder only look a limited distance around each position,
so when the margin around the kept part is wider than that distance, the kept part is what the
whole picture would have given: the tiles meet without seams, and no blending is needed (a blend
would only mix in the less exact values near a window's edge). Window edges on the picture's
own border are that border, so the padding there is the same as for the whole picture. Windows
start on multiples of 8 pixels, so the encoder's three pooling grids line up with the whole
picture's.

The AdaIN statistics are accumulated over all the kept parts (:class:`Moments`), so they are the
whole picture's; tiles only bound the memory of the passes.

Positions are counted in feature cells: one relu4_1 position, 8 x 8 pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..features.network import Network
from .network import STRIDE, TRANSFER_LAYER, Decoder, encode

# How far a kept cell must be from a window's edge to be exact (5 cells = 40 pixels): relu4_1
# of VGG-19 sees 34 pixels to each side of its position, the decoder about 3.75 cells.
MARGIN = 5
TILE = 1024  # kept part of a tile, in pixels: about 1 GB of activations in the widest layers


@dataclass(frozen=True)
class Window:
    """Along one axis, in cells: the window read [start, stop) and the part kept [keep, keep_stop)."""

    start: int
    stop: int
    keep: int
    keep_stop: int


def windows(cells: int, core: int, margin: int = MARGIN) -> list[Window]:
    """Windows covering ``cells`` with kept parts of at most ``core`` cells, evened out so that
    the last tile is not a sliver. One window (the whole axis, no margin) when it fits."""
    n = max(1, math.ceil(cells / max(1, core)))
    size = math.ceil(cells / n)
    out = []
    for s in range(0, cells, size):
        e = min(cells, s + size)
        out.append(Window(max(0, s - margin), min(cells, e + margin), s, e))
    return out


class Moments:
    """Per-channel count, sum and sum of squares in float64, merged over tiles: the mean and spread
    of a whole feature map seen one tile at a time (float64, so E[x^2] - E[x]^2 loses nothing
    that matters to features of fp32 or bf16 precision)."""

    def __init__(self) -> None:
        self.n = 0
        self.sum: torch.Tensor | float = 0.0
        self.sq: torch.Tensor | float = 0.0

    def add(self, f: torch.Tensor) -> None:
        """Add a (1, C, h, w) block of features."""
        x = f.detach().double()
        self.n += f.shape[2] * f.shape[3]
        self.sum = self.sum + x.sum(dim=(0, 2, 3))
        self.sq = self.sq + x.square().sum(dim=(0, 2, 3))

    def mean_std(self, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, C, 1, 1) fp32 mean and standard deviation, as ``network.mean_std`` defines them."""
        if not self.n:
            raise ValueError("no features were added")
        mean = self.sum / self.n
        var = (self.sq / self.n - mean.square()).clamp_min(0)
        return mean.float().view(1, -1, 1, 1), (var + eps).sqrt().float().view(1, -1, 1, 1)


def encode_tiled(encoder: Network, rgb: torch.Tensor, tile: int = TILE,
                 keep: bool = True) -> tuple[torch.Tensor | None, Moments]:
    """relu4_1 of a (1, 3, H, W) picture (H, W multiples of 8) and its moments.

    ``keep=False`` returns only the moments (a painting's statistics need no feature map).
    Run inside the caller's precision context and ``no_grad``."""
    _, _, hh, ww = rgb.shape
    h, w = hh // STRIDE, ww // STRIDE
    core = max(1, tile // STRIDE)
    moments, out = Moments(), None
    rows, cols = windows(h, core), windows(w, core)
    for wy in rows:
        for wx in cols:
            x = rgb[:, :, wy.start * STRIDE:wy.stop * STRIDE, wx.start * STRIDE:wx.stop * STRIDE]
            f = encode(encoder, x)[TRANSFER_LAYER]
            f = f[:, :, wy.keep - wy.start:wy.keep_stop - wy.start, wx.keep - wx.start:wx.keep_stop - wx.start]
            moments.add(f)
            if keep and len(rows) == len(cols) == 1:
                out = f
            elif keep:
                if out is None:
                    out = f.new_empty((1, f.shape[1], h, w))
                out[:, :, wy.keep:wy.keep_stop, wx.keep:wx.keep_stop] = f
    return out, moments


Transform = Callable[[torch.Tensor], torch.Tensor]


def decode_tiled(decoder: Decoder, features: torch.Tensor, transform: Transform, tile: int = TILE,
                 channels_last: bool = False) -> torch.Tensor:
    """The decoder's (1, 3, 8h, 8w) picture of ``transform(features)``, tile by tile.

    ``transform`` is applied per window (AdaIN is a per-channel affine map), so the transformed
    map never exists whole at fp32. Run inside the caller's precision context and ``no_grad``."""
    _, _, h, w = features.shape
    core = max(1, tile // STRIDE)
    out = torch.empty((1, 3, h * STRIDE, w * STRIDE), device=features.device)
    for wy in windows(h, core):
        for wx in windows(w, core):
            t = transform(features[:, :, wy.start:wy.stop, wx.start:wx.stop])
            if channels_last:
                t = t.contiguous(memory_format=torch.channels_last)
            y = decoder(t)
            out[:, :, wy.keep * STRIDE:wy.keep_stop * STRIDE, wx.keep * STRIDE:wx.keep_stop * STRIDE] = \
                y[:, :, (wy.keep - wy.start) * STRIDE:(wy.keep_stop - wy.start) * STRIDE,
                  (wx.keep - wx.start) * STRIDE:(wx.keep_stop - wx.start) * STRIDE]
    return out
