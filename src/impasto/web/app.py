"""The FastAPI application: the REST API, the progress stream and the page.

``create_app(config)`` builds one server: the job table and files in ``config.data_dir``, one
worker per device (started and stopped with the app, after putting back in the queue whatever
a previous server left running). Routes only validate, store and read; all painting happens in
the workers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, File, Form, HTTPException, Path as PathParam, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from .config import QUALITIES, WebConfig
from .files import FileArea
from .gallery import BY_ID, PAINTINGS
from .jobspec import MAX_STRENGTH, MIN_STRENGTH, check_spec, to_options, total_steps
from .limits import BodyLimit, SecurityHeaders
from .models import Capabilities, JobList, JobOut, Problem, QualityOut, StyleOut
from .store import Job, JobStore
from .uploads import decode_image, read_limited, store_image
from .worker import WorkerPool

STATIC = Path(__file__).parent / "static"
JOB_ID = r"[A-Za-z0-9_-]{20,64}"
ERRORS = {code: {"model": Problem} for code in (404, 409, 413, 415, 422, 429)}
STREAM_POLL_S = 0.2
HEARTBEAT_S = 15.0


def _job_out(store: JobStore, job: Job) -> JobOut:
    base = f"/api/jobs/{job.id}"
    style_id = job.params.get("style_id")
    return JobOut(
        id=job.id, state=job.state, created=job.created, started=job.started, finished=job.finished,
        jobs_ahead=store.jobs_ahead(job) if job.state == "queued" else None,
        step=job.step, total=job.total, progress=min(1.0, job.step / job.total) if job.total else 0.0,
        eta_seconds=job.eta, losses=job.losses, preview_version=job.preview_version, error=job.error,
        style_title=BY_ID[style_id].title if style_id in BY_ID else "your style image",
        options=job.params,
        links=dict(self=base, events=f"{base}/events", content=f"{base}/content", style=f"{base}/style",
                   preview=f"{base}/preview", result=f"{base}/result",
                   download=f"{base}/result?download=true", cancel=f"{base}/cancel"),
    )


def _one_line(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    e = errors[0]
    where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{where}: {e.get('msg', 'invalid value')}" if where else str(e.get("msg", "invalid value"))


def create_app(config: WebConfig | None = None) -> FastAPI:
    """One impasto web server over ``config.data_dir``; run it with uvicorn or the test client."""
    cfg = config or WebConfig()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(cfg.data_dir / "jobs.sqlite3")
    files = FileArea(cfg.data_dir)
    pool = WorkerPool(store, files, cfg)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.recover()
        pool.start()
        try:
            yield
        finally:
            await run_in_threadpool(pool.stop)

    app = FastAPI(
        title="impasto",
        version=__version__,
        description="Neural style transfer as a service: queue a photo and a painting, watch the "
                    "result form, download it. Every error is JSON with one field, detail: one line "
                    "saying what was wrong.",
        lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/openapi.json",
    )
    app.state.config, app.state.store, app.state.files, app.state.pool = cfg, store, files, pool
    app.add_middleware(BodyLimit, max_bytes=cfg.max_request_bytes)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    def find(job_id: str) -> Job:
        job = store.get(job_id) if re.fullmatch(JOB_ID, job_id) else None
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    job_id_param = PathParam(description="A job id returned by POST /api/jobs")

    # -- the page -----------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", media_type="text/html")

    # -- reference data -------------------------------------------------------------------------
    @app.get("/api/styles", response_model=list[StyleOut], tags=["styles"],
             summary="The bundled public-domain paintings")
    async def styles() -> list[dict]:
        return [p.public() for p in PAINTINGS]

    @app.get("/api/capabilities", response_model=Capabilities, tags=["service"],
             summary="Limits and choices the server accepts")
    async def capabilities() -> Capabilities:
        return Capabilities(
            max_upload_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_pixels, min_size=cfg.min_size,
            max_size=cfg.max_size, default_size=cfg.default_size, min_strength=MIN_STRENGTH,
            max_strength=MAX_STRENGTH, workers=len(cfg.devices), color_in_engine=True,
            qualities=[QualityOut(id=q, iterations=cfg.quality_iterations[q]) for q in QUALITIES])

    # -- jobs -----------------------------------------------------------------------------------
    @app.post("/api/jobs", response_model=JobOut, status_code=201, responses=ERRORS, tags=["jobs"],
              summary="Queue a job: a content photo plus a bundled style_id or an uploaded style")
    async def create_job(
        request: Request,
        content: UploadFile = File(description="The photo to paint (PNG, JPEG, WebP, ...)"),
        style: UploadFile | None = File(None, description="A style image; or give style_id"),
        style_id: str | None = Form(None, description="A bundled painting (GET /api/styles)"),
        style_strength: float = Form(1.0, description=f"{MIN_STRENGTH:g} to {MAX_STRENGTH:g}; 1 = default"),
        size: int | None = Form(None, description="Long edge of the result; clamped to the server's range"),
        preserve_color: bool = Form(False, description="Keep the photo's colours"),
        quality: str = Form("balanced", description="fast, balanced or best"),
    ) -> JSONResponse:
        if store.count("queued") >= cfg.max_queued:
            raise HTTPException(429, "the queue is full; try again later")
        style_id = style_id or None
        has_style_file = style is not None and bool(style.filename or style.size)
        if style_id and has_style_file:
            raise HTTPException(422, "give either style_id or a style image, not both")
        if not style_id and not has_style_file:
            raise HTTPException(422, "a style is needed: give style_id or upload a style image")
        if style_id and style_id not in BY_ID:
            raise HTTPException(422, f"unknown style_id {style_id!r}; choose {', '.join(BY_ID)}")
        spec = check_spec(cfg, style_strength, size, preserve_color, quality, style_id)

        content_bytes = await read_limited(content, "content", cfg.max_upload_bytes)
        content_img = await run_in_threadpool(decode_image, content_bytes, "content", cfg.max_pixels)
        del content_bytes
        style_img = None
        if has_style_file:
            style_bytes = await read_limited(style, "style", cfg.max_upload_bytes)
            style_img = await run_in_threadpool(decode_image, style_bytes, "style", cfg.max_pixels)
            del style_bytes

        job_id = secrets.token_urlsafe(24)
        job_files = files.create(job_id)
        try:
            keep = 2 * cfg.max_size  # room for style_scale > 1 without storing 40 MP
            await run_in_threadpool(store_image, content_img, job_files.content, keep)
            if style_img is not None:
                await run_in_threadpool(store_image, style_img, job_files.style, keep)
            engine = to_options(spec, cfg, "auto")
            job = store.add(job_id, {**spec.as_dict(), "engine": engine.record()}, total_steps(engine))
        except BaseException:
            files.remove(job_id)
            raise
        pool.notify()
        out = _job_out(store, job)
        return JSONResponse(out.model_dump(), status_code=201, headers={"Location": out.links.self})

    @app.get("/api/jobs", response_model=JobList, tags=["jobs"], summary="The history, newest first")
    async def list_jobs(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> JobList:
        return JobList(jobs=[_job_out(store, j) for j in store.list(limit, offset)], total=store.count())

    @app.get("/api/jobs/{job_id}", response_model=JobOut, responses=ERRORS, tags=["jobs"],
             summary="A job's state and progress")
    async def get_job(job_id: str = job_id_param) -> JobOut:
        return _job_out(store, find(job_id))

    @app.post("/api/jobs/{job_id}/cancel", response_model=JobOut, responses=ERRORS, tags=["jobs"],
              summary="Cancel a queued job, or stop a running one at its next step")
    async def cancel_job(job_id: str = job_id_param) -> JobOut:
        job = find(job_id)
        if job.is_finished:
            raise HTTPException(409, f"the job is already {job.state}")
        job = store.request_cancel(job_id) or job
        return _job_out(store, job)

    @app.get("/api/jobs/{job_id}/events", tags=["jobs"], responses={**ERRORS, 200: {
        "content": {"text/event-stream": {}},
        "description": "Server-Sent Events: `progress` events carry the job (as GET /api/jobs/{id}) "
                       "plus `preview`, a JPEG data URL, whenever a new intermediate image exists; "
                       "a final `end` event follows when the job is done, failed or cancelled."}},
             summary="Stream a job's progress (Server-Sent Events)")
    async def job_events(request: Request, job_id: str = job_id_param) -> StreamingResponse:
        find(job_id)
        return StreamingResponse(_stream(request, store, files, job_id), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def _image(job_id: str, which: str) -> Path:
        path = getattr(files.for_job(job_id), which)
        if not path.is_file():
            raise HTTPException(404, f"this job has no {which} image yet")
        return path

    @app.get("/api/jobs/{job_id}/result", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
             tags=["images"], summary="The finished painting (PNG)")
    async def result(job_id: str = job_id_param, download: bool = False) -> FileResponse:
        job = find(job_id)
        if job.state != "done":
            raise HTTPException(409, f"the job is {job.state}; there is no result")
        name = f"impasto-{job_id[:10]}.png" if download else None
        return FileResponse(_image(job_id, "result"), media_type="image/png", filename=name,
                            content_disposition_type="attachment" if download else "inline")

    @app.get("/api/jobs/{job_id}/preview", responses={**ERRORS, 200: {"content": {"image/jpeg": {}}}},
             tags=["images"], summary="The latest intermediate image (JPEG)")
    async def preview(job_id: str = job_id_param) -> FileResponse:
        find(job_id)
        return FileResponse(_image(job_id, "preview"), media_type="image/jpeg",
                            headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/content", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
             tags=["images"], summary="The content photo as stored")
    async def content_image(job_id: str = job_id_param) -> FileResponse:
        find(job_id)
        return FileResponse(_image(job_id, "content"), media_type="image/png")

    @app.get("/api/jobs/{job_id}/style", responses={**ERRORS, 200: {"content": {"image/*": {}}}},
             tags=["images"], summary="The style image (uploaded or bundled)")
    async def style_image(job_id: str = job_id_param) -> FileResponse:
        job = find(job_id)
        sid = job.params.get("style_id")
        if sid in BY_ID:
            return FileResponse(BY_ID[sid].path, media_type="image/jpeg")
        return FileResponse(_image(job_id, "style"), media_type="image/png")

    return app


def _data_url(path: Path) -> str | None:
    try:
        return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    except OSError:
        return None


async def _stream(request: Request, store: JobStore, files: FileArea, job_id: str) -> AsyncIterator[str]:
    """Poll the job table and send an event whenever the job changes; end when it finishes."""
    last: tuple | None = None
    sent_preview = -1
    quiet = 0.0
    yield "retry: 1000\n\n"
    while True:
        job = store.get(job_id)
        if job is None:
            return
        out = _job_out(store, job)
        key = (job.state, job.step, job.preview_version, out.jobs_ahead)
        if key != last:
            last, quiet = key, 0.0
            data = out.model_dump()
            if job.preview_version != sent_preview and job.preview_version > 0:
                data["preview"] = await run_in_threadpool(_data_url, files.for_job(job_id).preview)
                sent_preview = job.preview_version
            yield f"event: progress\ndata: {json.dumps(data)}\n\n"
        if job.is_finished:
            yield f"event: end\ndata: {json.dumps({'state': job.state})}\n\n"
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(STREAM_POLL_S)
        quiet += STREAM_POLL_S
        if quiet >= HEARTBEAT_S:
            quiet = 0.0
            yield ": still here\n\n"
