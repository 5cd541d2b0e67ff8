"""A final denoise: total-variation (ROF) denoising by Chambolle's projection algorithm.

This is the MXNet neural-style example's remove-noise step, which called scikit-image's
``denoise_tv_chambolle``; ``weight`` has the same meaning (bigger = smoother, on a 0-1 image).
"""

from __future__ import annotations

import torch


def tv_denoise(rgb: torch.Tensor, weight: float, iterations: int = 100, tau: float = 0.125) -> torch.Tensor:
    """Denoise each channel of a (1, 3, H, W) image in [0, 1]; returns a new tensor."""
    if weight <= 0:
        return rgb
    img = rgb.detach().float()
    p = torch.zeros(2, *img.shape, device=img.device)  # dual variable (x and y components)
    out = img
    for _ in range(iterations):
        # divergence of p
        px, py = p[0], p[1]
        div = px.clone()
        div[..., :, 1:] -= px[..., :, :-1]
        div_y = py.clone()
        div_y[..., 1:, :] -= py[..., :-1, :]
        out = img - weight * (div + div_y)  # the projection's minimiser: f - w div(p)
        # gradient of the current estimate
        gx = torch.zeros_like(out)
        gy = torch.zeros_like(out)
        gx[..., :, :-1] = out[..., :, 1:] - out[..., :, :-1]
        gy[..., :-1, :] = out[..., 1:, :] - out[..., :-1, :]
        norm = 1.0 + (tau / weight) * torch.sqrt(gx * gx + gy * gy)
        p = torch.stack([(px - (tau / weight) * gx) / norm, (py - (tau / weight) * gy) / norm])
    return out.clamp(0, 1)
