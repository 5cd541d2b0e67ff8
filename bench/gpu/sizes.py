"""The ``sizes`` and ``big`` parts: impasto's defaults from 512 px to the largest square the card holds.

``sizes`` runs whole runs at each size (and graphed where graphs pay: small images, whole
objective), skipping a size whose estimate, scaled from the last by its pixels, no longer fits.
``big`` runs a 4096 px square, then finds the largest square from two probes: the tiled
objective's peak memory is linear in the pixels (images, gradient, L-BFGS rows up to their
2 GiB cap), so a line through two sizes says where it meets 95 % of the card.
"""

from __future__ import annotations

import json
import math

import torch

from ..impasto_api import CHECKPOINT_ABOVE
from .one import one_run
from .plan import WARM_STEPS
from .session import Session


def part_sizes(s: Session) -> dict:
    plan = s.plan
    rows: dict[str, dict] = {}
    last: tuple[int, float] | None = None  # (size, process wall) of the last size run
    for size in plan.sizes:
        if last is not None and s.left() < 2.5 * last[1] * (size / last[0]) ** 2:
            rows[str(size)] = {"skipped": "out of time"}
            continue
        for graph in (False, True):
            if graph and (size > 512 or size * round(size * 3 / 4) > CHECKPOINT_ABOVE):  # graphs pay at small sizes
                continue
            key = f"{size}{' graph' if graph else ''}"
            rows[key] = one_run(s, size, plan.steps, extra={"cuda_graph": "on"} if graph else None)
            s.log(f"sizes {key}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in rows[key].items()))
        last = (size, rows[str(size)]["process_wall"])
    return {"steps": plan.steps, "rows": rows}


def part_big(s: Session) -> dict:
    plan = s.plan
    res: dict = {}
    res["square"] = one_run(s, plan.big_side, plan.big_steps, square=True)
    s.log(f"big {plan.big_side}x{plan.big_side}: {json.dumps(res['square'])}")
    if not s.cuda:
        return res
    probes = []
    for side in plan.probe_sides:
        if s.left() < 60:
            break
        probes.append(one_run(s, side, WARM_STEPS + 1, square=True, timeout=s.left() - 20))
        s.log(f"big probe {side}: {json.dumps(probes[-1])}")
    res["probes"] = probes
    if len(probes) == 2:
        (p1, m1), (p2, m2) = [(p["pixels"], p["steady_peak_reserved_gib"] if "steady_peak_reserved_gib" in p
                                   else p["first_steps_peak_reserved_gib"]) for p in probes]
        slope = (m2 - m1) / (p2 - p1)
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        side = int(math.sqrt(max(p2, (0.95 * total - m2) / max(slope, 1e-12) + p2)) // 64 * 64)
        step_s = probes[-1]["per_step_s"] * side * side / p2
        res["largest_predicted"] = {"side": side, "gib_per_megapixel": slope * 1e6, "step_s_estimate": step_s}
        if s.left() > 3 * step_s + probes[-1]["setup_s"] * side * side / p2 + 30:
            res["largest_run"] = one_run(s, side, 1, square=True, timeout=s.left() - 10)
            s.log(f"big largest {side}: {json.dumps(res['largest_run'])}")
        else:
            res["largest_run"] = {"skipped": f"needs about {3 * step_s:.0f} s per step pair; out of time"}
    return res
