"""The ``tests`` part: the device-aware test subset, run on the device being measured."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ..paths import ROOT
from .session import Session

TEST_FILES = ("tests/test_transfer.py", "tests/test_losses.py", "tests/test_beyond.py", "tests/test_fast.py",
              "tests/test_optim.py", "tests/test_graphed.py")
TINY_SUBSET = "losses_fall or ring_buffers or graphed_run or training_lowers or quadratic"


def part_tests(s: Session) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-rfE", "-p", "no:cacheprovider", "-m", "device",
           *TEST_FILES]
    if s.tiny:
        cmd += ["-k", TINY_SUBSET]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "IMPASTO_TEST_DEVICE": s.device},
                       timeout=max(60.0, s.left() - 30))
    (s.out / "pytest.txt").write_text(r.stdout + r.stderr)
    summary = next((ln for ln in reversed(r.stdout.splitlines()) if " in " in ln and ("passed" in ln or "failed" in ln)),
                   r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "no output")
    counts = {k: int(n) for n, k in (w.split(" ", 1) for w in summary.strip("= ").split(" in ")[0].split(", ")
                                     if w.split(" ", 1)[0].isdigit())}
    s.log(f"tests on {s.device}: {summary.strip('= ')}")
    return {"device": s.device, "summary": summary.strip("= "), "counts": counts, "exit": r.returncode,
            "seconds": round(time.perf_counter() - t, 1)}
