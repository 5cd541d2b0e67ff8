"""The losses of Gatys et al., written so one set of weights means the same at any size.

Content (eq. 1): half the squared error between feature maps. The paper sums over positions,
which makes the loss grow with the image; we average over positions and multiply by the number
of positions a 512x512 image has at that layer, so at 512 px the value *is* the paper's and at
other sizes it stays comparable.

Style (eq. 4-5): E_l = 1/(4 N^2 M^2) * sum (G - A)^2 with G = F F^T. Dividing G by M first
gives the same number and keeps the Gram entries in a range where fp32 is exact enough, so
``gram`` returns F F^T / M and the per-layer loss divides by 4 N^2.

Total variation: mean over pixels of (dx^2 + dy^2)^(beta/2) in 0-255 pixel units, summed over
channels; beta = 2 gives the usual squared-difference smoother, beta = 1.25 the Keras example's.

Every loss value is computed in fp32 whatever precision the network used (bf16 features are
widened first); only the style gradient's matrix product runs in the features' own dtype.
"""

from __future__ import annotations

import contextlib

import torch

REFERENCE_SIDE = 512  # the image side at which our content loss equals the paper's


def fp32_matmul(device: torch.device) -> contextlib.AbstractContextManager:
    """Matrix products in fp32 even inside a bf16 autocast region (autocast would round Grams).

    impasto autocasts only on CPU and CUDA (devices.precision_context)."""
    if device.type in ("cpu", "cuda"):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def _positions(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C), a view when ``f`` is channels-last (NHWC)."""
    b, c, h, w = f.shape
    if f.is_contiguous(memory_format=torch.channels_last):
        return f.permute(0, 2, 3, 1).reshape(b, h * w, c)
    return f.reshape(b, c, h * w).transpose(1, 2)


def gram(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) features -> (B, C, C) Gram matrices divided by the number of positions."""
    with fp32_matmul(f.device):
        x = _positions(f).float()
        return torch.bmm(x.transpose(1, 2), x) / x.shape[1]


class _StyleLoss(torch.autograd.Function):
    """E_l with its gradient written out: dE/dF = F (G - A) / (N^2 M), one matrix product.

    Autograd through ``gram`` would spend two products on the backward pass (F appears twice),
    keep an fp32 copy of F alive, and hand back the gradient in NCHW order whatever the
    network's layout. Here the Gram is fp32; the backward product runs in the features' own
    dtype: bf16 features are bf16 numbers and their gradient returns to a bf16 network anyway,
    so a bf16 product (fp32 accumulation) loses nothing the final cast would not.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        err = gram(f) - target
        ctx.save_for_backward(f, err)
        n = f.shape[1]
        return err.pow(2).sum() / (4.0 * n * n)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        f, err = ctx.saved_tensors
        b, c, h, w = f.shape
        x = _positions(f)  # (B, HW, C)
        with fp32_matmul(f.device):
            d = torch.bmm(x, (err * (grad / (c * c * h * w))).to(f.dtype))
        if f.is_contiguous(memory_format=torch.channels_last):
            return d.reshape(b, h, w, c).permute(0, 3, 1, 2), None
        return d.transpose(1, 2).reshape(b, c, h, w), None


def content_loss(f: torch.Tensor, target: torch.Tensor, stride: int) -> torch.Tensor:
    """Paper's 1/2 sum (F - P)^2, rescaled to a 512x512 image (``stride``: the layer's downsampling)."""
    ref_positions = (REFERENCE_SIDE // stride) ** 2
    return 0.5 * (f.float() - target).pow(2).sum(1).mean() * ref_positions


def style_loss(f: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Paper's E_l for one layer against a (possibly blended) target Gram."""
    if torch.is_grad_enabled() and f.requires_grad:
        return _StyleLoss.apply(f, target_gram.float())
    n = f.shape[1]
    return (gram(f) - target_gram).pow(2).sum() / (4.0 * n * n)


def tv_loss(x: torch.Tensor, pixel_units: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Total variation of a net-space image, measured in 0-255 pixel levels."""
    x = x.float() * pixel_units
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    sq = dx.pow(2) + dy.pow(2)
    if beta == 2.0:
        return sq.sum(1).mean()
    return (sq + 1e-8).pow(beta / 2).sum(1).mean()


def layer_stride(name: str) -> int:
    """How much a layer's feature map is downsampled relative to the image (block b -> 2^(b-1))."""
    block = int(name[4]) if not name.startswith("pool") else int(name[4]) + 1
    return 2 ** (block - 1)
