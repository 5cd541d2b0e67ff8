"""Colour control (Gatys et al. 2016, *Preserving Color in Neural Artistic Style Transfer*).

A style image carries its colours into the result along with its strokes. Users often want the
strokes and not the colours, or only the colours. Four modes, chosen with ``--color``:

``style``      the paper's behaviour: colours come with the style.
``luminance``  transfer on luminance only (YIQ's Y). The style's luminance is matched to the
               content's mean and spread first, so the style's overall brightness does not leak
               in; the result's Y is then joined to the content's I and Q (its chroma).
``histogram``  recolour each style image to the content's colour statistics (mean and
               covariance in RGB) before the transfer, so the strokes arrive in the photo's palette.
``only``       no strokes: the content photo recoloured to the style's palette (the same
               mean/covariance transfer in the other direction), without any optimisation.

Everything here works on (1, 3, H, W) float tensors in [0, 1] or on PIL images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image

from .io import to_pil, to_tensor

COLOR_MODES = ("style", "luminance", "histogram", "only")

# RGB -> YIQ (NTSC 1953). Y is the luminance; I and Q carry the chroma.
_RGB_TO_YIQ = torch.tensor([
    [0.299, 0.587, 0.114],
    [0.596, -0.274, -0.322],
    [0.211, -0.523, 0.312],
], dtype=torch.float64)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)

Finisher = Callable[[torch.Tensor], torch.Tensor]


def _mix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", m.to(x.dtype).to(x.device), x)


def rgb_to_yiq(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> YIQ with the same layout."""
    return _mix(_RGB_TO_YIQ, rgb)


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ -> RGB (not clamped)."""
    return _mix(_YIQ_TO_RGB, yiq)


def chroma(rgb: torch.Tensor) -> torch.Tensor:
    """The I and Q channels: what luminance-only transfer promises to leave alone."""
    return rgb_to_yiq(rgb)[:, 1:]


def gray(y: torch.Tensor) -> torch.Tensor:
    """A (B, 1, H, W) luminance as an RGB image with R = G = B = Y (what VGG sees of it)."""
    return y.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def match_luminance(y: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Shift and scale ``y`` to the mean and standard deviation of ``reference`` (both (B,1,H,W))."""
    s = y.std().clamp_min(1e-6)
    return (y - y.mean()) / s * reference.std() + reference.mean()


def _stats(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p = rgb.double().reshape(3, -1)
    mu = p.mean(1, keepdim=True)
    d = p - mu
    return mu, d @ d.T / max(1, p.shape[1] - 1)


def _sqrtm(c: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Symmetric (inverse) square root; a small floor keeps flat images (one colour) finite."""
    vals, vecs = torch.linalg.eigh(c)
    vals = vals.clamp_min(1e-5)
    root = vals.rsqrt() if inverse else vals.sqrt()
    return vecs @ torch.diag(root) @ vecs.T


def transfer_stats(src: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """Affinely recolour ``src`` so its RGB mean is ``mu`` and its covariance ``cov``."""
    s_mu, s_cov = _stats(src)
    a = _sqrtm(cov) @ _sqrtm(s_cov, inverse=True)
    p = src.double().reshape(3, -1)
    out = a @ (p - s_mu) + mu
    return out.reshape(src.shape).to(src.dtype).clamp(0, 1)


def match_colors(src: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``src`` recoloured to the colour mean and covariance of ``reference`` (sizes may differ)."""
    mu, cov = _stats(reference)
    return transfer_stats(src, mu, cov)


def pooled_stats(images: Sequence[torch.Tensor], weights: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of several images' pixels mixed in proportion ``weights``."""
    total = float(sum(weights))
    mu = torch.zeros(3, 1, dtype=torch.float64)
    second = torch.zeros(3, 3, dtype=torch.float64)
    for img, w in zip(images, weights):
        m, c = _stats(img)
        mu += (w / total) * m
        second += (w / total) * (c + m @ m.T)
    return mu, second - mu @ mu.T


def recombine(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance with the content's chroma (the content is resized if needed)."""
    if content.shape[-2:] != result.shape[-2:]:
        content = torch.nn.functional.interpolate(content, size=result.shape[-2:], mode="bilinear",
                                                  align_corners=False)
    y = rgb_to_yiq(result)[:, :1]
    iq = chroma(content.to(result.device, result.dtype))
    return yiq_to_rgb(torch.cat([y, iq], 1)).clamp(0, 1)


def _identity(rgb: torch.Tensor) -> torch.Tensor:
    return rgb


def _luminance_image(img: Image.Image) -> torch.Tensor:
    return rgb_to_yiq(to_tensor(img))[:, :1]


def optimiser_images(
    mode: str,
    content: Image.Image,
    styles: Sequence[Image.Image],
    init: Image.Image | None,
    blend: Sequence[float],
) -> tuple[Image.Image, list[Image.Image], Image.Image | None, Finisher]:
    """The images the optimiser should see for ``mode`` and the step that turns its output into
    the final picture (identity except for ``luminance``, which puts the content's chroma back)."""
    if mode == "style":
        return content, list(styles), init, _identity
    content_t = to_tensor(content)
    if mode == "histogram":
        return content, [to_pil(match_colors(to_tensor(s), content_t)) for s in styles], init, _identity
    if mode == "only":
        mu, cov = pooled_stats([to_tensor(s) for s in styles], blend)
        return to_pil(transfer_stats(content_t, mu, cov)), list(styles), init, _identity
    if mode == "luminance":
        cy = _luminance_image(content)
        styles_y = [to_pil(gray(match_luminance(_luminance_image(s), cy))) for s in styles]
        init_y = to_pil(gray(_luminance_image(init))) if init is not None else None

        def finish(rgb: torch.Tensor) -> torch.Tensor:
            return recombine(rgb, content_t)

        return to_pil(gray(cy)), styles_y, init_y, finish
    raise ValueError(f"unknown colour mode {mode!r}")  # check_options refuses it earlier
