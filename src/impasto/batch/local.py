"""The in-process engine: every job in this process, one after another, on one loaded network.

Nothing to install and nothing to start; what ``impasto batch`` uses without ``--ray``. It has
the interface of :class:`~impasto.batch.rayexec.RayExecutor`: ``run(jobs)`` yields one
:class:`~impasto.batch.records.Result` per job as it ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .jobs import Job
from .records import Result
from .worker import run_job


class LocalExecutor:
    """Runs jobs here, in order. ``threads``: torch threads (default: torch's own, all cores)."""

    name = "local"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def run(self, jobs: Sequence[Job]) -> Iterator[Result]:
        for job in jobs:
            yield run_job(job, self.threads)

    def close(self) -> None:
        """Nothing held beyond the process's loaded network."""
