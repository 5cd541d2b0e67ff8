"""impasto's step against its floor: the VGG-19 forward and backward alone, in one process.

A step cannot be cheaper than the network's forward and backward through the layers it uses, so
the share of a step that is the network says how much the rest (losses, the optimiser, copies)
still costs. Both run in the run's own precision and layout; the network alone gets a fixed
gradient per output, so that nothing but the VGG is timed.

    python -m bench floor --sizes 256,512 --steps 10 [--precision fp32]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from . import record
from .impasto_api import precision_context, prepare as prepare_run, resolve_precision
from .inputs import resized_inputs
from .peers import MATCHED, PRECISIONS

WARM = 2  # calls of the network alone before it is timed
SKIP = 3  # steps of the run before it is timed


def vgg_only(run: Any) -> Callable[[], None]:
    """One forward and backward of ``run``'s network through its layers, from its start image,
    in its precision, with a fixed random gradient per output (drawn at the first call)."""
    x = run.x0.detach().clone().requires_grad_(True)
    grads: list[torch.Tensor] = []

    def call() -> None:
        with precision_context(run.device, run.options.precision):
            feats = list(run.network.net(x, run.options.layers).values())
        if not grads:
            grads.extend(torch.randn_like(f) for f in feats)
        torch.autograd.backward(feats, grads)
        x.grad = None

    return call


def mean_seconds(fn: Callable[[], object], calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls


def cmd_floor(a: argparse.Namespace) -> None:
    torch.set_num_threads(record.threads())
    rows = {}
    for size in a.sizes:
        inputs = resized_inputs(size)
        run = prepare_run(inputs.content, inputs.style, max_long_edge=size, iterations=a.steps + SKIP, device="cpu",
                          precision=a.precision, **MATCHED).run
        network = vgg_only(run)
        for _ in range(WARM):
            network()
        floor = mean_seconds(network, a.steps)
        it = iter(run)
        for _ in range(SKIP):
            next(it)
        step = mean_seconds(lambda: next(it), a.steps)
        rows[size] = {"precision": resolve_precision(run.device, a.precision), "vgg_fwd_bwd_ms": floor * 1000,
                      "impasto_step_ms": step * 1000, "floor_fraction": floor / step}
        print(f"  {size}px: VGG fwd+bwd {floor * 1000:.1f} ms, impasto step {step * 1000:.1f} ms", file=sys.stderr)
    path = record.save(f"floor-{a.precision}", {"steps": a.steps, "sizes": rows})
    print(f"{record.describe(record.machine())}\n")
    print("| size | precision | VGG fwd+bwd (ms) | impasto step (ms) | VGG share of the step |\n|---|---|---|---|---|")
    for size, r in rows.items():
        print(f"| {size} | {r['precision']} | {r['vgg_fwd_bwd_ms']:.1f} | {r['impasto_step_ms']:.1f} "
              f"| {r['floor_fraction']:.0%} |")
    print(f"\n{path}")


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("floor", help="impasto's step against the VGG alone")
    s.add_argument("--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[256, 512])
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--precision", default="auto", choices=PRECISIONS)
    s.set_defaults(func=cmd_floor)
