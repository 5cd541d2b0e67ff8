"""Cutting an image into overlapping tiles whose feature maps add up to the whole image's.

Each tile is computed with a halo of context around it, so the convolutions near its edge see
real pixels; only the tile's core contributes. Core edges are multiples of the deepest layer's
stride, so every feature-map position belongs to exactly one core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..features.layers import layer_stride


@dataclass(frozen=True)
class Box:
    """A tile: its core rows/cols [y0, y1) x [x0, x1) and the haloed box it is computed in."""

    y0: int
    y1: int
    x0: int
    x1: int
    hy0: int
    hy1: int
    hx0: int
    hx1: int

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.hy0:self.hy1, self.hx0:self.hx1]


def tile_boxes(h: int, w: int, tile: int, halo: int, oy: int = 0, ox: int = 0) -> list[Box]:
    """Cover an h x w image with tiles whose grid starts ``oy``, ``ox`` pixels before the origin."""

    def cuts(n: int, off: int) -> list[tuple[int, int]]:
        edges = sorted({0, n, *[k for k in range(-off, n, tile) if 0 < k < n]})
        return list(zip(edges[:-1], edges[1:]))

    boxes = []
    for y0, y1 in cuts(h, oy):
        for x0, x1 in cuts(w, ox):
            boxes.append(Box(y0, y1, x0, x1, max(0, y0 - halo), min(h, y1 + halo),
                             max(0, x0 - halo), min(w, x1 + halo)))
    return boxes


def alignment(layers: Sequence[str]) -> int:
    """The deepest stride among ``layers``: tile edges are multiples of it."""
    return max(layer_stride(k) for k in layers)


def tile_and_halo(tile: int, layers: Sequence[str]) -> tuple[int, int]:
    """The tile side and halo actually used: aligned to the deepest stride, halo up to 96 px."""
    align = alignment(layers)
    side = max(align, tile // align * align)
    return side, max(align, min(96, side // 4) // align * align)


def core(f: torch.Tensor, b: Box, stride: int, full_hw: tuple[int, int]) -> tuple[torch.Tensor, slice, slice]:
    """The part of a haloed tile's feature map that belongs to the tile's core, and where that
    part sits in the whole image's feature map (``full_hw``: that map's size). Tile edges are
    multiples of the deepest stride, except at the image's far edges, where the feature map ends
    wherever pooling's flooring ended it."""
    fy0, fx0 = b.y0 // stride, b.x0 // stride
    fy1 = min(full_hw[0], b.y1 // stride)
    fx1 = min(full_hw[1], b.x1 // stride)
    oy, ox = b.hy0 // stride, b.hx0 // stride
    return f[..., fy0 - oy:fy1 - oy, fx0 - ox:fx1 - ox], slice(fy0, fy1), slice(fx0, fx1)


def feature_sizes(h: int, w: int, layers: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each layer's feature-map size for an h x w image."""
    return {k: (h // layer_stride(k), w // layer_stride(k)) for k in layers}
