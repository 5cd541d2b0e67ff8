"""The job table: one SQLite file in the data directory, the only record of what was asked for.

Every change is a single SQL statement or transaction, so a crash leaves each job either before
or after a change, never half-way; ``recover`` puts the jobs a dead server was running back in
the queue in their original order. Queue order is the ``seq`` column (insertion order).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    params TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    losses TEXT,
    eta REAL,
    preview_version INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
"""


@dataclass
class Job:
    """One row of the job table, as the rest of the service sees it."""

    seq: int
    id: str
    state: str
    created: float
    started: float | None
    finished: float | None
    params: dict[str, Any]
    step: int
    total: int
    losses: dict[str, float] | None
    eta: float | None
    preview_version: int
    error: str | None
    cancel_requested: bool
    attempts: int

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    d["params"] = json.loads(d["params"])
    d["losses"] = json.loads(d["losses"]) if d["losses"] else None
    d["cancel_requested"] = bool(d["cancel_requested"])
    return Job(**d)


class JobStore:
    """Thread-safe access to the job table (one connection, one lock: the table is tiny)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple = ()) -> Job | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return _job(row) if row else None

    def _exec(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # -- creating and reading -------------------------------------------------------------
    def add(self, job_id: str, params: dict[str, Any], total: int) -> Job:
        self._exec("INSERT INTO jobs (id, state, created, params, total) VALUES (?, 'queued', ?, ?, ?)",
                   (job_id, time.time(), json.dumps(params), total))
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def list(self, limit: int = 50, offset: int = 0) -> list[Job]:
        """Newest first: the page's history."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT ? OFFSET ?",
                                    (limit, offset)).fetchall()
        return [_job(r) for r in rows]

    def count(self, state: str | None = None) -> int:
        with self._lock:
            if state is None:
                return self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,)).fetchone()[0]

    def jobs_ahead(self, job: Job) -> int:
        """How many jobs will start or finish before this queued one starts."""
        with self._lock:
            return self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE (state = 'queued' AND seq < ?) OR state = 'running'",
                (job.seq,)).fetchone()[0]

    # -- the worker's side ----------------------------------------------------------------
    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running and return it; None when the queue is empty."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT seq FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
                if row is None:
                    self._db.execute("COMMIT")
                    return None
                self._db.execute(
                    "UPDATE jobs SET state = 'running', started = ?, step = 0, eta = NULL, "
                    "attempts = attempts + 1 WHERE seq = ?", (time.time(), row[0]))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            job = self._db.execute("SELECT * FROM jobs WHERE seq = ?", (row[0],)).fetchone()
        return _job(job)

    def progress(self, job_id: str, step: int, total: int, losses: dict[str, float] | None,
                 eta: float | None, new_preview: bool) -> None:
        """Record a running job's step; ``total`` is what this run plans (it may differ from
        the estimate made when the job was queued, e.g. after a restart with new settings)."""
        self._exec("UPDATE jobs SET step = ?, total = ?, losses = ?, eta = ?, "
                   "preview_version = preview_version + ? WHERE id = ? AND state = 'running'",
                   (step, max(step, total), json.dumps(losses) if losses else None, eta,
                    int(new_preview), job_id))

    def finish(self, job_id: str, state: str, error: str | None = None) -> None:
        assert state in FINISHED
        self._exec("UPDATE jobs SET state = ?, finished = ?, error = ?, eta = NULL WHERE id = ?",
                   (state, time.time(), error, job_id))

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    # -- the user's side ------------------------------------------------------------------
    def request_cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job at once; ask a running one to stop at its next step."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE jobs SET state = 'cancelled', finished = ?, cancel_requested = 1 "
                             "WHERE id = ? AND state = 'queued'", (time.time(), job_id))
            self._db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'",
                             (job_id,))
            self._db.execute("COMMIT")
        return self.get(job_id)

    # -- start-up -------------------------------------------------------------------------
    def recover(self) -> int:
        """After a crash: running jobs go back to the queue (keeping their place), unless the
        user had asked to cancel them. Returns how many were queued again."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE jobs SET state = 'cancelled', finished = ? "
                             "WHERE state = 'running' AND cancel_requested = 1", (time.time(),))
            n = self._db.execute("UPDATE jobs SET state = 'queued', started = NULL, step = 0, eta = NULL "
                                 "WHERE state = 'running'").rowcount
            self._db.execute("COMMIT")
        return n
