"""impasto against pastiche and neural-style-pt: ``python -m bench COMMAND [...]``.

    inputs    write the pre-resized PNGs every tool is given (and neural-style-pt's weights file)
    speed     whole run, per step, fixed cost and peak RSS per tool and precision
    startup   process start to a 2-step image, per tool, beside a bare `import torch`
    floor     impasto's step against the VGG forward+backward alone
    curve     run tools once, score every intermediate image with the yardstick (merged per size)
    plot      the curve file as a table and one plot (matched objective and both yardstick numbers)
    tradeoff  impasto at several style weights on the yardstick plane, beside the curve runs' outputs
    flicker   impasto video's flicker without and with smoothing, measured independently of it
    defaults  every tool's defaults on unseen photos, and impasto's candidate defaults and stop rule
    gpu, gpu-carry  every GPU figure in one device call (bench/gpu.py), and what that call carries
    train-shipped   the four shipped feed-forward styles, trained in one device call

Every figure is measured in the run that prints it; results go to ``bench/results/*.json`` with
the commit, CPU model and flags, torch version and thread count (``bench.record``). Time it on a
quiet machine: the project's shared machines take `flock /tmp/impasto-cpu.lock` around each run.
See BENCHMARKS.md for the figures and the exact commands.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import record
from . import defaults, gpu, train_shipped
from .inputs import prepare
from .peers import MATCHED, TOOLS, Spec

SETTINGS = ("matched", "defaults")
PRECISIONS = ("auto", "fp32", "bf16", "tf32")
SPEED_RUNS = "impasto:auto,impasto:fp32,pastiche,neural-style"
# impasto's schedules on top of a setting: c2f = its default coarse-to-fine sizes and stop rule
SCHEDULES = {"c2f": ("--scales", "3", "--stop-eps", "0.005")}


def specs(text: str, steps: int | None) -> list[Spec]:
    """'impasto:auto,pastiche,neural-style:defaults' -> Specs (settings default to matched)."""
    out = []
    for item in text.split(","):
        tool, *parts = item.strip().split(":")
        if tool not in TOOLS:
            raise SystemExit(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")
        settings = next((p for p in parts if p in SETTINGS), "matched")
        precision = next((p for p in parts if p in PRECISIONS), "fp32")
        unknown = [p for p in parts if p not in SETTINGS + PRECISIONS + tuple(SCHEDULES)]
        if unknown:
            raise SystemExit(f"unknown part {unknown[0]!r} in {item!r}: settings {SETTINGS}, precision {PRECISIONS}, "
                             f"schedule {tuple(SCHEDULES)}")
        extra = sum((SCHEDULES[p] for p in parts if p in SCHEDULES), ())
        out.append(Spec(tool, settings, steps, precision, extra))
    return out


def cmd_inputs(a: argparse.Namespace) -> None:
    from .ns_weights import check, convert

    for size in a.sizes:
        print(json.dumps(prepare(size).record(), indent=1))
    check(convert())


def cmd_speed(a: argparse.Namespace) -> None:
    from .speed import measure, table

    inputs = prepare(a.size)
    rows = measure(specs(a.runs, a.steps), inputs, a.repeats)
    path = record.save(f"speed-{a.size}", {"size": a.size, "inputs": inputs.record(), "repeats": a.repeats, "rows": rows})
    print(f"{a.size} px, {a.steps} steps, median of {a.repeats} (min-max); {record.describe(record.machine())}\n")
    print(table(rows, next((k for k in rows if k.startswith("pastiche")), None)))
    print(f"\n{path}")


def cmd_startup(a: argparse.Namespace) -> None:
    from .speed import startup

    inputs = prepare(a.size)
    rows = startup(specs(a.runs, None), inputs, a.repeats)
    path = record.save(f"startup-{a.size}", {"size": a.size, "inputs": inputs.record(), "rows": rows})
    print(f"{a.size} px, process start to a 2-step image written, median of {a.repeats} (min-max); "
          f"{record.describe(record.machine())}\n")
    print("| run | precision | seconds | contention (max) |\n|---|---|---|---|")
    for label, r in rows.items():
        w, c = r["wall"], r.get("contention")
        print(f"| {label} | {r['precision']} | {w['median']:.2f} ({w['min']:.2f}-{w['max']:.2f}) "
              f"| {'-' if c is None else format(c['max'], '.0%')} |")
    print(f"\n{path}")


def cmd_floor(a: argparse.Namespace) -> None:
    """Time of one impasto step against the VGG forward+backward alone (the floor), in one process."""
    import torch

    from .impasto_api import precision_context, prepare as prepare_run, resolve_precision

    torch.set_num_threads(record.threads())
    rows = {}
    for size in a.sizes:
        inputs = prepare(size)
        run = prepare_run(inputs.content, inputs.style, max_long_edge=size, iterations=a.steps + 3, device="cpu",
                          precision=a.precision, **MATCHED).run
        x = run.x0.detach().clone().requires_grad_(True)
        grads: list = []

        def vgg_only() -> None:  # in the run's precision, a fixed gradient per output in its own layout
            with precision_context(run.device, run.options.precision):
                feats = list(run.network.net(x, run.options.layers).values())
            if not grads:
                grads.extend(torch.randn_like(f) for f in feats)
            torch.autograd.backward(feats, grads)
            x.grad = None

        for _ in range(2):
            vgg_only()
        t = time.perf_counter()
        for _ in range(a.steps):
            vgg_only()
        floor = (time.perf_counter() - t) / a.steps
        it = iter(run)
        for _ in range(3):
            next(it)
        t = time.perf_counter()
        for _ in range(a.steps):
            next(it)
        step = (time.perf_counter() - t) / a.steps
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


def cmd_curve(a: argparse.Namespace) -> None:
    from .curve import curve
    from .yardstick import Yardstick

    inputs = prepare(a.size)
    judge = Yardstick(inputs.content, inputs.style)
    name = f"curve-{a.size}"
    data = record.load(name) or {"size": a.size, "inputs": inputs.record(), "runs": {}}
    if data["inputs"]["content"]["sha256"] != inputs.record()["content"]["sha256"]:
        raise SystemExit(f"bench/results/{name}.json was made from other input files; move it away first")
    for spec in specs(a.runs, a.steps):
        data["runs"][spec.label] = curve(spec, inputs, a.every, judge)
        record.save(name, data)  # after each run, so an interrupted series keeps what it has
    cmd_plot(a)


def cmd_plot(a: argparse.Namespace) -> None:
    from .curve import plot, summary

    data = record.load(f"curve-{a.size}")
    if not data:
        raise SystemExit(f"no bench/results/curve-{a.size}.json yet: run `python -m bench curve --size {a.size}`")
    runs = data["runs"]
    reference = next((k for k in runs if k.startswith(a.reference)), None)
    print(f"{a.size} px; machines: " + "; ".join(sorted({record.describe(r["machine"]) for r in runs.values()})) + "\n")
    if reference:
        print(summary(runs, reference))
    if a.plot:
        plot(runs, a.size, a.plot)
        print(f"\nplot: {a.plot}")


def cmd_tradeoff(a: argparse.Namespace) -> None:
    from .curve import plot_tradeoff, tradeoff
    from .yardstick import Yardstick

    inputs = prepare(a.size)
    points = tradeoff(inputs, a.steps, a.weights, a.precision, Yardstick(inputs.content, inputs.style))
    curves = (record.load(f"curve-{a.size}") or {"runs": {}})["runs"]
    others = {k: v for k, v in curves.items() if not k.startswith("impasto")}  # the peers' outputs
    record.save(f"tradeoff-{a.size}", {"size": a.size, "inputs": inputs.record(), "steps": a.steps,
                                       "precision": a.precision, "impasto": points})
    print(f"{a.size} px, impasto {a.steps} steps in {a.precision}; {record.describe(record.machine())}\n")
    print("| run | whole run (s) | contention | content error | style error | matched objective |\n"
          "|---|---|---|---|---|---|")
    for label, r in others.items():
        f = r["final"]
        print(f"| {label} | {r['wall']:.1f} | {r['contention']:.0%} | {f['content_error']:.3f} | {f['style_error']:.3f} "
              f"| {f['matched']:.4g} |")
    for p in points:
        print(f"| impasto, style weight x{p['style_weight_x']:g} | {p['wall']:.1f} | {p['contention']:.0%} "
              f"| {p['content_error']:.3f} | {p['style_error']:.3f} | {p['matched']:.4g} |")
    if a.plot:
        plot_tradeoff(points, others, a.plot, f"{a.size} px, lower left is better\n{record.describe(record.machine())}")


def cmd_flicker(a: argparse.Namespace) -> None:
    from .flicker import measure, paint

    outputs, own = {}, {}
    for s in a.smooth.split(","):
        label = f"smooth {s}"
        outputs[label], own[label] = paint(a.video, a.model, s)
        print(f"  painted {label}", file=sys.stderr)
    res = measure(a.video, outputs, a.threshold)
    for label, v in own.items():
        res["videos"][label]["impasto_own_flicker"] = v
    path = record.save(f"flicker-{a.model}", {"video": str(a.video), "model": a.model, "threshold": a.threshold, **res})
    print(f"{a.video.name}, {res['pairs']} frame pairs, model {a.model}; {record.describe(record.machine())}")
    print(f"static pixels (input within {a.threshold:g} levels): {res['static_fraction']:.0%}; "
          f"flow-consistent pixels: {res['consistent_fraction']:.0%}\n")
    print("| video | change at static pixels | Farneback warp error | impasto's own flicker (DIS, its trust mask) |")
    print("|---|---|---|---|")
    for label, v in res["videos"].items():
        o = v.get("impasto_own_flicker")
        print(f"| {label} | {v['static_change']:.2f} | {v['warp_error']:.2f} | {'-' if o is None else f'{o:.2f}'} |")
    print(f"\n{path}")


def main() -> None:
    from pathlib import Path

    from .flicker import VIDEO

    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    runs_help = "comma-separated TOOL[:matched|defaults][:auto|fp32|bf16], tools: " + ", ".join(TOOLS)

    s = sub.add_parser("inputs", help="write the shared input files")
    s.add_argument("--sizes", type=ints, default=[128, 256, 512])
    s.set_defaults(func=cmd_inputs)

    s = sub.add_parser("speed", help="time per step and per run")
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--steps", type=int, default=20)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--runs", default=SPEED_RUNS, help=runs_help)
    s.set_defaults(func=cmd_speed)

    s = sub.add_parser("startup", help="process start to a 2-step image")
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--repeats", type=int, default=5)
    s.add_argument("--runs", default=SPEED_RUNS, help=runs_help)
    s.set_defaults(func=cmd_startup)

    s = sub.add_parser("floor", help="impasto's step against the VGG alone")
    s.add_argument("--sizes", type=ints, default=[256, 512])
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--precision", default="auto", choices=PRECISIONS)
    s.set_defaults(func=cmd_floor)

    for name, func in (("curve", cmd_curve), ("plot", cmd_plot)):
        s = sub.add_parser(name, help="quality against seconds" if name == "curve" else "table and plot of the curves")
        s.add_argument("--size", type=int, default=256)
        s.add_argument("--reference", default="pastiche (matched)", help="the run whose output the others must reach")
        s.add_argument("--plot", type=Path, help="PNG with the three panels")
        if name == "curve":
            s.add_argument("--runs", required=True, help=runs_help)
            s.add_argument("--steps", type=int, help="steps for every run (default: each tool's own)")
            s.add_argument("--every", type=int, default=10, help="write and score an image every N steps")
        s.set_defaults(func=func)

    s = sub.add_parser("tradeoff", help="impasto at several style weights on the yardstick plane")
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--steps", type=int, default=300)
    s.add_argument("--weights", type=lambda v: [float(x) for x in v.split(",")], default=[0.1, 0.25, 1, 4])
    s.add_argument("--precision", default="auto", choices=PRECISIONS)
    s.add_argument("--plot", type=Path)
    s.set_defaults(func=cmd_tradeoff)

    s = sub.add_parser("flicker", help="video flicker, independent of the smoother")
    s.add_argument("--video", type=Path, default=VIDEO)
    s.add_argument("--model", default="candy")
    s.add_argument("--smooth", default="0,default", help="comma-separated strengths; 'default' passes no --smooth")
    s.add_argument("--threshold", type=float, default=2.0, help="input change (0-255 levels) still counted as static")
    s.set_defaults(func=cmd_flicker)
    defaults.register(sub)
    gpu.register(sub)
    train_shipped.register(sub)

    a = p.parse_args()
    record.commit()  # the code as it is now, before any edit made while this runs
    sys.exit(a.func(a))


if __name__ == "__main__":
    main()
