"""How the API shows things: a job as ``JobOut``, a validation error as one line."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError

from .config import INSTANT
from .gallery import BY_ID
from .instant import InstantStyle
from .models import JobOut
from .store import Job, JobStore


def job_out(store: JobStore, job: Job, instant: dict[str, InstantStyle]) -> JobOut:
    base = f"/api/jobs/{job.id}"
    style_id = job.params.get("style_id")
    is_instant = job.params.get("quality") == INSTANT
    by_network = is_instant and style_id not in instant  # the arbitrary-style network painted a painting
    if is_instant and not by_network:
        style = instant.get(style_id or "")
        title = f"{style.title if style else style_id} (instant)"
    else:
        title = BY_ID[style_id].title if style_id in BY_ID else "your style image"
        title += " (instant)" if by_network else ""
    refinable = is_instant and job.state == "done" and (by_network or (
        bool(instant.get(style_id or "")) and instant[style_id].painting_id is not None))
    return JobOut(
        id=job.id, state=job.state, instant=is_instant, created=job.created, started=job.started,
        finished=job.finished, jobs_ahead=store.jobs_ahead(job) if job.state == "queued" else None,
        step=job.step, total=job.total, progress=min(1.0, job.step / job.total) if job.total else 0.0,
        eta_seconds=job.eta, losses=job.losses, preview_version=job.preview_version, error=job.error,
        style_title=title, refinable=refinable, options=job.params,
        links=dict(self=base, events=f"{base}/events", content=f"{base}/content", style=f"{base}/style",
                   preview=f"{base}/preview", result=f"{base}/result", thumbnail=f"{base}/thumbnail",
                   download=f"{base}/result?download=true", cancel=f"{base}/cancel", refine=f"{base}/refine"),
    )


def one_line(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    e = errors[0]
    where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{where}: {e.get('msg', 'invalid value')}" if where else str(e.get("msg", "invalid value"))
