"""One ``gpu`` command's state: where results, log and files go, the clock and the budget."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

import torch

from .. import record
from .plan import Plan


class Session:
    """Results are rewritten after every part, so a call cut short keeps what it measured."""

    def __init__(self, out: Path, device: str, plan: Plan, budget: float, tiny: bool) -> None:
        self.out, self.device, self.plan, self.tiny = out, device, plan, tiny
        self.work = Path(os.environ.get("IMPASTO_BENCH_WORK", "/tmp/impasto-gpu-bench"))
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        out.mkdir(parents=True, exist_ok=True)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + budget
        self.results: dict = OrderedDict(command=record.command(), tiny=tiny, plan=asdict(plan), parts=OrderedDict(),
                                         seconds=OrderedDict())
        self.logf = open(out / "log.txt", "a", buffering=1)

    @property
    def cuda(self) -> bool:
        return torch.device(self.device).type == "cuda"

    def precisions(self) -> tuple[str, ...]:
        """impasto's precisions worth timing here: tf32 and bf16 on CUDA, fp32 and bf16 on a CPU."""
        return ("tf32", "bf16") if self.cuda else ("fp32", "bf16")

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, msg: str) -> None:
        line = f"[{time.monotonic() - self.t0:7.1f}s] {msg}"
        print(line, flush=True)
        self.logf.write(line + "\n")

    def save(self) -> None:
        tmp = self.out / "results.json.tmp"
        tmp.write_text(json.dumps(self.results, indent=1, default=str))
        tmp.replace(self.out / "results.json")

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
