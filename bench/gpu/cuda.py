"""CUDA graphs and the guard against the host waiting for the device, for the GPU parts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch


def graph_of(fn: Callable[[], object]) -> Callable[[], None]:
    """``fn`` recorded in a CUDA graph after a warm-up on a side stream (the pattern of torch's docs)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay


@contextlib.contextmanager
def no_syncs(on: bool) -> Iterator[None]:
    """Inside: any operation that makes the host wait for the GPU raises (CUDA only)."""
    if not on:
        yield
        return
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")
