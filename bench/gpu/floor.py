"""The ``floor`` part: impasto's step against the VGG-19 alone, plain and graphed, at one size.

The CPU command's measure (``bench.floor``) with the GPU's additions: each side also replayed
from a CUDA graph, the median of timed calls (a GPU's first calls autotune), and a check that
nothing inside a step makes the host wait for the device.
"""

from __future__ import annotations

import time
from typing import Any

from ..floor import vgg_only
from ..impasto_api import prepare as prepare_run, resolve_precision
from ..inputs import resized_inputs
from ..peers import MATCHED
from ..timing import median_call
from .cuda import graph_of, no_syncs
from .session import Session


def part_floor(s: Session) -> dict:
    plan = s.plan
    inputs = resized_inputs(plan.size, work=s.work)
    out = {}
    for precision in s.precisions():
        kw = dict(max_long_edge=plan.size, iterations=plan.floor_skip + plan.floor_timed, device=s.device,
                  precision=precision, **MATCHED)
        t = prepare_run(inputs.content, inputs.style, **kw)
        network = vgg_only(t.run)
        row = {"precision": resolve_precision(t.run.device, precision)}
        row["vgg_ms"] = median_call(network, plan.floor_timed, s.sync) * 1000
        if s.cuda:
            row["vgg_graphed_ms"] = median_call(graph_of(network), plan.floor_timed, s.sync) * 1000
        for graph in (False, True):
            transfer = t if not graph else prepare_run(inputs.content, inputs.style, cuda_graph="on", **kw)
            key = "step_graphed" if graph else "step"
            row[f"{key}_ms"], row[f"{key}_host_waits"] = step_ms(s, transfer)
            if graph:
                row["graphed"] = transfer.run.graph_note or "captured"
        row["step_over_floor"] = row["step_ms"] / row["vgg_ms"]
        if s.cuda:
            row["graphed_step_over_graphed_floor"] = row["step_graphed_ms"] / row["vgg_graphed_ms"]
        out[precision] = row
        s.log(f"floor {plan.size}px {precision}: " + ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    return {"size": plan.size, "rows": out}


def step_ms(s: Session, transfer: Any) -> tuple[float, str]:
    """Milliseconds per step after the plan's skipped steps, and what made the host wait ('none')."""
    plan = s.plan
    it = iter(transfer)
    for _ in range(plan.floor_skip):
        next(it)
    s.sync()
    start = time.perf_counter()
    try:
        with no_syncs(s.cuda):
            for _ in range(plan.floor_timed):
                next(it)
        waits = "none"
    except RuntimeError as e:  # the sync debug mode caught the host waiting inside a step
        waits = str(e).splitlines()[0][:200]
    s.sync()
    return (time.perf_counter() - start) / plan.floor_timed * 1000, waits
