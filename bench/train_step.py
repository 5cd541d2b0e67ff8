"""What one training step of the shipped styles costs, measured on the CPU: FLOPs, operator
calls (each a kernel launch on a GPU) and seconds, for the two ways of taking the loss.

    python -m bench train-shipped --step-cost [--crop 64 --batch 2]

``per-style``: each style's outputs through VGG on their own (one VGG pass and one set of Grams
per style), the way training ran before :class:`impasto.fast.loss.StackedLoss`. ``stacked``: all
styles' outputs in one VGG pass, the Grams of every style in one product, one backward pass.
Both are timed alternately in one process, so a busy machine slows both alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .impasto_api import (PerceptualLoss, StackedLoss, TrainOptions, TransformerNet, load_image, load_network,
                          precision_context)

Step = Callable[[], None]


def build_steps(opts: TrainOptions, styles: list[Path]) -> dict[str, Step]:
    """The two ways of one step (forward and backward, no optimiser: both share Adam's cost)."""
    network = load_network(opts.loss_options())
    device = network.device
    losses = [PerceptualLoss(load_image(s), opts.style_size, opts.loss_options(), network) for s in styles]
    stacked = StackedLoss(losses)
    torch.manual_seed(opts.seed)
    nets = [TransformerNet(opts.net_size()).to(device) for _ in styles]
    x = torch.rand(opts.batch, 3, opts.crop, opts.crop, device=device)
    if network.channels_last:
        nets = [n.to(memory_format=torch.channels_last) for n in nets]
        x = x.contiguous(memory_format=torch.channels_last)

    def per_style() -> None:
        content = losses[0].content_targets(x)
        for net, loss in zip(nets, losses):
            with precision_context(device, opts.precision):
                parts = loss(net(x), x, content)
            parts["total"].backward()

    def together() -> None:
        content = stacked.content_targets(x)
        with precision_context(device, opts.precision):
            outs = torch.cat([net(x) for net in nets])
        stacked(outs, content)[-1].sum().backward()

    return {"per-style": per_style, "stacked": together}


def flops(step: Step) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def operator_calls(step: Step) -> int:
    """ATen operator calls in one step, nested ones included: a proxy for the kernels a GPU is sent."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))


def step_cost(opts: TrainOptions, styles: list[Path], repeats: int = 3) -> dict:
    """FLOPs, operator calls and median seconds of each way of one step for ``styles``."""
    steps = build_steps(opts, styles)
    for fn in steps.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: {"gflop": flops(fn) / 1e9, "operator_calls": operator_calls(fn),
                   "seconds": statistics.median(times[name]), "all_seconds": times[name]}
            for name, fn in steps.items()}
