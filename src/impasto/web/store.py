"""The job table: one SQLite file in the data directory, the only record of what was asked for.

Every change is a single SQL statement or transaction, so a crash leaves each job either before
or after a change, never half-way; ``recover`` puts the jobs a dead server was running back in
the queue in their original order, unless the server has died on them ``max_attempts`` times.
Queue order is the ``seq`` column (insertion order), per lane: ``paint`` jobs (the optimisation)
and ``instant`` jobs (a shipped feed-forward model, about a second) are taken by different
workers, so an instant job never waits behind a long painting.

Every job belongs to the browser that made it: ``owner`` is a hash of that browser's token
(``access.py``), and every read or change a user can make is filtered by it. ``client`` is the
address it came from (``throttle.client_key``), so that a client that drops its cookie is still
counted as one.

``on_change(job_id)`` is told after every change, from whichever thread made it (the workers
record progress here): with a job id when only that job changed, with None when queue places
may have moved too. The event streams follow jobs through it instead of reading the table.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
LANES = ("paint", "instant")
_FINISHED_SQL = "('done', 'failed', 'cancelled')"

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
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    lane TEXT NOT NULL DEFAULT 'paint'
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
"""
# Columns added since the first release, for tables made before them (jobs without an owner
# are shown to nobody: no browser can prove it made them).
_ADDED = {"owner": "TEXT", "lane": "TEXT NOT NULL DEFAULT 'paint'", "client": "TEXT"}
_INDEXES = "CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, seq);"


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
    owner: str | None
    lane: str
    client: str | None = None

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

    def __init__(self, path: str | Path, on_change: Callable[[str | None], None] | None = None) -> None:
        self.path = Path(path)
        self.on_change = on_change
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            have = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
            for name, kind in _ADDED.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
            self._db.executescript(_INDEXES)

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

    def _changed(self, job_id: str | None) -> None:
        if self.on_change is not None:
            self.on_change(job_id)

    # -- creating and reading -------------------------------------------------------------
    def add(self, job_id: str, params: dict[str, Any], total: int, owner: str, lane: str = "paint",
            client: str | None = None) -> Job:
        assert lane in LANES
        self._exec("INSERT INTO jobs (id, state, created, params, total, owner, lane, client) "
                   "VALUES (?, 'queued', ?, ?, ?, ?, ?, ?)",
                   (job_id, time.time(), json.dumps(params), total, owner, lane, client))
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job; with ``owner``, only if that browser made it (else None, as if unknown)."""
        job = self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if job is None or (owner is not None and job.owner != owner):
            return None
        return job

    def list(self, owner: str, limit: int = 50, offset: int = 0) -> list[Job]:
        """Newest first: one browser's history."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE owner = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
                                    (owner, limit, offset)).fetchall()
        return [_job(r) for r in rows]

    def count(self, state: str | None = None, owner: str | None = None) -> int:
        """Jobs in ``state`` (any when None), of ``owner`` (everyone's when None)."""
        sql, args = "SELECT COUNT(*) FROM jobs WHERE 1", []
        if state is not None:
            sql, args = sql + " AND state = ?", args + [state]
        if owner is not None:
            sql, args = sql + " AND owner = ?", args + [owner]
        with self._lock:
            return self._db.execute(sql, args).fetchone()[0]

    def waiting(self, owner: str) -> int:
        """A browser's jobs that are not finished yet (queued or running)."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs WHERE owner = ? AND state IN "
                                    "('queued', 'running')", (owner,)).fetchone()[0]

    def waiting_from(self, client: str) -> int:
        """A client address's jobs that are not finished yet, whichever browser made them."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs WHERE client = ? AND state IN "
                                    "('queued', 'running')", (client,)).fetchone()[0]

    def jobs_ahead(self, job: Job) -> int:
        """How many jobs will start or finish before this queued one starts (in its lane)."""
        with self._lock:
            return self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE lane = ? AND ((state = 'queued' AND seq < ?) "
                "OR state = 'running')", (job.lane, job.seq)).fetchone()[0]

    # -- the worker's side ----------------------------------------------------------------
    def claim_next(self, lane: str = "paint") -> Job | None:
        """Mark the lane's oldest queued job running and return it; None when there is none."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT seq FROM jobs WHERE state = 'queued' AND lane = ? ORDER BY seq LIMIT 1",
                    (lane,)).fetchone()
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
        claimed = _job(job)
        self._changed(claimed.id)
        return claimed

    def progress(self, job_id: str, step: int, total: int, losses: dict[str, float] | None,
                 eta: float | None, new_preview: bool) -> None:
        """Record a running job's step; ``total`` is what this run plans (it may differ from
        the estimate made when the job was queued, e.g. after a restart with new settings)."""
        self._exec("UPDATE jobs SET step = ?, total = ?, losses = ?, eta = ?, "
                   "preview_version = preview_version + ? WHERE id = ? AND state = 'running'",
                   (step, max(step, total), json.dumps(losses) if losses else None, eta,
                    int(new_preview), job_id))
        self._changed(job_id)

    def set_params(self, job_id: str, params: dict[str, Any]) -> None:
        """Replace a job's recorded request (a worker records the device it runs the job on)."""
        self._exec("UPDATE jobs SET params = ? WHERE id = ?", (json.dumps(params), job_id))

    def finish(self, job_id: str, state: str, error: str | None = None) -> None:
        assert state in FINISHED
        self._exec("UPDATE jobs SET state = ?, finished = ?, error = ?, eta = NULL WHERE id = ?",
                   (state, time.time(), error, job_id))
        self._changed(None)

    def requeue(self, job_id: str) -> None:
        """The server is stopping: put a running job back in its place in the queue. This
        attempt does not count towards ``max_attempts`` (the job did not kill the server)."""
        self._exec("UPDATE jobs SET state = 'queued', started = NULL, step = 0, eta = NULL, "
                   "attempts = MAX(0, attempts - 1) WHERE id = ? AND state = 'running'", (job_id,))
        self._changed(None)

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
        self._changed(None)
        return self.get(job_id)

    def delete(self, job_id: str, owner: str) -> bool:
        """Forget one of ``owner``'s jobs unless it is running (a queued one is simply dropped).
        False when there is no such job or it is running."""
        gone = self._exec("DELETE FROM jobs WHERE id = ? AND owner = ? AND state != 'running'",
                          (job_id, owner)) > 0
        if gone:
            self._changed(None)
        return gone

    def delete_finished(self, owner: str | None = None, before: float | None = None) -> list[str]:
        """Forget finished jobs, of ``owner`` (everyone's when None), finished before ``before``
        (any time when None); returns their ids so their files can go too."""
        sql, args = f"FROM jobs WHERE state IN {_FINISHED_SQL}", []
        if owner is not None:
            sql, args = sql + " AND owner = ?", args + [owner]
        if before is not None:
            sql, args = sql + " AND finished < ?", args + [before]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            ids = [r[0] for r in self._db.execute("SELECT id " + sql, args)]
            self._db.execute("DELETE " + sql, args)
            self._db.execute("COMMIT")
        if ids:
            self._changed(None)
        return ids

    # -- start-up -------------------------------------------------------------------------
    def recover(self, max_attempts: int = 3) -> int:
        """After a crash: running jobs go back to the queue (keeping their place), unless the
        user had asked to cancel them or the server has now died ``max_attempts`` times while
        running them (a job that kills the server would otherwise do so at every start).
        Returns how many were queued again."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE jobs SET state = 'cancelled', finished = ? "
                             "WHERE state = 'running' AND cancel_requested = 1", (now,))
            self._db.execute(
                "UPDATE jobs SET state = 'failed', finished = ?, eta = NULL, error = ? "
                "WHERE state = 'running' AND attempts >= ?",
                (now, f"the server crashed {max_attempts} times while painting this job (perhaps out of "
                      "memory), so it is not tried again; a smaller output size may work", max_attempts))
            n = self._db.execute("UPDATE jobs SET state = 'queued', started = NULL, step = 0, eta = NULL "
                                 "WHERE state = 'running'").rowcount
            self._db.execute("COMMIT")
        return n
