"""The content and style terms for large images and for masked styles.

The core loop (``transfer.Run.loss``) runs VGG once over the whole image and keeps every
activation for the backward pass. That is the fastest way at screen sizes, and the reason
peers run out of memory at print sizes. This module computes the same two terms three ways:

``full``        plain autograd over the whole image (used here only when masks are given).
``checkpoint``  VGG in blocks under activation checkpointing, each layer's loss computed inside
                its block, so only the block boundaries (a few small tensors) stay alive; the
                backward pass recomputes one block at a time.
``tiled``       for sizes beyond that: the image is cut into tiles (with a halo of context so the
                convolutions near a tile's edge see real pixels). A first pass without gradients
                gathers each style layer's Gram over all tiles; a second pass runs each tile's
                backward with the Gram error held fixed, which gives exactly the gradient of the
                whole-image style loss. The tile grid is shifted by a random offset at every step,
                so the small halo errors never line up into seams.

Masks (Gatys et al. 2017, spatial control): each style image gets a mask (white = where it goes);
the result's Gram for that style is taken over its mask only, weighted by the mask's values,
and compared with the whole style image's Gram.

``style_statistics`` gathers the Grams of a large *style* image over tiles the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from . import losses as L
from .devices import precision_context
from .errors import ImpastoError
from .images import load_image
from .network import Network
from .options import Options

if TYPE_CHECKING:
    from .transfer import Run

# Up to this many pixels the core's plain autograd is used; up to TILED_ABOVE checkpointing.
CHECKPOINT_ABOVE = 1100 * 1100
TILED_ABOVE = 4_500_000
LBFGS_HISTORY_BYTES = 2 * 1024**3  # what the L-BFGS history may take (it is 2 x history images)


def resolve_memory(options: Options, pixels: int) -> str:
    """The memory strategy for an image of ``pixels`` pixels ('auto' picks by size)."""
    if options.memory != "auto":
        return options.memory
    if pixels > TILED_ABOVE:
        return "tiled"
    return "checkpoint" if pixels > CHECKPOINT_ABOVE else "full"


def lbfgs_history(x: torch.Tensor, cap: int = 100) -> int:
    """How many L-BFGS update pairs to keep: the paper-era 100 at screen sizes, fewer at print
    sizes, where 100 pairs of a 4096x4096 image alone would need 40 GB."""
    per_pair = 2 * x.numel() * x.element_size()
    return max(5, min(cap, LBFGS_HISTORY_BYTES // max(1, per_pair)))


# -- masks ------------------------------------------------------------------------------------
def load_masks(masks: Sequence[object], n_styles: int, size: tuple[int, int], max_pixels: int) -> list[torch.Tensor]:
    """One (1, 1, H, W) mask in [0, 1] per style image, resized to ``size`` (W, H) of the image."""
    if len(masks) != n_styles:
        raise ImpastoError(f"got {len(masks)} mask(s) for {n_styles} style image(s); give one --mask per style")
    out = []
    for i, m in enumerate(masks):
        img = load_image(m, max_pixels).convert("L").resize(size, resample=2)  # bilinear
        t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).float().div(255)
        t = t.reshape(1, 1, size[1], size[0])
        if float(t.max()) <= 0.0:
            raise ImpastoError(f"mask {i + 1} is all black: its style would go nowhere")
        out.append(t)
    return out


def layer_mask(mask: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A mask averaged down to a feature map's size (the share of each cell the style owns)."""
    return F.adaptive_avg_pool2d(mask, (h, w)) if mask.shape[-2:] != (h, w) else mask


def weighted_gram_sum(f: torch.Tensor, m: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over positions of m(p) f(p) f(p)^T, and the sum of m: a Gram before its division."""
    c = f.shape[1]
    flat = f.float().reshape(c, -1)
    with L.fp32_matmul(flat.device):
        if m is None:
            return flat @ flat.T, flat.new_tensor(float(flat.shape[1]))
        mw = m.to(flat.device, flat.dtype).reshape(1, -1)
        return (flat * mw) @ flat.T, mw.sum()


# -- running VGG a piece at a time --------------------------------------------------------------
def _apply(net: torch.nn.Module, name: str, h: torch.Tensor, wanted: set[str]) -> torch.Tensor:
    if name.startswith("conv"):
        return net.convs[name](h)
    if name.startswith("relu"):
        return F.relu(h, inplace="conv" + name[4:] not in wanted)
    return (F.max_pool2d if net.pooling == "max" else F.avg_pool2d)(h, 2, 2)


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


@dataclass
class _Group:
    weight: float  # share of this style in the style term
    grams: dict[str, torch.Tensor]
    mask: torch.Tensor | None  # (1, 1, H, W) at image size, or None = everywhere


@dataclass
class _Box:
    """A tile: its core rows/cols [y0, y1) x [x0, x1) and the haloed box it is computed in."""

    y0: int
    y1: int
    x0: int
    x1: int
    hy0: int
    hy1: int
    hx0: int
    hx1: int


def tile_boxes(h: int, w: int, tile: int, halo: int, oy: int = 0, ox: int = 0) -> list[_Box]:
    """Cover an h x w image with tiles whose grid starts ``oy``, ``ox`` pixels before the origin."""

    def cuts(n: int, off: int) -> list[tuple[int, int]]:
        edges = sorted({0, n, *[k for k in range(-off, n, tile) if 0 < k < n]})
        return list(zip(edges[:-1], edges[1:]))

    boxes = []
    for y0, y1 in cuts(h, oy):
        for x0, x1 in cuts(w, ox):
            boxes.append(_Box(y0, y1, x0, x1, max(0, y0 - halo), min(h, y1 + halo),
                              max(0, x0 - halo), min(w, x1 + halo)))
    return boxes


def _core(f: torch.Tensor, b: _Box, stride: int, full_hw: tuple[int, int]) -> tuple[torch.Tensor, slice, slice]:
    """The part of a haloed tile's feature map that belongs to the tile's core, and where that
    part sits in the whole image's feature map (``full_hw``: that map's size). Tile edges are
    multiples of the deepest stride, except at the image's far edges, where the feature map ends
    wherever pooling's flooring ended it."""
    fy0, fx0 = b.y0 // stride, b.x0 // stride
    fy1 = min(full_hw[0], b.y1 // stride)
    fx1 = min(full_hw[1], b.x1 // stride)
    oy, ox = b.hy0 // stride, b.hx0 // stride
    return f[..., fy0 - oy:fy1 - oy, fx0 - ox:fx1 - ox], slice(fy0, fy1), slice(fx0, fx1)


def _alignment(layers: Sequence[str]) -> int:
    return max(L.layer_stride(k) for k in layers)


class Objective:
    """The content and style terms of a Run, by checkpointing, tiling and/or masks."""

    def __init__(self, run: "Run", grams_each: Sequence[dict[str, torch.Tensor]],
                 masks: list[torch.Tensor] | None, mode: str) -> None:
        o = run.options
        self.run, self.mode = run, mode
        self.net = run.network.net
        self.device = run.device
        self.content = list(zip(o.content_layers, run.content_w))
        self.style = list(zip(o.style_layers, run.style_w))
        self.layers = tuple(dict.fromkeys(o.content_layers + o.style_layers))
        self.wanted = set(self.layers)
        order = self.net.names
        self.last = max(self.layers, key=order.index)
        self.blocks = _blocks(order, self.last)
        if masks is None:
            self.groups = [_Group(1.0, run.targets.style, None)]
        else:
            blend = o.style_blend or tuple(1.0 for _ in grams_each)
            total = float(sum(blend))
            self.groups = [_Group(b / total, g, m.to(self.device)) for b, g, m in zip(blend, grams_each, masks)]
        self.align = _alignment(self.layers)
        self.tile = max(self.align, o.tile // self.align * self.align)
        self.halo = max(self.align, min(96, self.tile // 4) // self.align * self.align)
        self.gen = torch.Generator().manual_seed(o.seed if o.seed is not None else 0)
        self._masks: dict[tuple[int, str, int, int], torch.Tensor | None] = {}

    def _mask(self, gi: int, k: str, h: int, w: int) -> torch.Tensor | None:
        key = (gi, k, h, w)
        if key not in self._masks:
            m = self.groups[gi].mask
            self._masks[key] = None if m is None else layer_mask(m, h, w)
        return self._masks[key]

    # -- whole image, optionally checkpointed -------------------------------------------------
    def _style_term(self, k: str, f: torch.Tensor) -> torch.Tensor:
        n = f.shape[1]
        total = f.new_zeros((), dtype=torch.float32)
        for gi, g in enumerate(self.groups):
            m = self._mask(gi, k, f.shape[-2], f.shape[-1])
            if m is None:
                total = total + g.weight * L.style_loss(f, g.grams[k][0])
            else:
                s, cnt = weighted_gram_sum(f, m)
                total = total + g.weight * (s / cnt.clamp_min(1e-6) - g.grams[k][0]).pow(2).sum() / (4.0 * n * n)
        return total

    def _block(self, names: list[str], h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = self.run.targets
        c = h.new_zeros((), dtype=torch.float32)
        s = h.new_zeros((), dtype=torch.float32)
        for name in names:
            h = _apply(self.net, name, h, self.wanted)
            for k, w in self.content:
                if k == name:
                    c = c + w * L.content_loss(h, t.content[k], L.layer_stride(k))
            for k, w in self.style:
                if k == name:
                    s = s + w * self._style_term(k, h)
        return h, c, s

    def _whole(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x
        c = x.new_zeros((), dtype=torch.float32)
        s = x.new_zeros((), dtype=torch.float32)
        with precision_context(self.device, self.run.options.precision):
            for names in self.blocks:
                if self.mode == "checkpoint" and torch.is_grad_enabled():
                    h, dc, ds = checkpoint(self._block, names, h, use_reentrant=False)
                else:
                    h, dc, ds = self._block(names, h)
                c, s = c + dc, s + ds
        return c, s

    # -- tiles ----------------------------------------------------------------------------------
    def _offsets(self) -> tuple[int, int]:
        steps = self.tile // self.align
        oy, ox = torch.randint(0, steps, (2,), generator=self.gen).tolist()
        return oy * self.align, ox * self.align

    def _tiled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        H, W = x.shape[-2:]
        boxes = tile_boxes(H, W, self.tile, self.halo, *self._offsets())
        full_hw = {k: (H // L.layer_stride(k), W // L.layer_stride(k)) for k in self.layers}
        sums: dict[tuple[int, str], torch.Tensor] = {}
        counts: dict[tuple[int, str], torch.Tensor] = {}
        c_val = torch.zeros((), device=x.device)
        prec = self.run.options.precision
        # Pass 1: the whole image's Grams (and the content value), gathered tile by tile.
        with torch.no_grad(), precision_context(self.device, prec):
            for b in boxes:
                feats = self.net(x[..., b.hy0:b.hy1, b.hx0:b.hx1], self.layers)
                c_val = c_val + self._content_tile(feats, b, full_hw)
                for k, _ in self.style:
                    f, ys, xs = _core(feats[k], b, L.layer_stride(k), full_hw[k])
                    for gi in range(len(self.groups)):
                        m = self._mask(gi, k, *full_hw[k])
                        s, n = weighted_gram_sum(f, None if m is None else m[..., ys, xs])
                        key = (gi, k)
                        sums[key] = sums[key] + s if key in sums else s
                        counts[key] = counts[key] + n if key in counts else n
                del feats
        s_val = torch.zeros((), device=x.device)
        coef: dict[tuple[int, str], torch.Tensor] = {}
        for k, w in self.style:
            n_ch = sums[(0, k)].shape[0]
            for gi, g in enumerate(self.groups):
                cnt = counts[(gi, k)].clamp_min(1e-6)
                err = sums[(gi, k)] / cnt - g.grams[k][0]
                s_val = s_val + w * g.weight * err.pow(2).sum() / (4.0 * n_ch * n_ch)
                coef[(gi, k)] = w * g.weight * 2.0 * err / (4.0 * n_ch * n_ch) / cnt  # d s / d sum
        if not torch.is_grad_enabled() or not x.requires_grad:
            return c_val, s_val
        # Pass 2: each tile's backward with the Gram errors held fixed.
        o = self.run.options
        cw, sw = o.content_weight, o.style_weight
        grad = torch.zeros_like(x)
        for b in boxes:
            xt = x[..., b.hy0:b.hy1, b.hx0:b.hx1].detach().requires_grad_(True)
            with precision_context(self.device, prec):
                feats = self.net(xt, self.layers)
            sur = cw * self._content_tile(feats, b, full_hw)
            for k, _ in self.style:
                f, ys, xs = _core(feats[k], b, L.layer_stride(k), full_hw[k])
                for gi in range(len(self.groups)):
                    m = self._mask(gi, k, *full_hw[k])
                    s, _ = weighted_gram_sum(f, None if m is None else m[..., ys, xs])
                    sur = sur + sw * (coef[(gi, k)] * s).sum()
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

    def _content_tile(self, feats: dict[str, torch.Tensor], b: _Box, full_hw: dict) -> torch.Tensor:
        t = self.run.targets
        total = next(iter(feats.values())).new_zeros((), dtype=torch.float32)
        for k, w in self.content:
            stride = L.layer_stride(k)
            f, ys, xs = _core(feats[k], b, stride, full_hw[k])
            p = t.content[k][..., ys, xs]
            positions = full_hw[k][0] * full_hw[k][1]
            ref = (L.REFERENCE_SIDE // stride) ** 2
            total = total + w * 0.5 * (f.float() - p).pow(2).sum() / positions * ref
        return total

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unweighted content and style terms (as the core's), differentiable in ``x``."""
        if self.mode == "tiled":
            return self._tiled(x)
        return self._whole(x)


def style_statistics(network: Network, x: torch.Tensor, layers: Sequence[str], options: Options) -> dict[str, torch.Tensor]:
    """The (1, C, C) Grams of a net-space image, gathered over tiles when it is large, so that a
    print-size style image never needs all of VGG's activations at once."""
    h, w = x.shape[-2:]
    mode = resolve_memory(options, h * w)
    if mode == "full" or h * w <= options.tile * options.tile:
        feats = network.net(x, layers)
        return {k: L.gram(feats[k]) for k in layers}
    align = _alignment(layers)
    tile = max(align, options.tile // align * align)
    halo = max(align, min(96, tile // 4) // align * align)
    sums: dict[str, torch.Tensor] = {}
    full_hw = {k: (h // L.layer_stride(k), w // L.layer_stride(k)) for k in layers}
    for b in tile_boxes(h, w, tile, halo):
        feats = network.net(x[..., b.hy0:b.hy1, b.hx0:b.hx1], layers)
        for k in layers:
            f, _, _ = _core(feats[k], b, L.layer_stride(k), full_hw[k])
            s, _ = weighted_gram_sum(f, None)
            sums[k] = sums[k] + s if k in sums else s
        del feats
    return {k: (sums[k] / float(full_hw[k][0] * full_hw[k][1]))[None] for k in layers}


def make_objective(run: "Run", grams_each: Sequence[dict[str, torch.Tensor]], pixels: int) -> Objective | None:
    """The Objective a Run needs, or None when the core's own plain loss does the job."""
    o = run.options
    mode = resolve_memory(o, pixels)
    masks = None
    if o.masks is not None:
        w, h = run.content_size
        masks = load_masks(list(o.masks), len(grams_each), (w, h), o.max_pixels)
    if masks is None and mode == "full":
        return None
    return Objective(run, grams_each, masks, mode)


