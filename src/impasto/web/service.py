"""Everything one server holds, in one place the route modules share (``create_app`` makes one):
the configuration, the job table and files, the workers, and the counters that keep clients
within their limits. Also the few rules more than one route needs: finding a job the browser
owns, the room left in the queue, showing a job."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import HTTPException, Path as PathParam, Request

from .access import Gate
from .config import WebConfig
from .files import FileArea
from .instant import InstantStyle, Previews
from .models import JobOut, Problem
from .store import Job, JobStore
from .throttle import Buckets, Slots
from .uploads import Decoder
from .views import job_out
from .worker import WorkerPool

if TYPE_CHECKING:  # (events.py imports this module)
    from .events import Notifier

JOB_ID = r"[A-Za-z0-9_-]{20,64}"
ERRORS = {code: {"model": Problem} for code in (401, 404, 409, 413, 415, 422, 429)}
job_id_param = PathParam(description="A job id returned by POST /api/jobs")


def owner_of(request: Request) -> str:
    """The hash of the browser's token (set by ``access.Access`` on every request)."""
    return request.state.owner


@dataclass
class Service:
    cfg: WebConfig
    store: JobStore
    files: FileArea
    instant: dict[str, InstantStyle]
    previews: Previews
    pool: WorkerPool
    decoder: Decoder
    gate: Gate
    notifier: "Notifier"
    guesses: Buckets
    streams: Slots
    stopping: threading.Event

    def find(self, job_id: str, owner: str) -> Job:
        """The browser's job, or 404 (also for another browser's: as if it did not exist)."""
        job = self.store.get(job_id, owner) if re.fullmatch(JOB_ID, job_id) else None
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    def out(self, job: Job) -> JobOut:
        return job_out(self.store, job, self.instant)

    def check_room(self, owner: str, client: str) -> None:
        """429 unless the queue, this browser and this address may have one more job. Called
        when a request arrives (before its uploads are read) and again just before the job is
        added, with no await in between, so parallel requests cannot all slip past it."""
        cfg = self.cfg
        if self.store.count("queued") >= cfg.max_queued:
            raise HTTPException(429, "the queue is full; try again later")
        if self.store.waiting(owner) >= cfg.max_waiting_per_client:
            n = cfg.max_waiting_per_client
            raise HTTPException(429, f"you already have {n} painting{'s' if n != 1 else ''} waiting; "
                                     "let one finish or cancel one first")
        if self.store.waiting_from(client) >= cfg.waiting_per_address:
            n = cfg.waiting_per_address
            raise HTTPException(429, f"this address already has {n} painting{'s' if n != 1 else ''} waiting "
                                     "(from every browser behind it); let one finish or cancel one first")

    def purge_old(self) -> int:
        """Delete finished jobs older than ``keep_days``, with their images."""
        if self.cfg.keep_days <= 0:
            return 0
        ids = self.store.delete_finished(before=time.time() - self.cfg.keep_days * 86400)
        for job_id in ids:
            self.files.remove(job_id)
        return len(ids)
