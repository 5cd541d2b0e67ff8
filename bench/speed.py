"""Speed on the matched objective: whole-run time, time per step, fixed cost and peak memory.

Each tool runs the same number of steps on the same files, interleaved (ABCD, DCBA, ...) so
that a slow spell of the shared machine does not land on one tool. Per step is the steady state
(the second half of the run, from the tools' own intermediate files); the fixed cost is what the
whole run spends beyond ``steps x per step`` (start-up, imports, weights, targets, writing). Every
row says the precision it computed in: impasto's ``auto`` is bf16 only on CPUs with AMX or
AVX512-BF16, and the gain differs between those two (see BENCHMARKS.md).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from .inputs import WORK, Inputs
from .peers import Outcome, Spec, precision_of, quiet_run, run


def spread(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": len(xs)}


def measure(specs: list[Spec], inputs: Inputs, repeats: int) -> dict[str, dict]:
    """{label: {precision, wall, per_step, fixed, max_rss_mb}} over ``repeats`` interleaved runs."""
    rows: dict[str, list[Outcome]] = {s.label: [] for s in specs}
    steps = specs[0].steps
    for rep in range(repeats):
        for spec in specs if rep % 2 == 0 else specs[::-1]:
            folder = WORK / "runs" / f"speed-{inputs.size}" / spec.tool
            rows[spec.label].append(quiet_run(spec, inputs, folder, max(1, steps // 2)))
    out = {}
    for spec in specs:
        runs = rows[spec.label]
        out[spec.label] = {
            "tool": spec.tool, "precision": precision_of(spec), "steps": steps, "command": runs[0].command,
            "wall": spread([o.wall for o in runs]),
            "per_step": spread([o.per_step() for o in runs]),
            "fixed": spread([o.wall - steps * o.per_step() for o in runs]),
            "max_rss_mb": spread([o.max_rss_mb for o in runs]),
            "contention": spread([o.contention for o in runs]),
        }
    return out


def table(rows: dict[str, dict], reference: str | None) -> str:
    """Markdown, one row per tool and precision; ratios against ``reference``'s per-step time.

    Contention is the share of a run's time during which some task waited for a CPU: near 0 on
    a quiet machine; a row with more was measured while other work competed and reads slow."""
    ref = rows[reference]["per_step"]["median"] if reference in rows else None
    lines = ["| tool (settings) | precision | whole run (s) | per step (ms) | fixed cost (s) | peak RSS (MB) "
             "| contention (max) |" + (" per step vs ref |" if ref else ""),
             "|---|---|---|---|---|---|---|" + ("---|" if ref else "")]
    for label, r in rows.items():
        w, p = r["wall"], r["per_step"]["median"]
        line = (f"| {label} | {r['precision']} | {w['median']:.2f} ({w['min']:.2f}-{w['max']:.2f}) | {p * 1000:.0f} "
                f"| {r['fixed']['median']:.2f} | {r['max_rss_mb']['median']:.0f} | {r['contention']['max']:.0%} |")
        lines.append(line + (f" {p / ref:.2f} |" if ref else ""))
    return "\n".join(lines)


def startup(specs: list[Spec], inputs: Inputs, repeats: int) -> dict[str, dict]:
    """Process start to a 2-step image written, per tool, beside a bare ``import torch``."""
    cmd = [sys.executable, "-c", "import torch"]
    subprocess.run(cmd, check=True)  # warm the page cache
    bare = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        bare.append(time.perf_counter() - t)
    out = {"python -c 'import torch'": {"precision": "-", "wall": spread(bare)}}
    short = [Spec(s.tool, s.settings, 2, s.precision) for s in specs]
    for spec in short:  # first run warms weight caches and the page cache
        run(spec, inputs, WORK / "runs" / "startup" / spec.tool, 1)
    for rep in range(repeats):
        for spec in short if rep % 2 == 0 else short[::-1]:
            o = quiet_run(spec, inputs, WORK / "runs" / "startup" / spec.tool, 1)
            r = out.setdefault(spec.label, {"precision": precision_of(spec), "wall": [], "contention": []})
            r["wall"].append(o.wall)
            r["contention"].append(o.contention)
    for r in list(out.values())[1:]:
        r["wall"], r["contention"] = spread(r["wall"]), spread(r["contention"])
    return out
