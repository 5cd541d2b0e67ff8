"""The FastAPI application: the REST API, the progress stream and the page.

``create_app(config)`` builds one server: the job table and files in ``config.data_dir``, the
workers (started and stopped with the app, after putting back in the queue whatever a previous
server left running), and the guards every request passes first (``access.py``: the Host and
Origin checks, the browser's owner token, the optional password; ``limits.py``: body size,
security headers). Routes only validate, store and read; all painting happens in the workers.
Every job belongs to the browser that made it: another browser gets 404 for it, as for a job
that does not exist.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from fastapi import (Depends, FastAPI, File, Form, HTTPException, Path as PathParam, Query, Request, Response,
                     UploadFile)
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image

from .. import __version__
from ..errors import ImpastoError
from ..images.io import save_image
from .access import Access, Gate, HostCheck
from .config import INSTANT, QUALITIES, WebConfig
from .files import FileArea
from .gallery import BY_ID, PAINTINGS
from .instant import InstantStyle, Previews, shipped_instant_styles
from .jobspec import MAX_STRENGTH, MIN_STRENGTH, JobSpec, check_shape, check_spec, to_options, total_steps
from .limits import BodyLimit, SecurityHeaders
from .models import (Capabilities, Deleted, InstantStyleOut, JobList, JobOut, Problem, QualityOut,
                     StyleOut)
from .store import Job, JobStore
from .uploads import Decoder, read_limited
from .worker import WorkerPool

log = logging.getLogger("impasto.web")

STATIC = Path(__file__).parent / "static"
JOB_ID = r"[A-Za-z0-9_-]{20,64}"
ERRORS = {code: {"model": Problem} for code in (401, 404, 409, 413, 415, 422, 429)}
STREAM_POLL_S = 0.2
HEARTBEAT_S = 15.0
PURGE_EVERY_S = 3600.0
MAX_OFFSET = 2**31 - 1
JOB_FIELDS = {"content", "style", "style_id", "style_strength", "size", "preserve_color", "quality"}
REFINE_FIELDS = {"quality", "style_strength"}


def _job_out(store: JobStore, job: Job, instant: dict[str, InstantStyle]) -> JobOut:
    base = f"/api/jobs/{job.id}"
    style_id = job.params.get("style_id")
    is_instant = job.params.get("quality") == INSTANT
    if is_instant:
        style = instant.get(style_id or "")
        title = f"{style.title if style else style_id} (instant)"
    else:
        title = BY_ID[style_id].title if style_id in BY_ID else "your style image"
    refinable = is_instant and job.state == "done" and bool(instant.get(style_id or "")) \
        and instant[style_id].painting_id is not None
    return JobOut(
        id=job.id, state=job.state, instant=is_instant, created=job.created, started=job.started,
        finished=job.finished, jobs_ahead=store.jobs_ahead(job) if job.state == "queued" else None,
        step=job.step, total=job.total, progress=min(1.0, job.step / job.total) if job.total else 0.0,
        eta_seconds=job.eta, losses=job.losses, preview_version=job.preview_version, error=job.error,
        style_title=title, refinable=refinable, options=job.params,
        links=dict(self=base, events=f"{base}/events", content=f"{base}/content", style=f"{base}/style",
                   preview=f"{base}/preview", result=f"{base}/result",
                   download=f"{base}/result?download=true", cancel=f"{base}/cancel", refine=f"{base}/refine"),
    )


def _one_line(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    e = errors[0]
    where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{where}: {e.get('msg', 'invalid value')}" if where else str(e.get("msg", "invalid value"))


async def _only_fields(request: Request, allowed: set[str]) -> None:
    """Refuse form fields the API does not know (``iterations=...`` must not pass unnoticed)."""
    unknown = sorted(set((await request.form()).keys()) - allowed)
    if unknown:
        raise HTTPException(422, f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                                 f"the fields are {', '.join(sorted(allowed))}")


def owner_of(request: Request) -> str:
    """The hash of the browser's token (set by ``access.Access`` on every request)."""
    return request.state.owner


def begin_shutdown(app: FastAPI) -> None:
    """The server was told to stop (Ctrl-C, SIGTERM): end the event streams and tell the workers
    to leave their jobs now, rather than after the connections close (an open stream would
    otherwise keep the server painting until its job ended). Safe to call more than once."""
    app.state.stopping.set()
    app.state.pool.begin_stop()


def create_app(config: WebConfig | None = None) -> FastAPI:
    """One impasto web server over ``config.data_dir``; run it with uvicorn or the test client."""
    cfg = config or WebConfig()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(cfg.data_dir / "jobs.sqlite3")
    files = FileArea(cfg.data_dir)
    instant = shipped_instant_styles()
    previews = Previews(cfg.data_dir)
    pool = WorkerPool(store, files, cfg, instant)
    decoder = Decoder(cfg)
    gate = Gate(cfg.data_dir, cfg.password)
    stopping = threading.Event()

    def purge_old() -> int:
        """Delete finished jobs older than ``keep_days``, with their images."""
        if cfg.keep_days <= 0:
            return 0
        ids = store.delete_finished(before=time.time() - cfg.keep_days * 86400)
        for job_id in ids:
            files.remove(job_id)
        return len(ids)

    async def janitor() -> None:
        while True:
            try:
                await run_in_threadpool(purge_old)
            except Exception:
                log.exception("cannot delete old jobs")
            await asyncio.sleep(PURGE_EVERY_S)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.recover(cfg.max_attempts)
        pool.start()
        cleaning = asyncio.create_task(janitor())
        try:
            yield
        finally:
            cleaning.cancel()
            with suppress(asyncio.CancelledError):
                await cleaning
            begin_shutdown(app)
            await run_in_threadpool(pool.stop)

    app = FastAPI(
        title="impasto",
        version=__version__,
        description="Neural style transfer as a service: queue a photo and a painting, watch the "
                    "result form, download it. Every error is JSON with one field, detail: one line "
                    "saying what was wrong. Jobs belong to the browser that made them (a cookie): "
                    "keep the cookies between calls (curl -b jar -c jar).",
        lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/openapi.json",
    )
    app.state.config, app.state.store, app.state.files, app.state.pool = cfg, store, files, pool
    app.state.stopping, app.state.purge_old = stopping, purge_old
    # The last added runs first: size and Host/Origin before anything reads a cookie or a body.
    app.add_middleware(Access, gate=gate)
    app.add_middleware(BodyLimit, max_bytes=cfg.max_request_bytes)
    app.add_middleware(HostCheck, allowed_hosts=cfg.allowed_hosts)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still logs the traceback; the client gets JSON, like every other answer.
        return JSONResponse({"detail": "internal error (see the server log)"}, status_code=500)

    def find(job_id: str, owner: str) -> Job:
        job = store.get(job_id, owner) if re.fullmatch(JOB_ID, job_id) else None
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    def out(job: Job) -> JobOut:
        return _job_out(store, job, instant)

    def check_room(owner: str) -> None:
        if store.count("queued") >= cfg.max_queued:
            raise HTTPException(429, "the queue is full; try again later")
        if store.waiting(owner) >= cfg.max_waiting_per_client:
            n = cfg.max_waiting_per_client
            raise HTTPException(429, f"you already have {n} painting{'s' if n != 1 else ''} waiting; "
                                     "let one finish or cancel one first")

    async def queue(spec: JobSpec, owner: str, write: Callable[[Path, Path, Path], None]) -> JSONResponse:
        """Make the job's folder, let ``write(content, style, init)`` fill it, then queue the job."""
        if spec.instant:
            params, total, lane = spec.as_dict(), 1, "instant"  # one pass of a model
        else:  # the options the engine will run with, resolved now (and refused now if they cannot be)
            try:
                engine = to_options(spec, cfg, "auto")
            except ImpastoError as e:
                raise HTTPException(422, str(e)) from None
            params, total, lane = {**spec.as_dict(), "engine": engine.record()}, total_steps(engine), "paint"
        job_id = secrets.token_urlsafe(24)
        job_files = files.create(job_id)
        try:
            await run_in_threadpool(write, job_files.content, job_files.style, job_files.init)
            job = store.add(job_id, params, total, owner, lane)
        except BaseException:
            files.remove(job_id)
            raise
        pool.notify()
        body = out(job)
        return JSONResponse(body.model_dump(), status_code=201, headers={"Location": body.links.self})

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

    @app.get("/api/instant-styles", response_model=list[InstantStyleOut], tags=["styles"],
             summary="The instant styles: shipped models that paint a photo in about a second")
    async def instant_styles() -> list[dict]:
        return [s.public() for s in instant.values()]

    @app.get("/api/instant-styles/{style_id}/preview", tags=["styles"], responses={
        404: {"model": Problem}, 200: {"content": {"image/jpeg": {}}}},
        summary="A sample painted with an instant style (The Shipwreck, by Turner)")
    async def instant_preview(style_id: str) -> FileResponse:
        if style_id not in instant:
            raise HTTPException(404, "no such instant style")
        path = await run_in_threadpool(previews.path, instant[style_id])
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})

    @app.get("/api/capabilities", response_model=Capabilities, tags=["service"],
             summary="Limits and choices the server accepts")
    async def capabilities(request: Request) -> Capabilities:
        return Capabilities(
            max_upload_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_pixels, min_size=cfg.min_size,
            max_size=cfg.max_size, default_size=cfg.default_size, min_strength=MIN_STRENGTH,
            max_strength=MAX_STRENGTH, workers=len(cfg.devices), color_in_engine=True,
            qualities=[QualityOut(id=q, iterations=cfg.quality_iterations[q]) for q in QUALITIES],
            max_waiting_per_client=cfg.max_waiting_per_client, password_required=gate.password is not None,
            authorised=gate.authorised(request.scope, request.cookies))

    @app.post("/api/login", status_code=204, tags=["service"], responses={401: {"model": Problem}},
              summary="Give the server's password; answers with a cookie that carries it from then on")
    async def login(request: Request, password: str = Form(...)) -> Response:
        if not gate.password_ok(password):
            await asyncio.sleep(1.0)  # makes guessing slow
            raise HTTPException(401, "that is not the password")
        return Response(status_code=204,
                        headers={"Set-Cookie": gate.login_cookie(request.url.scheme == "https")})

    # -- jobs -----------------------------------------------------------------------------------
    @app.post("/api/jobs", response_model=JobOut, status_code=201, responses=ERRORS, tags=["jobs"],
              summary="Queue a job: a content photo plus a bundled style_id or an uploaded style")
    async def create_job(
        request: Request,
        content: UploadFile = File(description="The photo to paint (PNG, JPEG, WebP, ...)"),
        style: UploadFile | None = File(None, description="A style image; or give style_id"),
        style_id: str | None = Form(None, description="A bundled painting (GET /api/styles) or an instant "
                                                      "style (GET /api/instant-styles)"),
        style_strength: float | None = Form(None, description=f"{MIN_STRENGTH:g} to {MAX_STRENGTH:g}; "
                                                              "1 = default (not for instant styles)"),
        size: int | None = Form(None, description="Long edge of the result; clamped to the server's range"),
        preserve_color: bool = Form(False, description="Keep the photo's colours"),
        quality: str | None = Form(None, description="fast, balanced, best or instant (default: balanced, "
                                                     "or instant for an instant-only style)"),
        owner: str = Depends(owner_of),
    ) -> JSONResponse:
        await _only_fields(request, JOB_FIELDS)
        check_room(owner)
        has_style_file = style is not None and bool(style.filename or style.size)
        spec = check_spec(cfg, style_strength, size, preserve_color, quality, style_id or None,
                          has_style_file, instant)

        async def decoded(upload: UploadFile, what: str) -> Image.Image:
            data = await read_limited(upload, what, cfg.max_upload_bytes)
            header = decoder.open(data, what)
            check_shape(what, header.width, header.height, spec, cfg)
            return await run_in_threadpool(decoder.decode, header, what, spec.size)

        content_img = await decoded(content, "content")
        style_img = await decoded(style, "style") if has_style_file else None

        def write(content_path: Path, style_path: Path, _init: Path) -> None:
            save_image(content_img, content_path)
            if style_img is not None:
                save_image(style_img, style_path)

        return await queue(spec, owner, write)

    @app.get("/api/jobs", response_model=JobList, tags=["jobs"], summary="This browser's jobs, newest first")
    async def list_jobs(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                        owner: str = Depends(owner_of)) -> JobList:
        return JobList(jobs=[out(j) for j in store.list(owner, limit, offset)], total=store.count(owner=owner))

    @app.delete("/api/jobs", response_model=Deleted, tags=["jobs"],
                summary="Delete this browser's finished jobs (done, failed, cancelled) and their images")
    async def clear_jobs(owner: str = Depends(owner_of)) -> Deleted:
        ids = store.delete_finished(owner=owner)
        for job_id in ids:
            files.remove(job_id)
        return Deleted(deleted=len(ids))

    @app.get("/api/jobs/{job_id}", response_model=JobOut, responses=ERRORS, tags=["jobs"],
             summary="A job's state and progress")
    async def get_job(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> JobOut:
        return out(find(job_id, owner))

    @app.delete("/api/jobs/{job_id}", status_code=204, responses=ERRORS, tags=["jobs"],
                summary="Delete a job and its images (a running one must be cancelled first)")
    async def delete_job(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> Response:
        find(job_id, owner)
        if not store.delete(job_id, owner):
            raise HTTPException(409, "the job is running; cancel it first")
        files.remove(job_id)
        return Response(status_code=204)

    @app.post("/api/jobs/{job_id}/cancel", response_model=JobOut, responses=ERRORS, tags=["jobs"],
              summary="Cancel a queued job, or stop a running one at its next step")
    async def cancel_job(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> JobOut:
        job = find(job_id, owner)
        if job.is_finished:
            raise HTTPException(409, f"the job is already {job.state}")
        job = store.request_cancel(job_id) or job
        return out(job)

    @app.post("/api/jobs/{job_id}/refine", response_model=JobOut, status_code=201, responses=ERRORS,
              tags=["jobs"], summary="Optimise a finished instant painting further, with the painting "
                                     "its style learned from")
    async def refine_job(
        request: Request, job_id: str = job_id_param,
        quality: str = Form("balanced", description="fast, balanced or best"),
        style_strength: float | None = Form(None, description=f"{MIN_STRENGTH:g} to {MAX_STRENGTH:g}"),
        owner: str = Depends(owner_of),
    ) -> JSONResponse:
        await _only_fields(request, REFINE_FIELDS)
        parent = find(job_id, owner)
        if parent.params.get("quality") != INSTANT or parent.state != "done":
            raise HTTPException(409, "only a finished instant painting can be refined")
        style = instant.get(parent.params.get("style_id") or "")
        if style is None or style.painting_id is None:
            name = style.title if style else parent.params.get("style_id")
            raise HTTPException(409, f"the painting of the {name} style does not come with the app, "
                                     "so its result cannot be refined")
        if quality == INSTANT:
            raise HTTPException(422, f"quality must be one of {', '.join(QUALITIES)} to refine")
        check_room(owner)
        spec = check_spec(cfg, style_strength, parent.params["size"], parent.params["preserve_color"], quality,
                          style.painting_id, False, instant)
        spec.refine_of = parent.id
        before = files.for_job(parent.id)
        with Image.open(before.content) as photo:  # (the header only)
            check_shape("content", photo.width, photo.height, spec, cfg)  # "best" needs more pixels

        def write(content_path: Path, _style: Path, init_path: Path) -> None:
            shutil.copyfile(before.content, content_path)
            shutil.copyfile(before.result, init_path)

        return await queue(spec, owner, write)

    @app.get("/api/jobs/{job_id}/events", tags=["jobs"], responses={**ERRORS, 200: {
        "content": {"text/event-stream": {}},
        "description": "Server-Sent Events: `progress` events carry the job (as GET /api/jobs/{id}) "
                       "plus `preview`, a JPEG data URL, whenever a new intermediate image exists; "
                       "a final `end` event follows when the job is done, failed or cancelled. The "
                       "stream also ends, without `end`, when the server stops."}},
             summary="Stream a job's progress (Server-Sent Events)")
    async def job_events(request: Request, job_id: str = job_id_param,
                         owner: str = Depends(owner_of)) -> StreamingResponse:
        find(job_id, owner)
        return StreamingResponse(_stream(request, store, files, instant, stopping, job_id),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def _image(job_id: str, which: str) -> Path:
        path = getattr(files.for_job(job_id), which)
        if not path.is_file():
            raise HTTPException(404, f"this job has no {which} image yet")
        return path

    @app.get("/api/jobs/{job_id}/result", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
             tags=["images"], summary="The finished painting (PNG)")
    async def result(job_id: str = job_id_param, download: bool = False,
                     owner: str = Depends(owner_of)) -> FileResponse:
        job = find(job_id, owner)
        if job.state != "done":
            raise HTTPException(409, f"the job is {job.state}; there is no result")
        name = f"impasto-{job_id[:10]}.png" if download else None
        return FileResponse(_image(job_id, "result"), media_type="image/png", filename=name,
                            content_disposition_type="attachment" if download else "inline")

    @app.get("/api/jobs/{job_id}/preview", responses={**ERRORS, 200: {"content": {"image/jpeg": {}}}},
             tags=["images"], summary="The latest intermediate image (JPEG)")
    async def preview(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> FileResponse:
        find(job_id, owner)
        return FileResponse(_image(job_id, "preview"), media_type="image/jpeg",
                            headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/content", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
             tags=["images"], summary="The content photo as stored")
    async def content_image(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> FileResponse:
        find(job_id, owner)
        return FileResponse(_image(job_id, "content"), media_type="image/png")

    @app.get("/api/jobs/{job_id}/style", responses={**ERRORS, 200: {"content": {"image/*": {}}}},
             tags=["images"], summary="The style image (uploaded or bundled; an instant style's sample)")
    async def style_image(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> FileResponse:
        job = find(job_id, owner)
        sid = job.params.get("style_id")
        if job.params.get("quality") == INSTANT and sid in instant:
            painting = instant[sid].painting_id
            if painting is None:
                return FileResponse(await run_in_threadpool(previews.path, instant[sid]), media_type="image/jpeg")
            sid = painting
        if sid in BY_ID:
            return FileResponse(BY_ID[sid].path, media_type="image/jpeg")
        return FileResponse(_image(job_id, "style"), media_type="image/png")

    return app


def _data_url(path: Path) -> str | None:
    try:
        return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    except OSError:
        return None


async def _stream(request: Request, store: JobStore, files: FileArea, instant: dict[str, InstantStyle],
                  stopping: threading.Event, job_id: str) -> AsyncIterator[str]:
    """Poll the job table and send an event whenever the job changes; end when it finishes, or
    when the server stops (the page then says it lost the connection and retries)."""
    last: tuple | None = None
    sent_preview = -1
    quiet = 0.0
    yield "retry: 1000\n\n"
    while not stopping.is_set():
        job = store.get(job_id)
        if job is None:
            return
        out = _job_out(store, job, instant)
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
