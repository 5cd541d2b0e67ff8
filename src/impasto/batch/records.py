"""What a batch leaves besides its pictures: a sidecar per finished output (the resume record)
and the results manifest (one JSON line per job).

A job is finished when its output exists *and* ``.impasto-batch/NAME.json`` beside it holds the
job's key. The picture is renamed into place first and the sidecar second, both atomically, so a
crash between the two costs one job painted again, never a half-written picture taken for done.
The sidecars live in a hidden folder beside the outputs so they travel with them (copy the
folder to another machine and a rerun there still skips what is done) without cluttering an
album.

The results manifest is appended one whole line per job, flushed and fsynced: after a crash or
Ctrl-C it lists exactly the jobs that ended, and a rerun writes it anew (skipped jobs included,
with the losses and worker recorded when they were done).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ImpastoError
from ..images.atomic import atomic_path
from .jobs import Job

SIDECAR_DIR = ".impasto-batch"


@dataclass
class Result:
    """How one job ended. ``data``: the encoded picture, written by the machine that runs the
    batch (so workers need no write access to the outputs), never put in the manifest."""

    job: str
    status: str  # done | failed | skipped
    output: str
    seconds: float = 0.0
    losses: dict[str, float] | None = None
    steps: int = 0
    worker: str = ""
    node: str | None = None  # the Ray node that ran it
    error: str | None = None
    data: bytes | None = field(default=None, repr=False)

    def record(self, job: Job | None = None) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "data"}
        d["seconds"] = round(self.seconds, 3)
        if job is not None:
            d.update(job.describe(), key=job.key, where=job.where)
        return d


def sidecar_path(output: str | os.PathLike[str]) -> Path:
    p = Path(output)
    return p.parent / SIDECAR_DIR / (p.name + ".json")


def finished(job: Job) -> dict[str, Any] | None:
    """The sidecar record when ``job`` is already done (same key, output present), else None."""
    side = sidecar_path(job.output)
    if not Path(job.output).is_file() or not side.is_file():
        return None
    try:
        rec = json.loads(side.read_text())
    except (OSError, ValueError):
        return None  # unreadable: paint again (the output is replaced atomically)
    return rec if isinstance(rec, dict) and rec.get("key") == job.key else None


def write_output(job: Job, result: Result) -> None:
    """The picture, then its sidecar; each appears whole or not at all."""
    assert result.data is not None
    out = Path(job.output)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            tmp.write_bytes(result.data)
        side = sidecar_path(out)
        side.parent.mkdir(exist_ok=True)
        with atomic_path(side) as tmp:
            tmp.write_text(json.dumps({**result.record(job), "finished": time.time(),
                                       "options": job.options.record()}, indent=1))
    except OSError as e:
        raise ImpastoError(f"cannot write {out}: {e.strerror or e}") from None


def skipped(job: Job, prior: dict[str, Any]) -> Result:
    """A finished job seen again: reported with what was recorded when it was done."""
    return Result(job.id, "skipped", job.output, 0.0, prior.get("losses"), prior.get("steps", 0),
                  prior.get("worker", ""), prior.get("node"))


class ResultsLog:
    """The results manifest (JSONL), each line written whole and fsynced before the next job."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        except OSError as e:
            raise ImpastoError(f"cannot write the results manifest {self.path}: {e.strerror}") from None

    def write(self, record: dict[str, Any]) -> None:
        os.write(self.fd, (json.dumps(record) + "\n").encode())
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)
