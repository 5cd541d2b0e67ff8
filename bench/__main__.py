"""impasto against pastiche and neural-style-pt, on the CPU and the GPU: ``python -m bench COMMAND``.

    inputs    write the pre-resized PNGs every tool is given (and neural-style-pt's weights file)
    speed     whole run, per step, fixed cost and peak RSS per tool and precision
    startup   process start to a 2-step image, per tool, beside a bare `import torch`
    floor     impasto's step against the VGG forward+backward alone
    curve     run tools once, score every intermediate image with the yardstick (merged per size)
    plot      the curve file as a table and one plot (matched objective and both yardstick numbers)
    tradeoff  impasto at several style weights on the yardstick plane, beside the curve runs' outputs
    flicker   impasto video's flicker without and with smoothing, measured independently of it
    defaults  every tool's defaults on unseen photos, and impasto's candidate defaults and stop rule
    fast      feed-forward styles on the CPU: speed (torch, onnxruntime) and quality against the engine
    batch     impasto batch's jobs per minute against a shell loop, and what Ray adds per job
    batch-scale  a 10,000-job plan and 2,000 tiny jobs: what impasto and Ray add per job
    gpu, gpu-carry  every GPU figure in one device call (bench/gpu/), and what that call carries
    train-shipped   the four shipped feed-forward styles, trained in one device call

Every figure is measured in the run that prints it; results go to ``bench/results/*.json`` with
the commit, CPU model and flags, GPU, torch version and thread count (``bench.record``). Time it
on a quiet machine: the project's shared machines take `flock /tmp/impasto-cpu.lock` around each
run. See BENCHMARKS.md for the figures and the exact commands.
"""

from __future__ import annotations

import argparse
import sys

from . import batch, batch_scale, curve, defaults, fast, flicker, floor, inputs, record, speed, tradeoff, train_shipped
from .gpu import carry, command

COMMANDS = (inputs, speed, floor, curve, tradeoff, flicker, defaults, fast, batch, batch_scale, command, carry,
            train_shipped)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for module in COMMANDS:
        module.register(sub)
    a = p.parse_args()
    record.commit()  # the code as it is now, before any edit made while this runs
    sys.exit(a.func(a))


if __name__ == "__main__":
    main()
