"""Running impasto and the peer (pastiche) the way users do, on one shared objective.

Both tools are driven from their CLIs as subprocesses. The settings are matched so that both
minimise *the same* function: pastiche's default loss (content 0.01 * MSE at block4_relu2, style
10/C^2 * MSE of Grams at blockN_relu1, max pooling, content init) written in impasto's units:

* impasto's content term is 1/2 * sum_c mean_pos (F-P)^2 * 4096 (its 512 px reference), so
  content_weight = 0.02 / (512 * 4096) gives pastiche's 0.01 * sum / (C * M);
* impasto's style term per layer is sum (G-A)^2 / (4 C^2), so a layer weight of 40 / C^2 gives
  pastiche's 10 / C^2 * sum (G-A)^2 / C^2.

That makes the loss one common yardstick: ``evaluate`` scores any image with it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "images"
CONTENT = SHARED / "content" / "tubingen.jpg"
STYLE = SHARED / "style" / "starry_night.jpg"
if not CONTENT.exists():
    CONTENT, STYLE = ROOT / "examples" / "tubingen.jpg", ROOT / "examples" / "starry_night.jpg"

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CHANNELS = (64, 128, 256, 512, 512)
MATCHED = dict(
    pooling="max",
    content_layers=("relu4_2",),
    style_layers=STYLE_LAYERS,
    style_layer_weights=tuple(40.0 / c**2 for c in CHANNELS),
    content_weight=0.02 / (512 * 4096),
    style_weight=1.0,
    tv_weight=0.0,
    init="content",
)


def impasto_flags(size: int, iterations: int, device: str = "cpu", **extra: object) -> list[str]:
    o = {**MATCHED, "max_long_edge": size, "iterations": iterations, "device": device, **extra}
    flags = []
    for k, v in o.items():
        if isinstance(v, tuple):
            v = ",".join(str(x) for x in v)
        flags += ["--" + k.replace("_", "-"), str(v)]
    return flags


@dataclass
class Result:
    wall: float  # seconds, process start to image written
    max_rss_mb: float
    stdout: str
    stderr: str


def timed_rss(cmd: list[str], env: dict | None = None) -> Result:
    """Like ``timed`` but reads the child's peak RSS with os.wait4."""
    t0 = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=devnull, text=True,
                             env={**os.environ, **(env or {})})
        out = p.stdout.read()
        _, status, rusage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({p.returncode})")
    return Result(wall, rusage.ru_maxrss / 1024.0, out, "")


def run_impasto(out: Path, size: int, iterations: int, device: str = "cpu", log: Path | None = None,
                **extra: object) -> Result:
    cmd = [sys.executable, "-m", "impasto", "stylize", str(CONTENT), str(STYLE), "-o", str(out), "--quiet",
           *impasto_flags(size, iterations, device, **extra)]
    if log:
        cmd += ["--log-json", str(log)]
    return timed_rss(cmd)


def run_pastiche(out: Path, size: int, iterations: int, device: str = "cpu", info_step: int = 10) -> Result:
    cmd = [sys.executable, "-m", "pastiche", "--content", str(CONTENT), "--styles", str(STYLE),
           "--output", str(out), "--size", str(size), "--style-size", str(size), "--num-steps", str(iterations),
           "--device", device, "--pooling", "max", "--info-step", str(info_step), "--seed", "0"]
    return timed_rss(cmd)


def pastiche_curve(stdout: str) -> list[tuple[int, float, float]]:
    """(step, elapsed seconds since its start, loss) from pastiche's progress lines."""
    rows = []
    for line in stdout.splitlines():
        m = re.match(r"^(\d+)\s+([\d.]+)\s+([\d.eE+-]+)\s*$", line.strip())
        if m:
            rows.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))
    return rows


def evaluate_parts(image: Path, size: int) -> dict[str, float]:
    """The common yardstick: the matched objective's content and style terms (and their total)
    for an image file, scored by impasto in fp32 whatever precision produced the image."""
    import torch

    from impasto import prepare

    run = prepare(CONTENT, STYLE, max_long_edge=size, iterations=1, device="cpu", precision="fp32",
                  **{**MATCHED, "init": str(image)}).run
    with torch.no_grad():
        _, parts = run.loss(run.x0)
    content, style, _, total = parts.tolist()
    return {"content": content, "style": style, "total": total}


def evaluate(image: Path, size: int) -> float:
    """The matched objective's total for an image file (see ``evaluate_parts``)."""
    return evaluate_parts(image, size)["total"]
