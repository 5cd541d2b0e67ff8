"""impasto at several style weights on the yardstick's plane, beside the peers' outputs.

A style weight trades content error for style error; the curve runs give one point per peer.
Scaling impasto's weight on the matched objective draws its whole trade-off line, so a peer's
point can be read against the line rather than against one of its points.

    python -m bench tradeoff --size 256 --steps 300 --weights 0.1,0.25,1,4 --plot docs/tradeoff_256.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import record
from .inputs import Inputs, resized_inputs
from .paths import WORK
from .peers import MATCHED, PRECISIONS, Spec, quiet_run
from .yardstick import Yardstick


def tradeoff(inputs: Inputs, steps: int, weights: list[float], precision: str, judge: Yardstick) -> list[dict]:
    """impasto on the matched objective with the style weight scaled by each of ``weights``."""
    points = []
    for k in weights:
        spec = Spec("impasto", "matched", steps, precision, ("--style-weight", f"{MATCHED['style_weight'] * k:g}"))
        o = quiet_run(spec, inputs, WORK / "runs" / "tradeoff" / f"x{k:g}", steps)
        points.append({"style_weight_x": k, "wall": o.wall, "contention": o.contention, **judge.score(o.final[1])})
        print(f"  impasto x{k:g}: {o.wall:.1f} s, content error {points[-1]['content_error']:.3f}, "
              f"style error {points[-1]['style_error']:.3f}", file=sys.stderr)
    return points


def plot_tradeoff(points: list[dict], others: dict[str, dict], path: Path, title: str) -> None:
    """Content error against style error: impasto's weights as a line, other runs' outputs as marks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=100)
    pts = sorted(points, key=lambda p: p["content_error"])
    ax.plot([p["content_error"] for p in pts], [p["style_error"] for p in pts], "o-", label="impasto, style weight x")
    for p in pts:
        ax.annotate(f"x{p['style_weight_x']:g}, {p['wall']:.0f} s", (p["content_error"], p["style_error"]),
                    fontsize=7, xytext=(4, 4), textcoords="offset points")
    for i, (label, r) in enumerate(others.items()):
        f = r["final"]
        ax.plot([f["content_error"]], [f["style_error"]], "s", color=f"C{i + 1}",
                label=f"{label}, {r['wall']:.0f} s")
    ax.set_xlabel("content error")
    ax.set_ylabel("style error")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def cmd_tradeoff(a: argparse.Namespace) -> None:
    inputs = resized_inputs(a.size)
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


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("tradeoff", help="impasto at several style weights on the yardstick plane")
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--steps", type=int, default=300)
    s.add_argument("--weights", type=lambda v: [float(x) for x in v.split(",")], default=[0.1, 0.25, 1, 4])
    s.add_argument("--precision", default="auto", choices=PRECISIONS)
    s.add_argument("--plot", type=Path)
    s.set_defaults(func=cmd_tradeoff)
