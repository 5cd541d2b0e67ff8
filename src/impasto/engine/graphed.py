"""One optimisation step replayed from CUDA graphs (``--cuda-graph on``).

A step at screen sizes is a few hundred small kernels (VGG forward and backward, five Grams,
the loss terms, an L-BFGS two-loop over up to 50 pairs); on a fast GPU launching them from
Python can cost as much as running them. A CUDA graph records the launches once and replays
them with one call. impasto's step was built for this: it never asks the device for a number
(``optim.py``), and every tensor it writes persists between steps and is written in place (the
image, its gradient, the best image and loss, the L-BFGS ring buffers).

Two kinds of graph per size:

* the closure (zero the gradient, forward, loss terms, backward, keep the best image): one;
* the L-BFGS update (``LBFGS.apply``): one per ring row, recorded the first time that row is
  written. The two-loop reads the pairs newest first, and a recorded graph fixes which rows it
  reads, so each ring position needs its own order. Each sweeps every row; rows not yet
  written are zeros, which the two-loop passes over unchanged.

The first ``WARMUP`` steps are not recorded: the first one has no curvature pair yet, and the
steps run on the capture stream so that cuDNN picks its algorithms and cuBLAS makes its
workspace before anything is recorded. The autocast weight cache is off while recording (a
cast cached outside a graph must not be read inside one).

What cannot be captured runs as usual, and ``blocker`` says why: Adam and SGD step through
torch's optimisers; the ``w2`` loss's eigendecomposition checks its result on the host and
``sliced`` sorts on the CPU; the checkpointed objective recomputes blocks inside the backward
pass and the tiled one moves its tile grid every step (its shapes change).

On CUDA it is on by default (``--cuda-graph auto``) where it applies. On devices added to
``GRAPH_DEVICES`` that are not CUDA (the tests add the CPU), the same schedule runs with each recorded piece executed directly
instead of replayed, so the logic of the graphed loop is tested where there is no GPU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..optim import LBFGS
from ..options import Resolved

GRAPH_DEVICES = {"cuda"}
WARMUP = 3  # uncaptured steps before recording: the first step, then two with curvature pairs


def blocker(o: Resolved, device: torch.device, memory_mode: str) -> str | None:
    """Why a run with these options cannot replay its steps from graphs (None: it can)."""
    if device.type not in GRAPH_DEVICES:
        return f"the device is {device.type}, not CUDA"
    if o.optimizer != "lbfgs":
        return f"--optimizer {o.optimizer} steps through torch's optimiser; only lbfgs is captured"
    if o.style_loss != "gram":
        return f"--style-loss {o.style_loss} reads numbers on the host inside the step"
    if memory_mode != "full":
        return f"the {memory_mode} objective changes its work from step to step; only whole-image memory is captured"
    return None


class GraphedSteps:
    """Calling it makes one optimiser step of ``opt`` with ``closure``, replayed from graphs
    after the warm-up (see the module docstring). ``closure`` is the Run's: it zeroes the
    gradient, evaluates and back-propagates the loss, and keeps whatever it must in tensors
    that outlive it (written in place)."""

    def __init__(self, closure: Callable[[], torch.Tensor], opt: LBFGS, device: torch.device) -> None:
        self.closure, self.opt = closure, opt
        self.cuda = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda else None
        self.forward: Callable[[], object] | None = None
        self.updates: dict[int, Callable[[], object]] = {}
        self.pool = None  # every graph of this run draws on one memory pool (they never run at once)

    def __call__(self) -> None:
        opt = self.opt
        if opt.steps < WARMUP:
            self._eager()
            return
        if self.forward is None:
            opt.zero_grad()  # the recorded backward then makes the gradient inside the graph's memory
            if self.cuda:
                torch.cuda.empty_cache()  # the warm-up's blocks back to the device: the graph's pool is separate
            self.forward = self._record(self._closure)
        self.forward()
        row = opt.advance()
        if row not in self.updates:
            self.updates[row] = self._record(lambda: opt.apply(row, opt.history))
        self.updates[row]()

    def _closure(self) -> None:
        with torch.enable_grad():
            self.closure()

    def _eager(self) -> None:
        if not self.cuda:
            self.opt.step(self.closure)
            return
        ambient = torch.cuda.current_stream(self.stream.device)
        self.stream.wait_stream(ambient)
        with torch.cuda.stream(self.stream):
            self.opt.step(self.closure)
        ambient.wait_stream(self.stream)

    def _record(self, fn: Callable[[], None]) -> Callable[[], object]:
        """``fn`` recorded once, as something to call for each replay (``fn`` itself off CUDA)."""
        if not self.cuda:
            return fn
        # capture_begin/end rather than ``torch.cuda.graph``, which synchronises and collects
        # garbage before every capture: this run records up to 51 graphs, some mid-run.
        graph = torch.cuda.CUDAGraph()
        cache = torch.is_autocast_cache_enabled()
        torch.set_autocast_cache_enabled(False)
        try:
            with torch.cuda.stream(self.stream):
                graph.capture_begin(pool=self.pool)
                try:
                    fn()
                finally:
                    graph.capture_end()
        finally:
            torch.set_autocast_cache_enabled(cache)
        if self.pool is None:
            self.pool = graph.pool()
        return graph.replay
