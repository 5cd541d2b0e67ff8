"""Where a figure came from: every result file says which code, CPU, torch and threads made it.

Speed figures on the 2-core machines differ by CPU: some are Intel with AMX, some AMD EPYC with
AVX512-BF16 only, and bf16 gained 3.5-4x per step on the first but 2.3x on the second. A number
without its machine cannot be compared, so ``save`` stamps every ``bench/results/*.json`` with this.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from .paths import RESULTS, ROOT

CPU_FLAGS = ("amx_bf16", "amx_tile", "amx_int8", "avx512_bf16", "avx512f", "avx2")


def threads() -> int:
    """The thread count every tool runs with: $OMP_NUM_THREADS, else the cores torch would use."""
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def cpu_stall() -> float:
    """Seconds, since boot, during which some runnable task waited for a CPU (Linux PSI; 0 elsewhere).

    On an otherwise idle 2-core machine a 2-thread run adds almost nothing here, so the stall a
    run accumulates, as a fraction of its time, says whether someone else's work was competing.
    """
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return 0.0
    return int(line.rsplit("total=", 1)[1]) / 1e6


@functools.cache
def commit() -> str:
    """HEAD, with '+dirty' when tracked files differ from it (the figure is then not reproducible
    from HEAD). Read once, at the first call: ``bench.__main__`` calls it as it starts, so that
    edits made while a long run goes on do not mark a run of committed code as dirty."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def cpu() -> dict:
    """lscpu's model name and the flags that decide bf16 speed (AMX, AVX512-BF16)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model name":
            model = value.strip()
        elif key.strip() == "Flags":
            flags = set(value.split())
    return {"model": model, "cores": os.cpu_count(), "flags": [f for f in CPU_FLAGS if f in flags]}


def machine(device: str | None = None) -> dict:
    """The record every result carries; ``device``, when a command chose one, is recorded too."""
    import torch

    info = {
        "commit": commit(),
        "cpu": cpu(),
        "torch": torch.__version__,
        "threads": threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
    }
    if device is not None:
        info["device"] = device
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu_memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    return info


def describe(m: dict) -> str:
    """One line for tables: 'AMD EPYC (avx512_bf16, avx512f), 2 threads, torch 2.13.0+cpu'."""
    flags = ", ".join(f for f in m["cpu"]["flags"] if f != "avx2") or "no bf16 hardware"
    head, _, dirty = m["commit"].partition("+")
    return (f"{m['cpu']['model']} ({flags}), {m['threads']} threads, torch {m['torch']}, "
            f"commit {head[:10]}{'+' + dirty if dirty else ''}")


def command() -> str:
    """The command line that is running, as a user would type it."""
    return " ".join(["python -m bench", *sys.argv[1:]])


def save(name: str, data: dict) -> Path:
    """Write ``bench/results/NAME.json`` with the machine record and the command line that made it."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"machine": machine(), "command": command(), **data}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None
