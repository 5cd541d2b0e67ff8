"""A whole training step replayed from one CUDA graph (``TrainOptions.cuda_graph``).

A training step for a few styles is thousands of small kernels: each transformation network's
narrow layers forward and backward, VGG, the Grams, the loss terms, Adam. On a fast GPU the
host cannot issue them as fast as the device runs them, so the device waits. Recorded once as
a graph, the step is one launch.

The step can be recorded because it never asks the device for a number and writes only
tensors that persist between steps: the photos come in through one buffer copied in place
(cropping stays outside the graph, so its random numbers are drawn as usual), the gradients
are written where the recording put them, the optimisers are capturable (their step counts
and learning rate live on the device) and the running loss sums are added in place.

The first ``WARMUP`` calls run plainly on a side stream (the optimisers create their state,
cuDNN picks its algorithms), the next records and replays. If recording fails, the step runs
plainly from then on and ``failure`` says why: a training run should not die for a speed-up.
Not yet run on a GPU, hence off by default.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

WARMUP = 3


class GraphedStep:
    """Calling it with a batch makes one training step of ``step`` (see the module docstring)."""

    def __init__(self, step: Callable[[torch.Tensor], None], example: torch.Tensor) -> None:
        self.step = step
        self.static = torch.empty_like(example)  # keeps the example's layout (channels-last or not)
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failure: str | None = None
        self.stream = torch.cuda.Stream(example.device)

    def _on_side_stream(self, batch: torch.Tensor) -> None:
        ambient = torch.cuda.current_stream(self.stream.device)
        self.stream.wait_stream(ambient)
        with torch.cuda.stream(self.stream):
            self.step(batch)
        ambient.wait_stream(self.stream)

    def _record(self) -> None:
        graph = torch.cuda.CUDAGraph()
        cache = torch.is_autocast_cache_enabled()
        torch.set_autocast_cache_enabled(False)  # a cast cached outside the graph must not be read inside
        try:
            with torch.cuda.graph(graph):
                self.step(self.static)
        finally:
            torch.set_autocast_cache_enabled(cache)
        self.graph = graph

    def __call__(self, batch: torch.Tensor) -> None:
        self.calls += 1
        if self.failure is not None:
            self.step(batch)
            return
        if self.graph is None and self.calls <= WARMUP:
            self._on_side_stream(batch)
            return
        self.static.copy_(batch)
        if self.graph is None:
            try:
                self._record()
            except Exception as e:  # recording is a speed-up only: carry on without it
                self.failure = f"{type(e).__name__}: {e}"[:500]
                torch.cuda.synchronize()
                self.step(batch)
                return
        self.graph.replay()
