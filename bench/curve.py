"""Quality against seconds: every intermediate image of a run, scored by the yardstick.

A run writes an image every ``every`` steps (each tool's own option); each file's time is its
modification time since the process started, and each file is scored afterwards by
``bench.yardstick`` (fp32, outside the timed run). One result file per size collects the runs,
each with its own machine record, so one tool can be rerun (e.g. impasto after a change of
defaults) without rerunning the others; ``plot`` draws whatever the file holds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from .inputs import WORK, Inputs
from .peers import MATCHED, Spec, precision_of, quiet_run
from .record import describe, machine
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
    return {"spec": vars(spec), "precision": precision_of(spec), "machine": machine(), "command": o.command,
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
    machines = sorted({describe(r["machine"]).split(", commit")[0] for r in runs.values()})
    fig.suptitle(f"{size} px, lower is better; {'; '.join(machines)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


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

