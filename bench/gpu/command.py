"""The ``gpu`` command: the parts in order, each skipped when its estimate no longer fits the budget.

One broken part is recorded as an error and the others still run, so one device call always
brings back every figure it could measure (``bench.gpu``'s docstring lists the parts).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from .. import record
from ..impasto_api import load_weights
from .device_tests import part_tests
from .fast import part_fast
from .floor import part_floor
from .plan import FULL, PARTS, TINY
from .session import Session
from .sizes import part_big, part_sizes
from .speed import part_speed
from .video import part_video

PART_FUNCS = {"tests": part_tests, "floor": part_floor, "speed": part_speed, "fast": part_fast,
              "sizes": part_sizes, "big": part_big, "video": part_video}


def cmd_gpu(a: argparse.Namespace) -> int:
    plan = TINY if a.tiny else FULL
    unknown = [name for name in a.parts if name not in PARTS]
    if unknown:
        print(f"bench gpu: unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench gpu: CUDA asked for but torch sees no GPU (use --tiny --device cpu to rehearse)", file=sys.stderr)
        return 2
    s = Session(Path(a.out), a.device, plan, a.budget, a.tiny)
    s.results["machine"] = record.machine(a.device)
    s.log(f"bench gpu on {json.dumps(s.results['machine'])}, budget {a.budget:.0f} s")
    if s.cuda:
        torch.backends.cudnn.benchmark = True
    load_weights("caffe")  # the weight cache, once, before anything is timed
    failed = 0
    for name in a.parts:
        need = plan.estimate[name]
        if s.left() < need:
            s.results["parts"][name] = {"skipped": f"out of time ({s.left():.0f} s left, needs ~{need} s)"}
            s.log(f"{name}: skipped, out of time")
            s.save()
            continue
        t = time.perf_counter()
        try:
            s.results["parts"][name] = PART_FUNCS[name](s)
        except Exception as e:  # one broken part must not lose the others' figures
            failed += 1
            s.results["parts"][name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
            s.log(f"{name}: FAILED {type(e).__name__}: {e}")
        s.results["seconds"][name] = round(time.perf_counter() - t, 1)
        s.log(f"{name}: {s.results['seconds'][name]} s")
        s.save()
    s.results["seconds"]["total"] = round(time.monotonic() - s.t0, 1)
    s.save()
    s.log(f"done in {s.results['seconds']['total']} s, {failed} part(s) failed; results in {s.out}")
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("gpu", help="every GPU figure in one command (see bench/gpu/)")
    g.add_argument("--out", required=True, help="folder for results.json, log.txt, pytest.txt and pictures")
    g.add_argument("--device", default="cuda")
    g.add_argument("--tiny", action="store_true", help="tiny sizes and few steps: the CPU rehearsal")
    g.add_argument("--budget", type=float, default=450.0, help="seconds; parts that no longer fit are skipped")
    g.add_argument("--parts", type=lambda s: [p for p in s.split(",") if p], default=list(PARTS),
                   help=f"comma-separated, from {','.join(PARTS)}")
    g.set_defaults(func=cmd_gpu)
