"""The bench's two clocks: a whole process, start to exit, and the median of repeated calls."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable


def run_timed(cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None,
              cwd: os.PathLike | None = None, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``cmd`` (``env`` added to this process's); its wall time and its result, output kept.

    A failed command raises with the tail of its output unless ``check`` is off, because a
    time measured on a run that did not finish is no figure."""
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout,
                       cwd=cwd)
    wall = time.perf_counter() - t
    if check and r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-8:]
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {r.returncode}: " + " | ".join(tail))
    return wall, r


def median_call(fn: Callable[[], object], repeat: int, sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds of ``fn`` over ``repeat`` calls after one warm-up call; ``sync`` waits for
    an asynchronous device so that its work is counted in the call that queued it."""
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
