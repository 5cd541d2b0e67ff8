"""Style losses: how far the feature statistics of the image are from the painting's.

Each loss is one class with four jobs, and every objective (whole image, checkpointed, tiled,
masked) and the feed-forward training use only these:

``describe(f)``        a style image's features, summarised so that summaries of its tiles merge
``target(parts)``      the summaries of one or more style images (blended in proportion) -> target
``stat(f, m)``         the optimised image's statistic, from features (and a mask's weight per
                       position); statistics of tiles merge with ``merge``
``compare(stat, t)``   the loss, differentiable in the statistic

``value(f, t, m)`` is ``compare(stat(f, m), t)``; a loss may compute it faster (Gram does).
Blending several paintings means matching their *mixture*: the Grams averaged, the means and
second moments averaged, the samples pooled.

Three losses:

``gram``    Gatys et al. (eq. 4-5): E_l = 1/(4 N^2 M^2) sum (G - A)^2 with G = F F^T. Dividing G
            by M first gives the same number and keeps the Gram entries where fp32 is exact
            enough, so the per-layer loss divides by 4 N^2.
``w2``      the Wasserstein-2 distance between Gaussians fitted to the features (means and
            covariances), the loss crowsonkb's style-transfer-pytorch uses; unlike the Gram it
            cannot trade a wrong mean for a wrong spread.
``sliced``  the sliced Wasserstein distance of Heitz et al. (CVPR 2021): the features are
            projected on random directions (new ones at every evaluation) and each projection's
            sorted values are matched to the painting's, i.e. the whole distribution, not two
            moments of it.

``w2`` and ``sliced`` are divided by the channel count and multiplied by a constant measured
so that, at the photo (the default start), their gradient is as strong as the Gram loss's
(``SCALE``: the geometric mean over two photos and four paintings at 256 px with the default
options, within a factor of 1.7 either way; ``docs/losses/calibrate.py``), one per network
(``SCALES``; the raw network's serves torchvision's and files): one ``--style-weight`` means about
the same with each loss. The ratio depends on the layer weights: with equal ones (the presets)
the same constants make w2 and sliced several times stronger than Gram.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .terms import fp32_matmul, positions

Stat = tuple[torch.Tensor, ...]
SAMPLE_CAP = 1 << 16  # style-image positions kept per layer by the sliced loss


def gram(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) features -> (B, C, C) Gram matrices divided by the number of positions."""
    with fp32_matmul(f.device):
        x = positions(f).float()
        return torch.bmm(x.transpose(1, 2), x) / x.shape[1]


def _weighted_positions(f: torch.Tensor, m: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, HW, C) fp32 features and (1, HW, 1) weights per position (ones without a mask)."""
    x = positions(f).float()
    if m is None:
        return x, x.new_ones(1, x.shape[1], 1)
    return x, m.to(x.device, x.dtype).reshape(1, -1, 1)


class GramLoss:
    name = "gram"

    def begin(self, generator: torch.Generator) -> None:
        """Nothing random in the Gram loss."""

    def describe(self, f: torch.Tensor) -> Stat:
        return self.stat(f, None)

    def target(self, parts: Sequence[tuple[Stat, float]]) -> torch.Tensor:
        total = float(sum(w for _, w in parts))
        out = None
        for (s, n), w in parts:
            g = s / n * (w / total)
            out = g if out is None else out + g
        return out

    def stat(self, f: torch.Tensor, m: torch.Tensor | None) -> Stat:
        """(sum of m(p) f(p) f(p)^T, sum of m): a Gram before its division."""
        with fp32_matmul(f.device):
            x, w = _weighted_positions(f, m)
            if m is None:
                return torch.bmm(x.transpose(1, 2), x), x.new_tensor(float(x.shape[1]))
            return torch.bmm((x * w).transpose(1, 2), x), w.sum()

    def merge(self, stats: Sequence[Stat]) -> Stat:
        return tuple(sum(parts[1:], parts[0]) for parts in zip(*stats))

    def compare(self, stat: Stat, target: torch.Tensor) -> torch.Tensor:
        s, n = stat
        c = s.shape[-1]
        return (s / n.clamp_min(1e-6) - target).pow(2).sum() / (4.0 * c * c) / s.shape[0]

    def value(self, f: torch.Tensor, target: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
        if m is not None:
            return self.compare(self.stat(f, m), target)
        if torch.is_grad_enabled() and f.requires_grad:
            return _GramLoss.apply(f, target.float())
        c = f.shape[1]
        return (gram(f) - target).pow(2).sum() / (4.0 * c * c) / f.shape[0]


class _GramLoss(torch.autograd.Function):
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
        return err.pow(2).sum() / (4.0 * n * n) / f.shape[0]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        f, err = ctx.saved_tensors
        b, c, h, w = f.shape
        x = positions(f)  # (B, HW, C)
        with fp32_matmul(f.device):
            d = torch.bmm(x, (err * (grad / (c * c * h * w * b))).to(f.dtype))
        if f.is_contiguous(memory_format=torch.channels_last):
            return d.reshape(b, h, w, c).permute(0, 3, 1, 2), None
        return d.transpose(1, 2).reshape(b, c, h, w), None


class _TraceSqrt(torch.autograd.Function):
    """tr(M^(1/2)) of symmetric positive semi-definite matrices, with the gradient M^(-1/2) / 2.

    Autograd through ``eigh`` divides by differences of eigenvalues, which are zero for the
    rank-deficient covariances of small feature maps; the closed form has no such division."""

    @staticmethod
    def forward(ctx, m: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        vals, vecs = torch.linalg.eigh(m.double())
        vals = vals.clamp_min(0)
        floor = vals.amax(-1, keepdim=True).clamp_min(1e-30) * 1e-10
        ctx.save_for_backward(vecs, vals.clamp_min(floor).rsqrt())
        return vals.sqrt().sum(-1).to(m.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        vecs, inv_root = ctx.saved_tensors
        g = (vecs * (0.5 * inv_root).unsqueeze(-2)) @ vecs.transpose(-1, -2)
        return (g * grad.double()[..., None, None]).to(grad.dtype)


def _sqrtm(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m.double())
    return ((vecs * vals.clamp_min(0).sqrt().unsqueeze(-2)) @ vecs.transpose(-1, -2)).float()


class W2Loss:
    """W2^2 between N(mu, S) and N(mu_t, S_t): |mu - mu_t|^2 + tr S + tr S_t - 2 tr (S_t^1/2 S S_t^1/2)^1/2."""

    name = "w2"
    SCALES = {"caffe-normalized": 0.84, "caffe": 8.6e4}  # per network; "caffe" also for the others
    SCALE = SCALES["caffe-normalized"]
    RIDGE = 1e-2  # added to both covariances, times the painting's mean variance (see compare)

    def begin(self, generator: torch.Generator) -> None:
        """Nothing random in the W2 loss."""

    def describe(self, f: torch.Tensor) -> Stat:
        return self.stat(f, None)

    def target(self, parts: Sequence[tuple[Stat, float]]) -> tuple[torch.Tensor, ...]:
        total = float(sum(w for _, w in parts))
        mean = sum(s1[0] / n * (w / total) for (s1, _, n), w in parts)
        second = sum(s2[0] / n * (w / total) for (_, s2, n), w in parts)
        cov = second - torch.outer(mean, mean)
        ridge = self.RIDGE * cov.diagonal().mean().clamp_min(1e-12)
        cov = cov + ridge * torch.eye(cov.shape[-1], device=cov.device)
        return mean, cov, _sqrtm(cov), ridge

    def stat(self, f: torch.Tensor, m: torch.Tensor | None) -> Stat:
        """(sum of m f, sum of m f f^T, sum of m) per image."""
        with fp32_matmul(f.device):
            x, w = _weighted_positions(f, m)
            xw = x * w
            return xw.sum(1), torch.bmm(xw.transpose(1, 2), x), w.sum()

    def merge(self, stats: Sequence[Stat]) -> Stat:
        return tuple(sum(parts[1:], parts[0]) for parts in zip(*stats))

    def compare(self, stat: Stat, target: tuple[torch.Tensor, ...]) -> torch.Tensor:
        s1, s2, n = stat
        mean_t, cov_t, root_t, ridge = target
        n = n.clamp_min(1e-6)
        mean = s1 / n
        # The ridge keeps the distance smooth where a covariance is singular (a small feature map
        # has fewer positions than channels), where W2's gradient would be unbounded.
        cov = s2 / n - mean.unsqueeze(-1) * mean.unsqueeze(-2) + ridge * torch.eye(s2.shape[-1], device=s2.device)
        with fp32_matmul(cov.device):
            inner = root_t @ cov @ root_t
        inner = (inner + inner.transpose(-1, -2)) / 2
        w2 = ((mean - mean_t).pow(2).sum(-1) + cov.diagonal(dim1=-2, dim2=-1).sum(-1)
              + cov_t.trace() - 2 * _TraceSqrt.apply(inner))
        return w2.mean() / s1.shape[-1] * self.SCALE

    def value(self, f: torch.Tensor, target: Any, m: torch.Tensor | None = None) -> torch.Tensor:
        return self.compare(self.stat(f, m), target)


class SlicedLoss:
    """Mean over random directions of the 1D W2^2 between the projected features' distributions."""

    name = "sliced"
    SCALES = {"caffe-normalized": 108.0, "caffe": 4.1e7}
    SCALE = SCALES["caffe-normalized"]

    def __init__(self) -> None:
        self.directions: dict[int, torch.Tensor] = {}  # per channel count, for this evaluation
        self.generator: torch.Generator | None = None

    def begin(self, generator: torch.Generator) -> None:
        """New random directions for this evaluation (shared by its tiles and recomputations)."""
        self.directions, self.generator = {}, generator

    def _dirs(self, c: int, device: torch.device) -> torch.Tensor:
        if c not in self.directions:
            d = torch.randn(c, c, generator=self.generator)
            self.directions[c] = (d / d.norm(dim=0, keepdim=True)).to(device)
        return self.directions[c]

    def describe(self, f: torch.Tensor) -> Stat:
        """The painting's feature vectors themselves, (1, HW, C)."""
        return (positions(f).float(),)

    def target(self, parts: Sequence[tuple[Stat, float]]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pooled samples (a fixed random subset past SAMPLE_CAP per painting), each weighted so
        every painting carries its share of the blend (weights None: one painting, all equal)."""
        total = float(sum(w for _, w in parts))
        xs = []
        for (x,), _ in parts:
            x = x[0]
            if x.shape[0] > SAMPLE_CAP:
                keep = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:SAMPLE_CAP]
                x = x[keep.to(x.device)]
            xs.append(x)
        if len(xs) == 1:
            return xs[0], None
        ws = [torch.full((x.shape[0],), w / total / x.shape[0], device=x.device) for x, ((_,), w) in zip(xs, parts)]
        return torch.cat(xs), torch.cat(ws)

    def stat(self, f: torch.Tensor, m: torch.Tensor | None) -> Stat:
        """The features projected on this evaluation's directions, (B, HW, D), and with a mask
        its weight at each position."""
        x, w = _weighted_positions(f, m)
        with fp32_matmul(f.device):
            p = x @ self._dirs(x.shape[-1], x.device)
        return (p,) if m is None else (p, w[..., 0].expand(x.shape[0], -1))

    def merge(self, stats: Sequence[Stat]) -> Stat:
        return tuple(torch.cat(parts, dim=1) for parts in zip(*stats))

    def compare(self, stat: Stat, target: tuple[torch.Tensor, torch.Tensor | None]) -> torch.Tensor:
        """Sorted projections against the painting's at the same quantiles (its sorted values,
        linearly interpolated when the two sample counts differ)."""
        p, w = stat[0], (stat[1] if len(stat) > 1 else None)
        samples, weights = target
        with fp32_matmul(p.device):
            t = (samples @ self._dirs(samples.shape[-1], samples.device)).T  # (D, K)
        k, n = t.shape[-1], p.shape[1]
        if weights is None:
            t_sorted = _sort(t, order=False)[0]
            t_mid = (torch.arange(k, device=t.device) + 0.5) / k
        else:
            t_sorted, order = _sort(t)
            t_mid = weights[order].cumsum(-1) - weights[order] / 2  # each target sample's quantile
        if w is None:
            ps = _sort(p.transpose(1, 2))[0]  # (B, D, N), every position weighing 1/N
            if weights is None:  # both sides equally weighted: a fixed resampling of the sorted values
                q = t_sorted if k == n else _resample(t_sorted, n)
            else:
                u = ((torch.arange(n, device=p.device) + 0.5) / n).expand(*ps.shape)
                q = _interp(u, t_mid, t_sorted)
            per_dir = (ps - q.detach()).pow(2).mean(-1)
        else:
            ps, idx = _sort(p.transpose(1, 2))
            wn = w / w.sum(-1, keepdim=True).clamp_min(1e-12)
            ws = wn.unsqueeze(1).expand_as(ps).gather(-1, idx)
            q = _interp(ws.cumsum(-1) - ws / 2, t_mid.expand(t_sorted.shape), t_sorted)
            per_dir = (ws * (ps - q.detach()).pow(2)).sum(-1)
        return per_dir.mean() / p.shape[-1] * self.SCALE

    def value(self, f: torch.Tensor, target: Any, m: torch.Tensor | None = None) -> torch.Tensor:
        return self.compare(self.stat(f, m), target)


def _sort(x: torch.Tensor, order: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sorted along the last axis, differentiably, and the order (``order=False``: values only,
    no gradient). On the CPU through NumPy, 3-15x faster than torch.sort there, which dominated
    the sliced loss's step time."""
    if x.device.type != "cpu":
        return torch.sort(x, dim=-1) if order else (torch.sort(x.detach(), dim=-1).values, None)
    a = x.detach().contiguous().numpy()
    if not order:
        return torch.from_numpy(np.sort(a, axis=-1)), None
    idx = torch.from_numpy(np.argsort(a, axis=-1))
    return torch.take_along_dim(x, idx, dim=-1), idx


def _resample(v: torch.Tensor, n: int) -> torch.Tensor:
    """Sorted samples (D, K) read at the quantiles (i + 1/2) / n, i < n: linear between the
    samples' own quantiles (j + 1/2) / K, constant beyond the first and last."""
    k = v.shape[-1]
    if k == 1:
        return v.expand(-1, n)
    u = ((torch.arange(n, device=v.device) + 0.5) * (k / n) - 0.5).clamp(0, k - 1)
    lo = u.floor().long().clamp(max=k - 2)
    frac = u - lo
    return v[:, lo] * (1 - frac) + v[:, lo + 1] * frac


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation along the last axis (``xp`` increasing), clamped at the ends.
    ``x``: (B, D, N); ``xp``, ``fp``: (D, K)."""
    if xp.shape[-1] == 1:
        return fp.unsqueeze(0).expand(x.shape[0], -1, x.shape[-1])
    xp_b = xp.unsqueeze(0).expand(x.shape[0], -1, -1).contiguous()
    fp_b = fp.unsqueeze(0).expand(x.shape[0], -1, -1)
    hi = torch.searchsorted(xp_b, x.contiguous()).clamp(1, xp.shape[-1] - 1)
    lo = hi - 1
    x0, x1 = xp_b.gather(-1, lo), xp_b.gather(-1, hi)
    f0, f1 = fp_b.gather(-1, lo), fp_b.gather(-1, hi)
    t = ((x - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0, 1)
    return f0 + t * (f1 - f0)


StyleLoss = GramLoss | W2Loss | SlicedLoss
STYLE_LOSSES = {"gram": GramLoss, "w2": W2Loss, "sliced": SlicedLoss}  # --style-loss: add a class here
