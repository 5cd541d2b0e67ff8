"""One impasto run with its defaults in a fresh process, timed inside it: the unit of ``sizes``
and ``big``.

A fresh process per run gives each size an empty memory allocator and a whole-process wall
time; inside it, imports, setup, steps and peak GPU memory are timed apart. The child is
``python -m bench.gpu.one SPEC_JSON`` and prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from .. import paths
from ..timing import run_timed
from .plan import WARM_STEPS
from .session import Session

CONTENT = paths.image("content", "tubingen.jpg")
STYLE = paths.image("style", "starry_night.jpg")


def one_run(s: Session, size: int, steps: int, square: bool = False, extra: dict | None = None,
            timeout: float | None = None) -> dict:
    """impasto with its defaults at ``size`` (a square crop of the photo when ``square``): process
    wall, setup, per step, peak GPU memory. The images go in as decoded pictures, so print sizes
    meet no file-size limit."""
    spec = {"content": str(CONTENT), "style": str(STYLE), "square": square, "size": size, "steps": steps,
            "device": s.device, "options": extra or {},
            "out": str(s.work / f"one-{size}.png") if size <= 2048 else None}
    wall, r = run_timed([sys.executable, "-m", "bench.gpu.one", json.dumps(spec)], timeout=timeout, cwd=paths.ROOT)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["process_wall"] = wall
    return res


def child_one(spec: dict) -> dict:
    """The child of ``one_run``: one impasto run, timed inside the process."""
    t0 = time.perf_counter()
    from PIL import ImageOps

    from ..impasto_api import load_image, prepare, save_image  # here, so that import_s counts the engine's import

    dev = torch.device(spec["device"])
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    t_import = time.perf_counter()
    photo = load_image(spec["content"])
    if spec["square"]:
        photo = ImageOps.fit(photo, (min(photo.size),) * 2)
    t = prepare(photo, spec["style"], max_long_edge=spec["size"], iterations=spec["steps"], device=spec["device"],
                **spec["options"])
    sync()
    t_setup = time.perf_counter()
    stamps: list[float] = []
    final = t.sizes[-1]
    for step in t:
        if max(step.run.content_size) != final:  # coarse to fine: time and memory at the output's size
            continue
        stamps.append(time.perf_counter())
        if len(stamps) == WARM_STEPS and dev.type == "cuda":
            # cuDNN's autotuning tries algorithms with workspaces as large as the card allows;
            # the memory a run needs is what it holds after that
            sync()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    sync()
    t_steps = time.perf_counter()
    if spec["out"]:
        save_image(t.best_image(), spec["out"])
    half = len(stamps) // 2
    res = {"size": spec["size"], "pixels": t.run.content_size[0] * t.run.content_size[1], "steps": len(stamps),
           "import_s": t_import - t0, "setup_s": t_setup - t_import, "steps_s": t_steps - t_setup,
           "per_step_s": (t_steps - stamps[half - 1]) / (len(stamps) - half) if half else t_steps - t_setup,
           "in_process_s": time.perf_counter() - t0, "memory_mode": t.run.objective.mode,
           "graph": t.run.graph_note or "captured", "final_loss": float(t.best_loss)}
    if dev.type == "cuda":
        key = "steady_" if len(stamps) > WARM_STEPS else "first_steps_"  # after autotuning, or all of it
        res.update({key + "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
                    key + "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30})
    return res


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.gpu.one SPEC_JSON (the child process of bench.gpu.one.one_run)")
    print(json.dumps(child_one(json.loads(sys.argv[1]))), flush=True)
