"""The FastAPI application: ``create_app(config)`` wires one server together.

It makes the server's parts (``service.Service``: the job table and files in
``config.data_dir``, the workers, the counters behind the limits), puts the guards every request
passes first in front (``limits.py``: body size, slow bodies, security headers; ``access.py``: the
Host and Origin checks, the browser's owner token, the optional password), and adds the routes,
one module per concern: ``routes_info`` (the page, styles, limits, login), ``routes_jobs``,
``routes_images`` and ``events`` (the progress streams). The workers start and stop with the app,
after whatever a previous server left running is put back in the queue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from . import events, routes_images, routes_info, routes_jobs
from .access import Access, Gate, HostCheck
from .config import WebConfig
from .files import FileArea
from .instant import Previews, shipped_instant_styles
from .limits import BodyLimit, SecurityHeaders, UploadBudget
from .service import Service
from .store import JobStore
from .throttle import Buckets, Slots
from .uploads import Decoder
from .views import one_line
from .worker import WorkerPool

log = logging.getLogger("impasto.web")

STATIC = Path(__file__).parent / "static"
PURGE_EVERY_S = 3600.0
DESCRIPTION = ("Neural style transfer as a service: queue a photo and a painting, watch the result form, "
               "download it. Every error is JSON with one field, detail: one line saying what was wrong. "
               "Jobs belong to the browser that made them (a cookie): keep the cookies between calls "
               "(curl -b jar -c jar).")


def begin_shutdown(app: FastAPI) -> None:
    """The server was told to stop (Ctrl-C, SIGTERM): end the event streams and tell the workers
    to leave their jobs now, rather than after the connections close (an open stream would
    otherwise keep the server painting until its job ended). Safe to call more than once."""
    svc: Service = app.state.service
    svc.stopping.set()
    svc.notifier.close()
    svc.pool.begin_stop()


def make_service(cfg: WebConfig) -> Service:
    """The parts of one server over ``cfg.data_dir``."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    notifier = events.Notifier()
    store = JobStore(cfg.data_dir / "jobs.sqlite3", on_change=notifier.publish)
    files = FileArea(cfg.data_dir)
    instant = shipped_instant_styles()
    guesses = Buckets(cfg.guesses_per_address, cfg.guesses_per_address_minute,
                      cfg.guesses_total, cfg.guesses_total_minute)
    return Service(cfg=cfg, store=store, files=files, instant=instant, previews=Previews(cfg.data_dir),
                   pool=WorkerPool(store, files, cfg, instant), decoder=Decoder(cfg),
                   gate=Gate(cfg.data_dir, cfg.password, guesses), notifier=notifier, guesses=guesses,
                   streams=Slots(cfg.max_streams_per_address, cfg.max_streams), stopping=threading.Event())


def _lifespan(svc: Service):
    async def janitor() -> None:
        while True:
            try:
                await run_in_threadpool(svc.purge_old)
            except Exception:
                log.exception("cannot delete old jobs")
            await asyncio.sleep(PURGE_EVERY_S)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.store.recover(svc.cfg.max_attempts)
        svc.pool.start()
        cleaning = asyncio.create_task(janitor())
        try:
            yield
        finally:
            cleaning.cancel()
            with suppress(asyncio.CancelledError):
                await cleaning
            begin_shutdown(app)
            await run_in_threadpool(svc.pool.stop)

    return lifespan


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": one_line(exc)}, status_code=422)


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    # Starlette still logs the traceback; the client gets JSON, like every other answer.
    return JSONResponse({"detail": "internal error (see the server log)"}, status_code=500)


def create_app(config: WebConfig | None = None) -> FastAPI:
    """One impasto web server over ``config.data_dir``; run it with uvicorn or the test client."""
    cfg = config or WebConfig()
    svc = make_service(cfg)
    app = FastAPI(title="impasto", version=__version__, description=DESCRIPTION, lifespan=_lifespan(svc),
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.service = svc
    app.state.config, app.state.store, app.state.files, app.state.pool = cfg, svc.store, svc.files, svc.pool
    app.state.stopping, app.state.purge_old = svc.stopping, svc.purge_old
    # The last added runs first: Host/Origin and size before anything reads a cookie or a body.
    app.add_middleware(Access, gate=svc.gate)
    app.add_middleware(BodyLimit, max_bytes=cfg.max_request_bytes, idle_timeout=cfg.body_idle_timeout,
                       timeout=cfg.body_timeout, budget=UploadBudget(cfg.max_pending_upload_bytes))
    app.add_middleware(HostCheck, allowed_hosts=cfg.allowed_hosts)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _bug)
    for module in (routes_info, routes_jobs, events, routes_images):
        app.include_router(module.router(svc))
    return app
