"""Quality against seconds: every intermediate image of a run, scored by the yardstick.

A run writes an image every ``every`` steps (each tool's own option); each file's time is its
modification time since the process started, and each file is scored afterwards by
``bench.yardstick`` (fp32, outside the timed run). One result file per size collects the runs,
each with its own machine record, so one tool can be rerun (e.g. impasto after a change of
defaults) without rerunning the others; ``plot`` draws whatever the file holds.

    python -m bench curve --size 256 --runs pastiche,neural-style,impasto:auto --steps 500 --every 10
    python -m bench plot --size 256 --plot docs/quality_vs_time_256.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from . import record
from .inputs import Inputs, resized_inputs
from .paths import WORK
from .peers import Spec, parse_specs, precision_of, quiet_run
from .speed import RUNS_HELP
from .yardstick import Yardstick

METRICS = (("matched", "matched objective (pastiche's loss)"),
           ("style_error", "style error (mean relative Gram error)"),
           ("content_error", "content error (relative, relu4_2)"))


def curve(spec: Spec, inputs: Inputs, every: int, judge: Yardstick) -> dict:
    """Run ``spec`` once, then score its snapshots and its output file."""
    o = quiet_run(spec, inputs, WORK / "runs" / f"curve-{inputs.size}" / spec.label.replace(" ", "_"), every)
    points = []
    for step, (secs, path) in sorted(o.snapshots.items()):
        with Image.open(path) as im:
            if im.size != judge.size:  # a coarser size of a coarse-to-fine run: not the same problem
                continue
        points.append({"step": step, "seconds": secs, **judge.score(path)})
    final = judge.score(o.final[1])
    if not points or points[-1]["seconds"] < o.final[0]:  # the written image is a point too
        points.append({"step": "end", "seconds": o.final[0], **final})
    print(f"  {spec.label}: {o.wall:.1f} s (contention {o.contention:.0%}), final matched {final['matched']:.4g}, "
          f"content error {final['content_error']:.3f}, style error {final['style_error']:.3f}", file=sys.stderr)
    return {"spec": vars(spec), "precision": precision_of(spec), "machine": record.machine(), "command": o.command,
            "wall": o.wall, "max_rss_mb": o.max_rss_mb, "contention": o.contention, "every": every, "points": points,
            "final": {"seconds": o.final[0], **final},
            "log_tail": o.stdout[-1500:]}  # the tool's own last losses, beside the yardstick's


def reach(points: list[dict], ok) -> dict | None:
    """The first point that satisfies ``ok`` (points are in time order)."""
    return next((p for p in points if ok(p)), None)


def summary(runs: dict[str, dict], reference: str) -> str:
    """Markdown: each run's final scores, and when it first matched the reference's final image."""
    ref = runs[reference]["final"]
    lines = [f"reference: {reference}'s output, matched {ref['matched']:.4g}, content error "
             f"{ref['content_error']:.3f}, style error {ref['style_error']:.3f}", "",
             "| run | precision | steps | whole run (s) | contention | matched objective | content error | style error "
             "| first at ref's matched objective | first at ref's style error (content error then) "
             "| first at or below ref on both errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in runs.items():
        f, pts = r["final"], r["points"]
        m = reach(pts, lambda p: p["matched"] <= ref["matched"])
        style = reach(pts, lambda p: p["style_error"] <= ref["style_error"])
        both = reach(pts, lambda p: p["content_error"] <= ref["content_error"] and p["style_error"] <= ref["style_error"])
        at = lambda p: "never" if p is None else f"{p['seconds']:.1f} s (step {p['step']})"  # noqa: E731
        then = lambda p: "" if p is None else f" ({p['content_error']:.3f})"  # noqa: E731
        steps = max((p["step"] for p in pts if isinstance(p["step"], int)), default="-")
        lines.append(f"| {label} | {r['precision']} | {steps} | {r['wall']:.1f} | {r['contention']:.0%} | {f['matched']:.4g} "
                     f"| {f['content_error']:.3f} | {f['style_error']:.3f} | {at(m)} "
                     f"| {at(style)}{then(style)} | {at(both)} |")
    return "\n".join(lines)


def plot(runs: dict[str, dict], size: int, path: Path) -> None:
    """Three panels sharing the time axis: the matched objective and the two yardstick numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), dpi=100)
    for label, r in runs.items():
        for ax, (key, _) in zip(axes, METRICS):
            pts = [p for p in r["points"] if p[key] > 0]  # a log axis: the start image's 0 content error is left out
            ax.plot([p["seconds"] for p in pts], [p[key] for p in pts], ".-", ms=3, lw=1,
                    label=f"{label}, {r['precision']}")
    for ax, (key, name) in zip(axes, METRICS):
        ax.set_xlabel("seconds since the process started")
        ax.set_ylabel(name)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    machines = sorted({record.describe(r["machine"]).split(", commit")[0] for r in runs.values()})
    fig.suptitle(f"{size} px, lower is better; {'; '.join(machines)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def cmd_curve(a: argparse.Namespace) -> None:
    inputs = resized_inputs(a.size)
    judge = Yardstick(inputs.content, inputs.style)
    name = f"curve-{a.size}"
    data = record.load(name) or {"size": a.size, "inputs": inputs.record(), "runs": {}}
    if data["inputs"]["content"]["sha256"] != inputs.record()["content"]["sha256"]:
        raise SystemExit(f"bench/results/{name}.json was made from other input files; move it away first")
    for spec in parse_specs(a.runs, a.steps):
        data["runs"][spec.label] = curve(spec, inputs, a.every, judge)
        record.save(name, data)  # after each run, so an interrupted series keeps what it has
    cmd_plot(a)


def cmd_plot(a: argparse.Namespace) -> None:
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


def register(sub: argparse._SubParsersAction) -> None:
    for name, func in (("curve", cmd_curve), ("plot", cmd_plot)):
        s = sub.add_parser(name, help="quality against seconds" if name == "curve" else "table and plot of the curves")
        s.add_argument("--size", type=int, default=256)
        s.add_argument("--reference", default="pastiche (matched)", help="the run whose output the others must reach")
        s.add_argument("--plot", type=Path, help="PNG with the three panels")
        if name == "curve":
            s.add_argument("--runs", required=True, help=RUNS_HELP)
            s.add_argument("--steps", type=int, help="steps for every run (default: each tool's own)")
            s.add_argument("--every", type=int, default=10, help="write and score an image every N steps")
        s.set_defaults(func=func)
