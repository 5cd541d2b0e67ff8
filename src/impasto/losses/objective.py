"""The content and style terms of one image, computed three ways that give the same numbers.

``full``        VGG over the whole image, every activation kept for the backward pass: the
                fastest way at screen sizes, and the reason peers run out of memory at print sizes.
``checkpoint``  VGG in blocks under activation checkpointing, each layer's loss computed inside
                its block, so only the block boundaries (a few small tensors) stay alive; the
                backward pass recomputes one block at a time.
``tiled``       for sizes beyond that: the image is cut into tiles (``tiles.py``). A first pass
                without gradients gathers each style layer's statistic over all tiles and the
                loss's derivative with respect to it; a second pass runs each tile's backward
                with that derivative held fixed, which gives exactly the gradient of the
                whole-image loss. The tile grid is shifted by a random offset at every
                evaluation, so the small halo errors never line up into seams.

Masks (Gatys et al. 2017, spatial control): each style image gets a mask (white = where it
goes); the image's statistic for that style is taken over its mask only, weighted by the mask's
values, and compared with the whole style image's. Without masks the styles are blended into
one target. The loss formulas themselves live in ``terms.py`` and ``style.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..features.devices import precision_context
from ..features.layers import deepest_stride, layer_stride
from ..features.network import Network
from ..options import Resolved
from .style import STYLE_LOSSES, StyleLoss
from .terms import content_loss
from .tiles import Box, core, feature_sizes, tile_and_halo, tile_boxes

# Up to this many pixels plain autograd is used; up to TILED_ABOVE checkpointing.
CHECKPOINT_ABOVE = 1100 * 1100
TILED_ABOVE = 4_500_000


def resolve_memory(o: Resolved, pixels: int) -> str:
    """The memory strategy for an image of ``pixels`` pixels ('auto' picks by size)."""
    if o.memory != "auto":
        return o.memory
    if pixels > TILED_ABOVE:
        return "tiled"
    return "checkpoint" if pixels > CHECKPOINT_ABOVE else "full"


def make_style_loss(o: Resolved) -> StyleLoss:
    """The loss for ``o``, its strength set for ``o``'s network: a Gram grows as the features'
    fourth power and W2 as their square, so how the two compare depends on the network's units."""
    loss = STYLE_LOSSES[o.style_loss]()
    scales = getattr(loss, "SCALES", None)
    if scales:
        loss.SCALE = scales.get(o.weights, scales["caffe"])
    return loss


@dataclass
class StyleGroup:
    """Where one target applies: its share of the style term, its target per layer, its mask."""

    weight: float
    targets: dict[str, Any]
    mask: torch.Tensor | None  # (1, 1, H, W) at image size, or None = everywhere


def layer_mask(mask: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A mask averaged down to a feature map's size (the share of each cell the style owns)."""
    return F.adaptive_avg_pool2d(mask, (h, w)) if mask.shape[-2:] != (h, w) else mask


def describe_style(network: Network, x: torch.Tensor, o: Resolved, loss: StyleLoss) -> dict[str, Any]:
    """A net-space style image's summary per style layer (``loss.describe``), gathered over tiles
    when it is large, so that a print-size style image never needs all of VGG's activations."""
    layers = o.style_layers
    h, w = x.shape[-2:]
    if resolve_memory(o, h * w) == "full" or h * w <= o.tile * o.tile:
        feats = network.net(x, layers)
        return {k: loss.describe(feats[k]) for k in layers}
    side, halo = tile_and_halo(o.tile, layers)
    full_hw = feature_sizes(h, w, layers)
    parts: dict[str, list] = {k: [] for k in layers}
    for b in tile_boxes(h, w, side, halo):
        feats = network.net(b.crop(x), layers)
        for k in layers:
            parts[k].append(loss.describe(core(feats[k], b, layer_stride(k), full_hw[k])[0]))
        del feats
    return {k: loss.merge(parts[k]) for k in layers}


def _blocks(names: Sequence[str], last: str) -> list[list[str]]:
    """The layer names up to ``last``, cut after each pooling layer (the checkpoint segments)."""
    out: list[list[str]] = [[]]
    for name in names:
        out[-1].append(name)
        if name == last:
            break
        if name.startswith("pool"):
            out.append([])
    return [b for b in out if b]


class Objective:
    """Unweighted content and style terms of an image, by whichever memory strategy ``mode`` is."""

    def __init__(self, o: Resolved, network: Network, style: StyleLoss, content: dict[str, torch.Tensor] | None,
                 groups: list[StyleGroup], mode: str) -> None:
        self.o, self.style, self.content, self.groups, self.mode = o, style, content, groups, mode
        self.net = network.net
        self.device = network.device
        self.content_terms = list(zip(o.content_layers, o.content_layer_weights))
        self.style_terms = list(zip(o.style_layers, o.style_layer_weights))
        self.layers = o.layers
        self.wanted = set(self.layers)
        self.last = max(self.layers, key=self.net.names.index)
        self.blocks = _blocks(self.net.names, self.last)
        self.tile, self.halo = tile_and_halo(o.tile, self.layers)
        self.align = deepest_stride(self.layers)
        seed = o.seed if o.seed is not None else 0
        self.gen = torch.Generator().manual_seed(seed)  # tile offsets
        self.style_gen = torch.Generator().manual_seed(seed + 1)  # the style loss's own randomness
        self._masks: dict[tuple[int, int, int], torch.Tensor | None] = {}

    def __call__(self, x: torch.Tensor, content: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(content term, style term) of ``x``, differentiable in ``x``. ``content``: targets for
        this call (a batch of photos when training a feed-forward style), else the run's."""
        content = content if content is not None else self.content
        self.style.begin(self.style_gen)
        if self.mode == "tiled":
            return self._tiled(x, content)
        return self._whole(x, content)

    def _mask(self, gi: int, h: int, w: int) -> torch.Tensor | None:
        key = (gi, h, w)
        if key not in self._masks:
            m = self.groups[gi].mask
            self._masks[key] = None if m is None else layer_mask(m, h, w)
        return self._masks[key]

    # -- the terms at one layer -------------------------------------------------------------------
    def _layer(self, name: str, f: torch.Tensor, content: dict[str, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        c = f.new_zeros((), dtype=torch.float32)
        s = f.new_zeros((), dtype=torch.float32)
        for k, w in self.content_terms:
            if k == name and content is not None:
                c = c + w * content_loss(f, content[k], layer_stride(k))
        for k, w in self.style_terms:
            if k == name:
                for gi, g in enumerate(self.groups):
                    s = s + w * g.weight * self.style.value(f, g.targets[k], self._mask(gi, *f.shape[-2:]))
        return c, s

    # -- whole image, optionally checkpointed -----------------------------------------------------
    def _block(self, names: list[str], h: torch.Tensor, content: dict | None) -> tuple[torch.Tensor, ...]:
        c = h.new_zeros((), dtype=torch.float32)
        s = h.new_zeros((), dtype=torch.float32)
        for name in names:
            h = self.net.layer(name, h, self.wanted)
            if name in self.wanted:
                dc, ds = self._layer(name, h, content)
                c, s = c + dc, s + ds
        return h, c, s

    def _whole(self, x: torch.Tensor, content: dict | None) -> tuple[torch.Tensor, torch.Tensor]:
        h = x
        c = x.new_zeros((), dtype=torch.float32)
        s = x.new_zeros((), dtype=torch.float32)
        with precision_context(self.device, self.o.precision):
            for names in self.blocks:
                if self.mode == "checkpoint" and torch.is_grad_enabled():
                    h, dc, ds = checkpoint(self._block, names, h, content, use_reentrant=False)
                else:
                    h, dc, ds = self._block(names, h, content)
                c, s = c + dc, s + ds
        return c, s

    # -- tiles --------------------------------------------------------------------------------------
    def _offsets(self) -> tuple[int, int]:
        steps = self.tile // self.align
        oy, ox = torch.randint(0, steps, (2,), generator=self.gen).tolist()
        return oy * self.align, ox * self.align

    def _tile_stats(self, feats: dict[str, torch.Tensor], b: Box, full_hw: dict) -> dict[tuple[int, str], tuple]:
        """Each (group, style layer)'s statistic over one tile's core."""
        out = {}
        for k, _ in self.style_terms:
            f, ys, xs = core(feats[k], b, layer_stride(k), full_hw[k])
            for gi in range(len(self.groups)):
                m = self._mask(gi, *full_hw[k])
                out[(gi, k)] = self.style.stat(f, None if m is None else m[..., ys, xs])
        return out

    def _content_tile(self, feats: dict[str, torch.Tensor], b: Box, full_hw: dict, content: dict | None) -> torch.Tensor:
        total = next(iter(feats.values())).new_zeros((), dtype=torch.float32)
        for k, w in self.content_terms:
            if content is None:
                continue
            f, ys, xs = core(feats[k], b, layer_stride(k), full_hw[k])
            total = total + w * content_loss(f, content[k][..., ys, xs], layer_stride(k),
                                             full_hw[k][0] * full_hw[k][1])
        return total

    def _tiled(self, x: torch.Tensor, content: dict | None) -> tuple[torch.Tensor, torch.Tensor]:
        H, W = x.shape[-2:]
        boxes = tile_boxes(H, W, self.tile, self.halo, *self._offsets())
        full_hw = feature_sizes(H, W, self.layers)
        prec = self.o.precision
        # Pass 1: every tile's statistics (and the content value), without gradients.
        c_val = torch.zeros((), device=x.device)
        stats: list[dict[tuple[int, str], tuple]] = []
        with torch.no_grad(), precision_context(self.device, prec):
            for b in boxes:
                feats = self.net(b.crop(x), self.layers)
                c_val = c_val + self._content_tile(feats, b, full_hw, content)
                stats.append(self._tile_stats(feats, b, full_hw))
                del feats
        # The whole image's style value, and its derivative with respect to each tile's statistics.
        need_grad = torch.is_grad_enabled() and x.requires_grad
        s_val = torch.zeros((), device=x.device)
        coef: dict[tuple[int, str], list[tuple]] = {}
        for k, w in self.style_terms:
            for gi, g in enumerate(self.groups):
                with torch.enable_grad():
                    leaves = [tuple(t.detach().requires_grad_(t.is_floating_point()) for t in st[(gi, k)])
                              for st in stats]
                    v = w * g.weight * self.style.compare(self.style.merge(leaves), g.targets[k])
                s_val = s_val + v.detach()
                if need_grad:
                    flat = [t for leaf in leaves for t in leaf]
                    grads = iter(torch.autograd.grad(v, flat, allow_unused=True))
                    coef[(gi, k)] = [tuple(next(grads) for _ in leaf) for leaf in leaves]
        if not need_grad:
            return c_val, s_val
        # Pass 2: each tile's backward with those derivatives held fixed.
        cw, sw = self.o.content_weight, self.o.style_weight
        grad = torch.zeros_like(x)
        for bi, b in enumerate(boxes):
            xt = b.crop(x).detach().requires_grad_(True)
            with precision_context(self.device, prec):
                feats = self.net(xt, self.layers)
            sur = cw * self._content_tile(feats, b, full_hw, content)
            for key, st in self._tile_stats(feats, b, full_hw).items():
                for t, d in zip(st, coef[key][bi]):
                    if d is not None:
                        sur = sur + sw * (d * t).sum()
            if sur.requires_grad:
                (g_t,) = torch.autograd.grad(sur, xt)
                grad[..., b.hy0:b.hy1, b.hx0:b.hx1] += g_t
            del feats, sur
        # Values from pass 1; the gradient of (cw * c + sw * s) attached to whichever term counts.
        lin = (x * grad).sum()
        lin = lin - lin.detach()
        if sw > 0:
            return c_val, s_val + lin / sw
        return c_val + lin / max(cw, 1e-30), s_val
