"""The content and total-variation terms of Gatys et al., and the weighted sum of all terms.

Written so one set of weights means the same at any size. Content (eq. 1): half the squared
error between feature maps. The paper sums over positions, which makes the loss grow with the
image; we average over positions and multiply by the number of positions a 512x512 image has at
that layer, so at 512 px the value *is* the paper's and at other sizes it stays comparable.

Total variation: mean over pixels of (dx^2 + dy^2)^(beta/2) in 0-255 pixel units, summed over
channels; beta = 2 gives the usual squared-difference smoother, beta = 1.25 the Keras example's.

The style terms are in ``style.py``. Every loss value is computed in fp32 whatever precision the
network used (bf16 features are widened first).
"""

from __future__ import annotations

import contextlib

import torch

from ..options import Resolved

REFERENCE_SIDE = 512  # the image side at which our content loss equals the paper's
PART_NAMES = ("content", "style", "tv", "total")


def fp32_matmul(device: torch.device) -> contextlib.AbstractContextManager:
    """Matrix products in fp32 even inside a bf16 autocast region (autocast would round Grams).

    impasto autocasts only on CPU and CUDA (devices.precision_context)."""
    if device.type in ("cpu", "cuda"):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def positions(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C), a view when ``f`` is channels-last (NHWC)."""
    b, c, h, w = f.shape
    if f.is_contiguous(memory_format=torch.channels_last):
        return f.permute(0, 2, 3, 1).reshape(b, h * w, c)
    return f.reshape(b, c, h * w).transpose(1, 2)


def content_loss(f: torch.Tensor, target: torch.Tensor, stride: int, count: int | None = None) -> torch.Tensor:
    """Paper's 1/2 sum (F - P)^2 per image, rescaled to a 512x512 image.

    ``stride``: the layer's downsampling. ``count``: positions per image of the whole feature
    map when ``f`` is only a tile of it (the tiles' values then add up to the whole's)."""
    b, _, h, w = f.shape
    count = count if count is not None else h * w
    ref = (REFERENCE_SIDE // stride) ** 2
    return 0.5 * (f.float() - target).pow(2).sum() / (b * count) * ref


def tv_loss(x: torch.Tensor, pixel_units: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Total variation of a net-space image, measured in 0-255 pixel levels."""
    x = x.float() * pixel_units
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    sq = dx.pow(2) + dy.pow(2)
    if beta == 2.0:
        return sq.sum(1).mean()
    return (sq + 1e-8).pow(beta / 2).sum(1).mean()


def weighted(o: Resolved, content: torch.Tensor, style: torch.Tensor, tv: torch.Tensor) -> torch.Tensor:
    """alpha * content + beta * style + TV weight * tv: the four values of ``PART_NAMES``, fp32.

    The one place the terms are weighted and summed: the optimisation engine and the training of
    feed-forward styles both call it, so their losses compare number for number."""
    parts = torch.stack([o.content_weight * content, o.style_weight * style, o.tv_weight * tv])
    return torch.cat([parts, parts.sum()[None]])
