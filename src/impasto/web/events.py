"""A job's progress as Server-Sent Events, pushed when the job changes.

The job table tells the ``Notifier`` of every change (``JobStore.on_change``, called from the
worker threads that record progress); the notifier wakes the streams that follow that job, or
every stream when queue places may have moved. A stream then reads its job once and sends it:
no stream reads the table while nothing happens, however many are open. Streams are counted
(``throttle.Slots``): a client address may hold a few, the server a few hundred; past that, 429.

A stream ends with ``end`` when its job finishes (``{"state": "done"}``, ...) or is deleted
(``{"state": "deleted"}``, so a page following it from another tab can say so), and without
``end`` when the server stops (the page then says it lost the connection and retries).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from .service import ERRORS, Service, job_id_param, owner_of
from .throttle import client_key

HEARTBEAT_S = 15.0
MIN_GAP_S = 0.1  # at most ten events a second per stream, however fast the job steps


class Subscription:
    """One stream's doorbell: rung from any thread, awaited in the event loop."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def ring(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    async def wait(self, timeout: float) -> bool:
        """True when rung (and re-armed), False after ``timeout`` seconds of quiet."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        self._event.clear()
        return True


class Notifier:
    """Who follows which job, and the one place the job table's changes are announced."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}
        self._closed = False

    def subscribe(self, job_id: str) -> Subscription:
        sub = Subscription(job_id)
        with self._lock:
            self._subs.setdefault(job_id, set()).add(sub)
            if self._closed:
                sub.ring()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.job_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.job_id]

    def publish(self, job_id: str | None) -> None:
        """``job_id`` changed; None: any job's queue place may have changed."""
        with self._lock:
            if job_id is None:
                targets = [s for subs in self._subs.values() for s in subs]
            else:
                targets = list(self._subs.get(job_id, ()))
        for sub in targets:
            sub.ring()

    def close(self) -> None:
        """The server is stopping: wake every stream (each then sees ``stopping`` and ends)."""
        with self._lock:
            self._closed = True
        self.publish(None)

    def following(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())


def _data_url(path: Path) -> str | None:
    try:
        return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    except OSError:
        return None


def _event(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


async def job_stream(svc: Service, job_id: str, sub: Subscription) -> AsyncIterator[str]:
    """Send the job whenever it changes (and a comment every ``HEARTBEAT_S`` of quiet, so that
    proxies keep the connection); end when it finishes or is deleted, or when the server stops."""
    last: tuple | None = None
    sent_preview = -1
    yield "retry: 1000\n\n"
    while not svc.stopping.is_set():
        job = svc.store.get(job_id)
        if job is None:
            yield _event("end", {"state": "deleted"})
            return
        out = svc.out(job)
        key = (job.state, job.step, job.preview_version, out.jobs_ahead)
        if key != last:
            last = key
            data = out.model_dump()
            if job.preview_version != sent_preview and job.preview_version > 0:
                data["preview"] = await run_in_threadpool(_data_url, svc.files.for_job(job_id).preview)
                sent_preview = job.preview_version
            yield _event("progress", data)
        if job.is_finished:
            yield _event("end", {"state": job.state})
            return
        sent = time.monotonic()
        if not await sub.wait(HEARTBEAT_S):
            yield ": still here\n\n"
            continue
        await asyncio.sleep(max(0.0, sent + MIN_GAP_S - time.monotonic()))


class _Lease:
    """A stream's slot and doorbell, given back once, however the stream ends (finished, the
    client gone, or never started because the client left before the first byte)."""

    def __init__(self, svc: Service, key: str, sub: Subscription) -> None:
        self.svc, self.key, self.sub, self.done = svc, key, sub, False

    def end(self) -> None:
        if not self.done:
            self.done = True
            self.svc.notifier.unsubscribe(self.sub)
            self.svc.streams.give_back(self.key)


async def _leased(stream: AsyncIterator[str], lease: _Lease) -> AsyncIterator[str]:
    try:
        async for chunk in stream:
            yield chunk
    finally:
        lease.end()


def router(svc: Service) -> APIRouter:
    r = APIRouter()

    @r.get("/api/jobs/{job_id}/events", tags=["jobs"], responses={**ERRORS, 200: {
        "content": {"text/event-stream": {}},
        "description": "Server-Sent Events: `progress` events carry the job (as GET /api/jobs/{id}) "
                       "plus `preview`, a JPEG data URL, whenever a new intermediate image exists; "
                       "a final `end` event follows when the job is done, failed or cancelled "
                       "(`{\"state\": ...}`), or deleted (`{\"state\": \"deleted\"}`). The stream also "
                       "ends, without `end`, when the server stops. 429 when this address, or the "
                       "server, already holds as many streams as it may."}},
          summary="Stream a job's progress (Server-Sent Events)")
    async def job_events(request: Request, job_id: str = job_id_param,
                         owner: str = Depends(owner_of)) -> StreamingResponse:
        svc.find(job_id, owner)
        key = client_key(request.client.host if request.client else None)
        refused = svc.streams.take(key)
        if refused:
            raise HTTPException(429, refused)
        lease = _Lease(svc, key, svc.notifier.subscribe(job_id))
        return StreamingResponse(_leased(job_stream(svc, job_id, lease.sub), lease),
                                 media_type="text/event-stream", background=BackgroundTask(lease.end),
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return r
