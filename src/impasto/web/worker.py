"""The painters: threads that each take the oldest queued job of their lane and run it.

``paint`` workers, one per device, run the optimisation through the same door as the CLI
(:func:`impasto.engine.prepare`, called in :meth:`Worker._engine_run` only); each loads VGG once
and reuses it. While a job runs the worker writes its progress (step, losses, ETA) to the job
table and, a few times a second at most, a small preview JPEG; it checks for a cancel request
between steps. One ``instant`` worker paints instant jobs with the shipped feed-forward models
(about a second each), so they never wait behind a long optimisation.

Stopping the server sets ``stop``: each worker leaves its job at the next step and puts it back
in its place in the queue, so a stop takes a step, not a queue. A server that dies mid-job
leaves it marked running, and the next start queues it again (``JobStore.recover``), at most
``max_attempts`` times.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from PIL import Image

from .. import fast
from ..engine import Transfer, prepare
from ..errors import ImpastoError
from ..features.devices import resolve_device
from ..features.network import Network, load_network
from ..images.atomic import atomic_path
from ..images.io import fit_long_edge, load_image, save_image
from ..options import Resolved
from .config import WebConfig
from .files import FileArea, JobFiles
from .gallery import BY_ID
from .instant import InstantStyle, paint_instant
from .jobspec import JobSpec, to_options
from .store import Job, JobStore

log = logging.getLogger("impasto.web")


_NETWORKS: dict[tuple, Network] = {}
_NETWORKS_LOCK = threading.Lock()


def shared_network(o: Resolved) -> Network:
    """VGG for these options, loaded once per process (its weights are never changed by a run,
    so the workers and successive app instances can share it)."""
    key = (o.arch, o.weights, o.preprocess, o.pooling, o.device)
    with _NETWORKS_LOCK:
        if key not in _NETWORKS:
            _NETWORKS[key] = load_network(o)
        return _NETWORKS[key]


def job_spec(job: Job) -> JobSpec:
    """The request a job was made from (its record also holds the resolved engine options)."""
    return JobSpec(**{k: v for k, v in job.params.items() if k != "engine"})


class _Stopped(Exception):
    """The server is shutting down: put the job back in the queue for the next start."""


class Worker(threading.Thread):
    def __init__(self, store: JobStore, files: FileArea, cfg: WebConfig, device: str, lane: str,
                 instant: dict[str, InstantStyle], wake: threading.Event, stop: threading.Event) -> None:
        super().__init__(name=f"impasto-{lane}-{device}", daemon=True)
        self.store, self.files, self.cfg, self.device, self.lane = store, files, cfg, device, lane
        self.instant = instant
        self.wake, self.stop = wake, stop
        self.current: str | None = None  # the job in hand, for WorkerPool.stop
        self._models: dict[str, fast.FastModel] = {}
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

    def _network(self, o: Resolved) -> Network:
        return shared_network(o)

    def run_job(self, job: Job) -> None:
        """Run one claimed job to done, failed or cancelled (or raise _Stopped)."""
        try:
            state, error = self._paint_instant(job) if job.lane == "instant" else self._paint(job)
        except _Stopped:
            raise
        except ImpastoError as e:
            state, error = "failed", str(e)
        except MemoryError:
            state, error = "failed", "out of memory; try a smaller output size"
        except RuntimeError as e:
            text = str(e).lower()
            if "out of memory" in text:
                state, error = "failed", "the device ran out of memory; try a smaller output size"
            elif "output size is too small" in text:
                state, error = "failed", "the image is too small or too narrow for the network; " \
                                         "try a larger output size"
            else:
                log.exception("job %s failed", job.id)
                state, error = "failed", "internal error while painting (see the server log)"
        except Exception:
            log.exception("job %s failed", job.id)
            state, error = "failed", "internal error while painting (see the server log)"
        self.store.finish(job.id, state, error)

    def _options(self, spec: JobSpec, files: JobFiles) -> Resolved:
        """The job's engine options, resolved once (a refinement starts from its parent's image)."""
        init = str(files.init) if spec.refine_of and files.init.is_file() else None
        return to_options(spec, self.cfg, self.device, init)

    def _engine_run(self, options: Resolved, files: JobFiles, style: Path) -> Transfer:
        """The one call into the engine here (a Ray worker makes its own in batch.worker)."""
        return prepare(files.content, style, options, network=self._network(options))

    def _check(self, job: Job) -> bool:
        """Between steps: raise _Stopped when the server stops; True when the user cancelled."""
        if self.stop.is_set():
            raise _Stopped
        return self.store.cancel_requested(job.id)

    def _paint(self, job: Job) -> tuple[str, str | None]:
        spec = job_spec(job)
        files = self.files.for_job(job.id)
        if spec.style_id and spec.style_id not in BY_ID:
            raise ImpastoError(f"the bundled style {spec.style_id!r} is no longer available")
        style = BY_ID[spec.style_id].path if spec.style_id else files.style
        options = self._options(spec, files)
        if self.cfg.ray_address:
            return self._paint_on_ray(job, files, options, Path(style))
        run = self._engine_run(options, files, Path(style))
        total = run.total_steps
        first = last_preview = None
        losses: dict[str, float] | None = None
        for step in run:
            if self._check(job):
                return "cancelled", None
            now = time.monotonic()
            if first is None:
                first = now
            eta = None
            if step.step > 1:
                eta = (now - first) / (step.step - 1) * max(0, total - step.step)
            preview = last_preview is None or now - last_preview >= self.cfg.preview_interval
            if preview:
                self._write_preview(step.image, files.preview)
                last_preview = now
            losses = step.losses
            self.store.progress(job.id, step.step, total, losses, eta, preview)
            pause = self.cfg.min_step_seconds - (time.monotonic() - now)
            if pause > 0:
                self.stop.wait(pause)
        result = run.best_image()
        self._finish(job, files, result, run.steps_done, losses)
        return "done", None

    def _paint_instant(self, job: Job) -> tuple[str, str | None]:
        spec = job_spec(job)
        files = self.files.for_job(job.id)
        if self._check(job):
            return "cancelled", None
        style = self.instant.get(spec.style_id or "")
        if style is None:
            raise ImpastoError(f"the instant style {spec.style_id!r} is no longer available")
        if style.id not in self._models:
            self._models[style.id] = fast.load_model(style.path, resolve_device(self.device))
        content = fit_long_edge(load_image(files.content), spec.size)
        result = paint_instant(self._models[style.id], content, spec.preserve_color)
        self._finish(job, files, result, 1, None)
        return "done", None

    def _finish(self, job: Job, files: JobFiles, result: Image.Image, steps: int,
                losses: dict[str, float] | None) -> None:
        save_image(result, files.result)
        self._write_preview(result, files.preview)
        self.store.progress(job.id, steps, steps, losses, 0.0, True)

    def _paint_on_ray(self, job: Job, files: JobFiles, options: Resolved, style: Path) -> tuple[str, str | None]:
        """The job as one Ray task (``impasto serve --ray``) whose progress, previews and result
        come back as a stream and are recorded here: the job table stays the one record, and a
        server restart re-queues what was running as it does for local workers."""
        from ..batch.rayexec import RayExecutor, first_line
        from ..batch.worker import paint_events

        if self._ray is None:
            self._ray = RayExecutor(self.cfg.ray_address)
        ray = self._ray.ray
        handle, events = self._ray.stream(paint_events, files.content.read_bytes(), style.read_bytes(), options,
                                          self.cfg.preview_interval, self.cfg.preview_edge, device=options.device)
        first = losses = None
        ended = False  # the task sent its last event: nothing to cancel
        try:
            for ev in events:
                if self.stop.is_set():
                    raise _Stopped
                if self.store.cancel_requested(job.id):
                    return "cancelled", None
                ended = "error" in ev or "result" in ev
                if "error" in ev:
                    return "failed", ev["error"]
                if "result" in ev:
                    with atomic_path(files.result) as tmp:
                        tmp.write_bytes(ev["result"])
                    self._write_preview(Image.open(files.result), files.preview)
                    self.store.progress(job.id, ev["steps"], ev["steps"], losses, 0.0, True)
                    return "done", None
                now = time.monotonic()
                first = first or now
                eta = (now - first) / (ev["step"] - 1) * max(0, ev["total"] - ev["step"]) if ev["step"] > 1 else None
                if "preview" in ev:
                    with atomic_path(files.preview) as tmp:
                        tmp.write_bytes(ev["preview"])
                losses = ev["losses"]
                self.store.progress(job.id, ev["step"], ev["total"], losses, eta, "preview" in ev)
            ended = True
            return "failed", "the Ray task ended without a result"
        except ray.exceptions.RayError as e:
            ended = True
            return "failed", f"the Ray worker failed: {first_line(e)}"
        finally:
            if not ended:  # cancelled, or the server stopping: the cluster stops painting it
                self._ray.cancel(handle)

    def _write_preview(self, img: Image.Image, path: Path) -> None:
        edge = self.cfg.preview_edge
        if max(img.size) > edge:
            img = img.copy()
            img.thumbnail((edge, edge), Image.LANCZOS)
        save_image(img, path, quality=80)


class WorkerPool:
    """The workers of one server: started with the app, stopped with it."""

    def __init__(self, store: JobStore, files: FileArea, cfg: WebConfig,
                 instant: dict[str, InstantStyle]) -> None:
        self.store, self.cfg = store, cfg
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        lanes = [(d, "paint") for d in cfg.devices]
        if cfg.devices and instant:
            lanes.append((cfg.devices[0], "instant"))
        self.workers = [Worker(store, files, cfg, d, lane, instant, self.wake, self.stop_event)
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
