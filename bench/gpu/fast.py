"""The ``fast`` part: one feed-forward painting at the plan's side, per network size and precision.

What ``stylize --model`` runs (``paint``: channels-last, bf16 where asked), timed in process
after a warm-up, plain and, on CUDA, replayed from a graph.
"""

from __future__ import annotations

import torch

from ..impasto_api import NetSize, TransformerNet, paint
from ..timing import median_call
from .cuda import graph_of
from .session import Session

NETS = (("shipped small (width 16, 3 blocks)", NetSize(16, 3)), ("Johnson (width 32, 5 blocks)", NetSize(32, 5)))


def part_fast(s: Session) -> dict:
    plan = s.plan
    x = torch.rand(1, 3, plan.fast_side, plan.fast_side, device=s.device)
    out = {}
    for label, size in NETS:
        torch.manual_seed(0)
        net = TransformerNet(size).eval().requires_grad_(False).to(s.device)
        row = {}
        for precision in ("bf16",) + s.precisions()[:1]:
            fn = lambda: paint(net, x, precision)  # noqa: E731
            row[f"{precision}_ms"] = median_call(fn, plan.fast_repeat, s.sync) * 1000
            if s.cuda:
                row[f"{precision}_graphed_ms"] = median_call(graph_of(fn), plan.fast_repeat, s.sync) * 1000
        out[label] = row
        s.log(f"fast {plan.fast_side}x{plan.fast_side} {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()))
    return {"side": plan.fast_side, "nets": out}
