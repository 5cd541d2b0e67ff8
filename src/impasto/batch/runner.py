"""Running a planned batch on an executor: skip what is done, write what ends, report everything.

The executor (local or Ray) only paints; everything that touches the outputs happens here, in
the one process that owns them: the leftovers of a killed run, the resume check, the atomic
writes, the sidecars, the results manifest and the progress bar. Ctrl-C stops cleanly: what
ended is written and recorded, the executor is closed (Ray cancels its tasks), and a rerun
picks up the rest. Lines the planner left out (``--skip-bad``) are recorded as ``rejected``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..errors import ImpastoError
from .folders import remove_leftovers
from .jobs import Job
from .records import Result, ResultsLog, finished, skipped, write_output


class Executor(Protocol):
    name: str

    def run(self, jobs: Sequence[Job]) -> Iterable[Result]: ...

    def close(self) -> None: ...


@dataclass
class Summary:
    total: int
    done: int = 0
    skipped: int = 0
    failed: list[tuple[Job, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (where, why): left out by the planner
    leftovers: int = 0  # temporary files of a killed run, removed
    interrupted: bool = False
    seconds: float = 0.0


class Bar:
    """Jobs done out of jobs to do, with the ETA, and the counts; silent with ``quiet``."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.bar = None
        if not quiet and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="job", dynamic_ncols=True, file=sys.stderr, mininterval=0.25)

    def update(self, s: Summary) -> None:
        if self.bar is not None:
            self.bar.set_postfix(done=s.done, failed=len(s.failed), refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_batch(jobs: Sequence[Job], executor: Executor, results: str | Path, quiet: bool = True,
              rejected: Sequence[tuple[str, str]] = ()) -> Summary:
    """Run every job not already done; see the module docstring. ``rejected``: the (where, why)
    of lines the planner left out, recorded in the results manifest and counted."""
    start = time.monotonic()
    s = Summary(len(jobs) + len(rejected), rejected=list(rejected))
    log = ResultsLog(results)
    for where, why in rejected:
        log.write({"job": where, "status": "rejected", "output": None, "error": why, "where": where})
    s.leftovers = remove_leftovers(jobs)
    todo = []
    for job in jobs:
        prior = finished(job)
        if prior is None:
            todo.append(job)
        else:
            log.write(skipped(job, prior).record(job))
            s.skipped += 1
    by_id = {j.id: j for j in todo}
    bar = Bar(len(todo), quiet)
    stream = iter(executor.run(todo)) if todo else iter(())
    try:
        for r in stream:
            job = by_id[r.job]
            if r.status == "done":
                try:
                    write_output(job, r)
                except ImpastoError as e:
                    r.status, r.error = "failed", str(e)
            if r.status == "done":
                s.done += 1
            else:
                s.failed.append((job, r.error or "unknown error"))
            log.write(r.record(job))
            bar.update(s)
    except KeyboardInterrupt:
        s.interrupted = True
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # a generator's finally: Ray cancels what is still queued or running
        executor.close()
        bar.close()
        log.close()
    s.seconds = time.monotonic() - start
    return s
