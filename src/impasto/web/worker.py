"""The painters: threads that each take the oldest queued job of their lane and run it.

``paint`` workers, one per device, run the job's stored engine options (resolved when the job
was queued, shown by the API) through the pool's one :class:`impasto.painter.Painter`, which
keeps the loaded networks for the next job. While a job runs the worker writes its progress
(step, losses, ETA) to the job table and, a few times a second at most, a small preview JPEG; it
checks for a cancel request between steps. One ``instant`` worker paints instant jobs with the
shipped feed-forward models (about a second each), so they never wait behind a long optimisation.

Stopping the server sets ``stop``: each worker leaves its job at the next step, keeps where it
was (the best image and the step reached, beside the job's files) and puts it back in its place
in the queue; the next start carries on from there. A server that dies mid-job leaves it marked
running, and the next start queues it again (``JobStore.recover``), at most ``max_attempts`` times.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from PIL import Image

from ..engine import Resume
from ..errors import ImpastoError
from ..images.atomic import atomic_path
from ..images.io import load_image, save_image
from ..options import Resolved, resolve
from ..painter import Done, Failed, Painter, Request
from ..painter.painter import thumbnail
from ..shipped import ANY
from .config import WebConfig
from .files import FileArea, JobFiles
from .gallery import BY_ID
from .instant import InstantStyle
from .jobspec import engine_options, job_spec
from .store import Job, JobStore

log = logging.getLogger("impasto.web")
SMALLER = "output size"  # how the page names what a failure line asks to make smaller
INTERNAL = "internal error while painting (see the server log)"


class _Stopped(Exception):
    """The server is shutting down: put the job back in the queue for the next start."""


class Worker(threading.Thread):
    def __init__(self, store: JobStore, files: FileArea, cfg: WebConfig, device: str, lane: str,
                 instant: dict[str, InstantStyle], wake: threading.Event, stop: threading.Event,
                 painter: Painter) -> None:
        super().__init__(name=f"impasto-{lane}-{device}", daemon=True)
        self.store, self.files, self.cfg, self.device, self.lane = store, files, cfg, device, lane
        self.instant, self.painter = instant, painter
        self.wake, self.stop = wake, stop
        self.current: str | None = None  # the job in hand, for WorkerPool.stop
        self._ray = None  # the RayExecutor, made on the first job when cfg.ray_address is set

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                job = self.store.claim_next(self.lane)
            except Exception:  # e.g. a full disk: keep the worker alive and try again
                log.exception("cannot read the job table")
                self.stop.wait(2.0)
                continue
            if job is None:
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            self.current = job.id
            try:
                self.run_job(job)
            except _Stopped:
                self.store.requeue(job.id)
                return
            finally:
                self.current = None

    def run_job(self, job: Job) -> None:
        """Run one claimed job to done, failed or cancelled (or raise _Stopped)."""
        try:
            state, error = self._paint_instant(job) if job.lane == "instant" else self._paint(job)
        except (_Stopped, KeyboardInterrupt):
            raise
        except Exception:  # the painter reports failures as events; this is the worker's own
            log.exception("job %s failed", job.id)
            state, error = "failed", INTERNAL
        self.store.finish(job.id, state, error)

    def options(self, job: Job, files: JobFiles) -> Resolved:
        """The engine options the job runs with: exactly its stored record, on this worker's
        device (recorded in the job first, so the API shows what runs)."""
        record = job.params["engine"]
        if record.get("device") != self.device:
            record = {**record, "device": self.device}
            self.store.set_params(job.id, {**job.params, "engine": record})
        return engine_options(record, files.folder)

    def _check(self, job: Job) -> bool:
        """Between steps: raise _Stopped when the server stops; True when the user cancelled."""
        if self.stop.is_set():
            raise _Stopped
        return self.store.cancel_requested(job.id)

    def _paint(self, job: Job) -> tuple[str, str | None]:
        spec = job_spec(job)
        files = self.files.for_job(job.id)
        if spec.style_id and spec.style_id not in BY_ID:
            return "failed", f"the bundled style {spec.style_id!r} is no longer available"
        style = BY_ID[spec.style_id].path if spec.style_id else files.style
        try:
            options = self.options(job, files)
        except ImpastoError as e:
            return "failed", str(e)
        if self.cfg.ray_address:
            return self._paint_on_ray(job, files, options, Path(style))
        request = Request(files.content, options, (style,), resume=read_resume(files))
        painting = self.painter.paint(request, self.cfg.preview_interval, self.cfg.preview_edge, SMALLER)
        try:
            for ev in painting:
                if isinstance(ev, Failed):
                    return "failed", failure_line(job, ev)
                if isinstance(ev, Done):
                    self._finish(job, files, ev.image, ev.steps, ev.losses)
                    return "done", None
                if self._check(job):
                    return "cancelled", None
                if ev.preview is not None:
                    save_image(ev.preview, files.preview, quality=80)
                now = time.monotonic()
                self.store.progress(job.id, ev.step, ev.total, ev.losses, ev.eta, ev.preview is not None)
                pause = self.cfg.min_step_seconds - (time.monotonic() - now)
                if pause > 0:
                    self.stop.wait(pause)
        except _Stopped:
            position = painting.position()
            if position is not None:
                write_resume(files, position)
            raise
        return "failed", "the painting ended without a result"

    def _paint_instant(self, job: Job) -> tuple[str, str | None]:
        spec = job_spec(job)
        files = self.files.for_job(job.id)
        if self._check(job):
            return "cancelled", None
        settings = {"long_edge": spec.size, "device": self.device,
                    "color": "luminance" if spec.preserve_color else "style"}
        if spec.any_network(self.instant):  # any painting: the arbitrary-style network
            if spec.style_id and spec.style_id not in BY_ID:
                return "failed", f"the bundled style {spec.style_id!r} is no longer available"
            painting = BY_ID[spec.style_id].path if spec.style_id else files.style
            settings["alpha"] = min(1.0, spec.style_strength)
            request = Request(files.content, resolve(), (painting,), ANY, settings)
        elif spec.style_id in self.instant:
            request = Request(files.content, resolve(), model=self.instant[spec.style_id].path, settings=settings)
        else:
            return "failed", f"the instant style {spec.style_id!r} is no longer available"
        for ev in self.painter.paint(request, smaller=SMALLER):
            if isinstance(ev, Failed):
                return "failed", failure_line(job, ev)
            self._finish(job, files, ev.image, 1, None)
        return "done", None

    def _finish(self, job: Job, files: JobFiles, result: Image.Image, steps: int,
                losses: dict[str, float] | None) -> None:
        save_image(result, files.result)
        save_image(thumbnail(result, self.cfg.preview_edge), files.preview, quality=80)
        for leftover in (files.resume, files.resume.with_suffix(".json")):
            leftover.unlink(missing_ok=True)
        self.store.progress(job.id, steps, steps, losses, 0.0, True)

    def _paint_on_ray(self, job: Job, files: JobFiles, options: Resolved, style: Path) -> tuple[str, str | None]:
        """The job as one Ray task (``impasto serve --ray``) whose progress, previews and result
        come back as a stream and are recorded here: the job table stays the one record, and a
        server restart re-queues what was running as it does for local workers. A task whose
        worker or node dies is run again, ``max_attempts`` tries in all, as a local job the server
        died on is."""
        from ..batch.rayexec import RayExecutor, first_line
        from ..batch.worker import paint_events

        if self._ray is None:
            self._ray = RayExecutor(self.cfg.ray_address)
        ray = self._ray.ray
        handle, events = self._ray.stream(paint_events, files.content.read_bytes(), style.read_bytes(), options,
                                          self.cfg.preview_interval, self.cfg.preview_edge, device=options.device,
                                          retries=max(0, self.cfg.max_attempts - 1))
        losses = None
        ended = False  # the task sent its last event: nothing to cancel
        try:
            for ev in events:
                if self.stop.is_set():
                    raise _Stopped
                if self.store.cancel_requested(job.id):
                    return "cancelled", None
                ended = "error" in ev or "result" in ev
                if "retry" in ev:  # the worker died: the task starts again, and so does the progress
                    log.warning("job %s: Ray worker lost (%s); try %d", job.id, ev["why"], ev["retry"] + 1)
                    losses = None
                    self.store.progress(job.id, 0, job.total, None, None, False)
                    continue
                if "error" in ev:
                    return "failed", ev["error"]
                if "result" in ev:
                    with atomic_path(files.result) as tmp:
                        tmp.write_bytes(ev["result"])
                    save_image(thumbnail(Image.open(files.result), self.cfg.preview_edge), files.preview, quality=80)
                    self.store.progress(job.id, ev["steps"], ev["steps"], losses, 0.0, True)
                    return "done", None
                if "preview" in ev:
                    with atomic_path(files.preview) as tmp:
                        tmp.write_bytes(ev["preview"])
                losses = ev["losses"]
                self.store.progress(job.id, ev["step"], ev["total"], losses, ev["eta"], "preview" in ev)
            ended = True
            return "failed", "the Ray task ended without a result"
        except ray.exceptions.RayError as e:
            ended = True
            return "failed", f"the Ray worker failed: {first_line(e)}"
        finally:
            if not ended:  # cancelled, or the server stopping: the cluster stops painting it
                self._ray.cancel(handle)


def failure_line(job: Job, failed: Failed) -> str:
    """What the page says of a failed painting: the painter's line, or for a bug a pointer to the
    log (where the whole exception goes)."""
    if failed.bug:
        log.error("job %s failed", job.id, exc_info=failed.error)
        return INTERNAL
    return failed.message


def write_resume(files: JobFiles, position: Resume) -> None:
    """Keep where a stopped job was: its best image, and the step reached (written last, so a
    half-written pair is never read)."""
    save_image(position.image, files.resume)
    with atomic_path(files.resume.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps({"size": position.size, "size_step": position.size_step, "step": position.step}))


def read_resume(files: JobFiles) -> Resume | None:
    """Where a job stopped with the server, or None (never stopped, or its record is unreadable)."""
    record = files.resume.with_suffix(".json")
    if not (record.is_file() and files.resume.is_file()):
        return None
    try:
        d = json.loads(record.read_text())
        return Resume(int(d["size"]), int(d["size_step"]), int(d["step"]), load_image(files.resume))
    except (ValueError, KeyError, TypeError, ImpastoError):
        log.warning("cannot read %s; the job starts again from step 0", record)
        return None


class WorkerPool:
    """The workers of one server: started with the app, stopped with it. They share one
    Painter, so every worker on a device paints with the same loaded network."""

    def __init__(self, store: JobStore, files: FileArea, cfg: WebConfig,
                 instant: dict[str, InstantStyle], painter: Painter | None = None) -> None:
        self.store, self.cfg = store, cfg
        self.painter = painter or Painter()
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        lanes = [(d, "paint") for d in cfg.devices]
        if cfg.devices and instant:
            lanes.append((cfg.devices[0], "instant"))
        self.workers = [Worker(store, files, cfg, d, lane, instant, self.wake, self.stop_event, self.painter)
                        for d, lane in lanes]

    def start(self) -> None:
        for w in self.workers:
            w.start()

    def notify(self) -> None:
        """A job was queued: wake an idle worker now rather than at its next poll."""
        self.wake.set()

    def begin_stop(self) -> None:
        """Tell every worker to leave its job at the next step (returns at once)."""
        self.stop_event.set()
        self.wake.set()

    def stop(self) -> None:
        """Stop the workers, waiting ``cfg.stop_timeout`` at most: a worker still inside one
        long step then has its job put back in the queue here, and is left to die with the
        process (its thread is a daemon)."""
        self.begin_stop()
        deadline = time.monotonic() + self.cfg.stop_timeout
        for w in self.workers:
            if w.is_alive():
                w.join(max(0.0, deadline - time.monotonic()))
        for w in self.workers:
            if w.is_alive() and w.current is not None:
                log.warning("job %s is still in a step; queued again for the next start", w.current)
                self.store.requeue(w.current)
