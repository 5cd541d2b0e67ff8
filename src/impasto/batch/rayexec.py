"""The cluster engine: jobs as Ray tasks, feed-forward jobs through Ray Data, on any Ray cluster.

``RayExecutor(address)`` connects to a running cluster (``ray start --head`` on one machine,
``ray start --address=HEAD:6379`` on the others; docs/cluster.md) or, with ``"local"``, starts a
private one on this machine. It has the interface of
:class:`~impasto.batch.local.LocalExecutor`: ``run(jobs)`` yields a Result per job as it ends.

* **Optimisation jobs** are one Ray task each, running :func:`~impasto.batch.worker.run_job`.
  A task asks Ray for one GPU when the cluster has GPUs (Ray then makes that GPU the worker's
  only visible device) and for ``threads`` CPUs otherwise, so Ray never puts more jobs on a
  node than it has devices or cores. Tasks are spread over the nodes. The remote function is
  made with ``max_calls=0`` (Ray's default for GPU tasks is a fresh process per task), so a
  worker process keeps its loaded network from one job to the next.
* **Fault tolerance is Ray's**: a task whose worker process or node dies is run again (up to
  ``retries`` times) on another worker; a job that *fails* (bad input) is not retried, it
  returns its failure and the batch goes on.
* **Feed-forward jobs** (``model``) go through Ray Data: a streaming ``map_batches`` over an
  actor pool, one loaded model per actor, sized to the cluster's GPUs or cores.

Inputs are read by path on the workers (shared storage, the same path on every node); pictures
come back as bytes and are written by the machine that runs the batch.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import ImpastoError
from .jobs import Job
from .records import Result
from .worker import run_job

INSTALL = 'the --ray engine needs Ray: pip install "impasto[ray]"'
DEFAULT_THREADS = 4  # CPUs per CPU job; fewer when no node has that many


def require_ray() -> Any:
    """The ray module, or the one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ImpastoError(INSTALL) from None
    return ray


def connect(address: str = "auto") -> Any:
    """Join the cluster at ``address`` (``auto``: the one started on this machine with ``ray
    start``; ``HOST:PORT``; ``local``: a private cluster for this process). Idempotent."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    _reachable(address)
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # Ray's C++ notices would break our one-line rule
    try:
        ray.init(address=None if address == "local" else address, logging_level="ERROR",
                 log_to_driver=False, configure_logging=True, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if "Could not find any running Ray instance" in first:
            first = "none is running on this machine"
        hint = "start one with `ray start --head`, or use --ray local" if address == "auto" else \
            "is `ray start --head` running there, and is this machine's Ray the same version?"
        raise ImpastoError(f"cannot join a Ray cluster at {address} ({first[:120]}); {hint}") from None
    return ray


def _reachable(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT nobody answers on is one line now (Ray itself retries for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or address.startswith("ray://"):
        return  # "auto", "local", a client address: Ray's own checks
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ImpastoError(f"cannot join a Ray cluster at {address}: nothing answers there ({e.strerror or e}); "
                           "is `ray start --head` running, and is the port open?") from None


def cluster_shape(ray: Any) -> tuple[int, list[float]]:
    """(GPUs in the cluster, CPUs of each live node)."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    gpus = int(sum(n["Resources"].get("GPU", 0) for n in nodes))
    return gpus, [n["Resources"].get("CPU", 0.0) for n in nodes]


def _wants_gpu(device: str) -> bool:
    return device == "auto" or device.startswith("cuda")


class RayExecutor:
    """See the module docstring. ``threads``: CPUs (torch threads) per CPU job; ``retries``: how
    often Ray runs a job again whose worker died; ``task``: the function each task runs (tests
    wrap it)."""

    name = "ray"

    def __init__(self, address: str = "auto", threads: int | None = None, retries: int = 3,
                 task: Callable[[Job, int | None], Result] = run_job) -> None:
        self.ray = connect(address)
        self.gpus, node_cpus = cluster_shape(self.ray)
        self.nodes = len(node_cpus)
        biggest = int(max(node_cpus, default=0))
        if threads is not None and threads > biggest:
            raise ImpastoError(f"--threads {threads}: no node of the Ray cluster has that many CPUs "
                               f"(the largest has {biggest})")
        self.threads = threads or max(1, min(DEFAULT_THREADS, biggest))
        self.cpu_slots = max(1, int(sum(c // self.threads for c in node_cpus)))
        self.retries = retries
        self.task = task

    @property
    def slots(self) -> int:
        """How many jobs the cluster runs at once."""
        return self.gpus or self.cpu_slots

    def where(self, device: str) -> tuple[str, dict[str, Any]]:
        """For a job asking for ``device``: the device its worker should use ("cuda": Ray makes
        the GPU it grants the only visible one) and the resources to ask Ray for."""
        if device.startswith("cuda") and not self.gpus:
            raise ImpastoError(f"asks for device {device} and the Ray cluster has no GPU")
        if self.gpus > 0 and _wants_gpu(device):
            return "cuda", {"num_gpus": 1, "num_cpus": 1}
        return ("cpu" if _wants_gpu(device) else device), {"num_cpus": self.threads}

    def placed(self, job: Job) -> tuple[Job, dict[str, Any]]:
        """The job as its worker should see it, and the resources to ask Ray for."""
        dev, resources = self.where(str(job.settings.get("device") if job.model is not None else job.options.device))
        job = dataclasses.replace(job, options=dataclasses.replace(job.options, device=dev),
                                  settings={**job.settings, "device": dev} if job.model is not None else job.settings)
        return job, resources

    # -- running ------------------------------------------------------------------------------------
    def run(self, jobs: Sequence[Job]) -> Iterator[Result]:
        """Feed-forward jobs through Ray Data, then optimisation jobs as tasks; results as they end."""
        models = [j for j in jobs if j.model is not None]
        if models:
            yield from self._run_data(models)
        rest = [j for j in jobs if j.model is None]
        if rest:
            yield from self._run_tasks(rest)

    def _run_tasks(self, jobs: Sequence[Job]) -> Iterator[Result]:
        ray = self.ray
        remote = ray.remote(max_calls=0, max_retries=self.retries, retry_exceptions=False,
                            scheduling_strategy="SPREAD")(self.task)
        pending: dict[Any, Job] = {}
        ready, unplaceable = self._place_all(jobs)
        yield from unplaceable
        try:
            for job, placed, resources in ready:
                pending[remote.options(**resources).remote(placed, None if resources.get("num_gpus")
                                                           else self.threads)] = job
            while pending:
                [ref], _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker or its node died, more than `retries` times
                    yield Result(job.id, "failed", job.output,
                                 error=f"the Ray task failed after {self.retries + 1} tries: {first_line(e)}")
        finally:
            for ref in pending:  # Ctrl-C or an early stop: nothing keeps painting for nobody
                ray.cancel(ref, force=True)

    def _place_all(self, jobs: Sequence[Job]) -> tuple[list[tuple[Job, Job, dict[str, Any]]], list[Result]]:
        """(job, job as placed, resources) for each job the cluster can run; failures for the rest."""
        ready, failed = [], []
        for job in jobs:
            try:
                ready.append((job, *self.placed(job)))
            except ImpastoError as e:
                failed.append(Result(job.id, "failed", job.output, error=str(e)))
        return ready, failed

    def _run_data(self, jobs: Sequence[Job]) -> Iterator[Result]:
        from ray import data

        logging.getLogger("ray.data").setLevel(logging.ERROR)  # our bar is the progress report
        ctx = data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ready, unplaceable = self._place_all(jobs)
        yield from unplaceable
        groups: dict[tuple, list[Job]] = {}  # GPU jobs and CPU jobs ask for different actors
        for _, placed, resources in ready:
            groups.setdefault(tuple(sorted(resources.items())), []).append(placed)
        for key, placed_jobs in groups.items():
            resources = dict(key)
            threads = 0 if resources.get("num_gpus") else self.threads
            rows = [{"job": pickle.dumps(j), "threads": threads} for j in placed_jobs]  # ours, for our workers
            ds = data.from_items(rows).map_batches(Painter, batch_size=1, batch_format="numpy",
                                                   compute=data.ActorPoolStrategy(size=min(len(rows), self.slots)),
                                                   **resources)
            for batch in ds.iter_batches(batch_size=1, batch_format="numpy"):
                for blob in batch["result"]:
                    yield pickle.loads(bytes(blob))

    # -- one job at a time, with progress (the web app) --------------------------------------------------
    def stream(self, fn: Callable[..., Iterator[dict]], *args: Any, device: str = "auto") -> tuple[Any, Iterator[dict]]:
        """Run the generator ``fn(*args)`` as one Ray task and return (its handle for
        :meth:`cancel`, an iterator over what it yields)."""
        ray = self.ray
        _, resources = self.where(device)
        remote = ray.remote(max_calls=0, max_retries=0, num_returns="streaming")(fn)
        gen = remote.options(**resources).remote(*args)

        def events() -> Iterator[dict]:
            for ref in gen:
                yield ray.get(ref)

        return gen, events()

    def cancel(self, handle: Any) -> None:
        self.ray.cancel(handle, force=True)

    def close(self) -> None:
        """Leave the cluster running for others; only this process's connection ends."""


class Painter:
    """A Ray Data actor: one process, one loaded model (kept by ``worker.painter()``), many photos."""

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out = [pickle.dumps(run_job(pickle.loads(bytes(b)), int(t) or None))
               for b, t in zip(batch["job"], batch["threads"])]
        return {"result": np.array(out, dtype=object)}


def first_line(e: BaseException) -> str:
    """What went wrong in one line: the cause a Ray error carries (the task's own exception,
    a dead worker's reason), not Ray's traceback."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException):
        e = cause
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(e).__name__)[:200]
