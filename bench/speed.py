"""Speed on the matched objective: whole-run time, time per step, fixed cost and peak memory.

Each tool runs the same number of steps on the same files, interleaved (ABCD, DCBA, ...) so
that a slow spell of the shared machine does not land on one tool. Per step is the steady state
(the second half of the run, from the tools' own intermediate files); the fixed cost is what the
whole run spends beyond ``steps x per step`` (start-up, imports, weights, targets, writing). Every
row says the precision it computed in: impasto's ``auto`` is bf16 only on CPUs with AMX or
AVX512-BF16, and the gain differs between those two (see BENCHMARKS.md).

    python -m bench speed --size 256 --steps 20 --repeats 3
    python -m bench startup --size 256 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from . import record
from .inputs import Inputs, resized_inputs
from .paths import WORK
from .peers import TOOLS, Outcome, Spec, parse_specs, precision_of, quiet_run, run

SPEED_RUNS = "impasto:auto,impasto:fp32,pastiche,neural-style"
RUNS_HELP = "comma-separated TOOL[:matched|defaults][:auto|fp32|bf16], tools: " + ", ".join(TOOLS)


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


def cmd_speed(a: argparse.Namespace) -> None:
    inputs = resized_inputs(a.size)
    rows = measure(parse_specs(a.runs, a.steps), inputs, a.repeats)
    path = record.save(f"speed-{a.size}", {"size": a.size, "inputs": inputs.record(), "repeats": a.repeats, "rows": rows})
    print(f"{a.size} px, {a.steps} steps, median of {a.repeats} (min-max); {record.describe(record.machine())}\n")
    print(table(rows, next((k for k in rows if k.startswith("pastiche")), None)))
    print(f"\n{path}")


def cmd_startup(a: argparse.Namespace) -> None:
    inputs = resized_inputs(a.size)
    rows = startup(parse_specs(a.runs, None), inputs, a.repeats)
    path = record.save(f"startup-{a.size}", {"size": a.size, "inputs": inputs.record(), "rows": rows})
    print(f"{a.size} px, process start to a 2-step image written, median of {a.repeats} (min-max); "
          f"{record.describe(record.machine())}\n")
    print("| run | precision | seconds | contention (max) |\n|---|---|---|---|")
    for label, r in rows.items():
        w, c = r["wall"], r.get("contention")
        print(f"| {label} | {r['precision']} | {w['median']:.2f} ({w['min']:.2f}-{w['max']:.2f}) "
              f"| {'-' if c is None else format(c['max'], '.0%')} |")
    print(f"\n{path}")


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("speed", help="time per step and per run")
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--steps", type=int, default=20)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--runs", default=SPEED_RUNS, help=RUNS_HELP)
    s.set_defaults(func=cmd_speed)

    s = sub.add_parser("startup", help="process start to a 2-step image")
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--repeats", type=int, default=5)
    s.add_argument("--runs", default=SPEED_RUNS, help=RUNS_HELP)
    s.set_defaults(func=cmd_startup)
