"""The cluster engine: jobs as Ray tasks, feed-forward jobs on model actors, on any Ray cluster.

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
* **Bounded submission**: at most ``window`` tasks are in Ray at a time (twice the jobs the
  cluster runs at once), topped up as results come back, so ten thousand jobs cost the driver
  and Ray's scheduler what a few dozen do, and waiting for the next result looks at the window,
  not at every job.
* **Retries hold everywhere**: a job whose worker process or node dies is run again, at most
  ``retries`` times, then reported failed; a job that *fails* (bad input) is not retried, it
  returns its failure and the batch goes on. Tasks get this from Ray (``max_retries``);
  feed-forward jobs run on a pool of actors this module keeps itself (one loaded model each,
  sized to the cluster's GPUs or cores, one job at a time per actor): an actor that dies is
  replaced and its job counted one try, so a photo that crashes its worker every time ends
  as a failure instead of restarting actors for ever.
* **Quiet**: Ray's own log lines (its start-up notices, a dead worker's report, lost-node
  warnings) are kept off stderr unless asked for (``quiet=False``, ``--verbose``); what went
  wrong reaches the user as the job's one-line error.

Inputs are read by path on the workers (shared storage, the same path on every node); pictures
come back as bytes and are written by the machine that runs the batch.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import ImpastoError
from .jobs import Job
from .records import Result
from .worker import run_job

INSTALL = 'the --ray engine needs Ray: pip install "impasto[ray]"'
DEFAULT_THREADS = 4  # CPUs per CPU job; fewer when no node has that many
WINDOW_PER_SLOT = 2  # tasks in Ray per job it can run at once: the next one is queued when one ends
MIN_WINDOW = 4
RAY_LOGGERS = ("ray", "ray.data", "ray.train", "ray.tune", "ray.serve")


def require_ray() -> Any:
    """The ray module, or the one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ImpastoError(INSTALL) from None
    return ray


def quiet_ray(quiet: bool = True) -> None:
    """Keep Ray's own reports off the terminal, or let them through: its Python loggers
    (start-up notices, retry warnings) and the cluster's error messages, which Ray's driver
    prints straight to stdout or stderr ("(raylet) A worker died ...", a screenful per dead
    worker) with no switch of its own, so its printer is replaced while quiet."""
    for name in RAY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL if quiet else logging.INFO)
    import ray._private.worker as driver

    if not hasattr(driver, "print_to_stdstream"):
        return  # another Ray: its messages show, as with --verbose
    if not hasattr(driver, "_impasto_printer"):
        driver._impasto_printer = driver.print_to_stdstream
    driver.print_to_stdstream = _dropped if quiet else driver._impasto_printer


def _dropped(data: Any, ignore_prefix: bool = False) -> None:
    """Ray's message, not shown: each job's one-line error says what happened to it."""


def connect(address: str = "auto", quiet: bool = True) -> Any:
    """Join the cluster at ``address`` (``auto``: the one started on this machine with ``ray
    start``; ``HOST:PORT``; ``local``: a private cluster for this process). Idempotent.
    ``quiet``: Ray says nothing on stderr (its C++ core and its workers' output included)."""
    ray = require_ray()
    if ray.is_initialized():
        quiet_ray(quiet)
        return ray
    _reachable(address)
    quiet_ray(quiet)  # before joining: a dead worker's report can arrive at once
    try:
        ray.init(address=None if address == "local" else address, logging_level="CRITICAL" if quiet else "INFO",
                 log_to_driver=not quiet, configure_logging=True, include_dashboard=False)
        quiet_ray(quiet)
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
                 task: Callable[[Job, int | None], Result] = run_job, quiet: bool = True,
                 window: int | None = None) -> None:
        self.ray = connect(address, quiet)
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
        self.window = window or max(MIN_WINDOW, WINDOW_PER_SLOT * self.slots)
        self.submitted_at_most = 0  # the most tasks in Ray at once in the last run (tests, benchmark)

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
        """Feed-forward jobs on the model actors, then optimisation jobs as tasks; results as they end."""
        models = [j for j in jobs if j.model is not None]
        if models:
            yield from self._run_actors(models)
        rest = [j for j in jobs if j.model is None]
        if rest:
            yield from self._run_tasks(rest)

    def _died(self, job: Job, tries: int, e: BaseException) -> Result:
        return Result(job.id, "failed", job.output,
                      error=f"its Ray worker died {tries} time(s), the last: {first_line(e)}")

    def _run_tasks(self, jobs: Sequence[Job]) -> Iterator[Result]:
        ray = self.ray
        remote = ray.remote(max_calls=0, max_retries=self.retries, retry_exceptions=False,
                            scheduling_strategy="SPREAD")(self.task)
        pending: dict[Any, Job] = {}
        self.submitted_at_most = 0
        try:
            for job in jobs:
                try:
                    placed, resources = self.placed(job)
                except ImpastoError as e:
                    yield Result(job.id, "failed", job.output, error=str(e))
                    continue
                while len(pending) >= self.window:
                    yield self._next_task(pending)
                pending[remote.options(**resources).remote(placed, None if resources.get("num_gpus")
                                                           else self.threads)] = job
                self.submitted_at_most = max(self.submitted_at_most, len(pending))
            while pending:
                yield self._next_task(pending)
        finally:
            for ref in pending:  # Ctrl-C or an early stop: nothing keeps painting for nobody
                ray.cancel(ref, force=True)

    def _next_task(self, pending: dict[Any, Job]) -> Result:
        """The next task to end (waiting over the window only), as its Result."""
        ray = self.ray
        [ref], _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(ref)
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as e:  # the worker or its node died, more than `retries` times
            return self._died(job, self.retries + 1, e)

    def _place_all(self, jobs: Sequence[Job]) -> tuple[list[tuple[Job, Job, dict[str, Any]]], list[Result]]:
        """(job, job as placed, resources) for each job the cluster can run; failures for the rest."""
        ready, failed = [], []
        for job in jobs:
            try:
                ready.append((job, *self.placed(job)))
            except ImpastoError as e:
                failed.append(Result(job.id, "failed", job.output, error=str(e)))
        return ready, failed

    def _run_actors(self, jobs: Sequence[Job]) -> Iterator[Result]:
        ready, unplaceable = self._place_all(jobs)
        yield from unplaceable
        groups: dict[tuple, list[tuple[Job, Job]]] = {}  # GPU jobs and CPU jobs ask for different actors
        for job, placed, resources in ready:
            groups.setdefault(tuple(sorted(resources.items())), []).append((job, placed))
        for key, pairs in groups.items():
            yield from self._actor_pool(pairs, dict(key))

    def _actor_pool(self, pairs: list[tuple[Job, Job]], resources: dict[str, Any]) -> Iterator[Result]:
        """One model actor per slot, one job at a time each; a dead actor is replaced and its job
        tried again while it has tries left (so an innocent job queued behind it loses none)."""
        ray = self.ray
        threads = None if resources.get("num_gpus") else self.threads
        cls = ray.remote(max_restarts=0, max_task_retries=0)(ModelWorker).options(**resources)
        todo = deque((job, placed, 0) for job, placed in pairs)  # (job, as placed, tries so far)
        idle = [cls.remote(self.task) for _ in range(min(len(pairs), self.slots))]
        busy: dict[Any, tuple[Any, Job, Job, int]] = {}
        try:
            while todo or busy:
                while idle and todo:
                    actor = idle.pop()
                    job, placed, tries = todo.popleft()
                    busy[actor.paint.remote(placed, threads)] = (actor, job, placed, tries + 1)
                [ref], _ = ray.wait(list(busy), num_returns=1)
                actor, job, placed, tries = busy.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:
                    ray.kill(actor)
                    idle.append(cls.remote(self.task))
                    if tries <= self.retries:
                        todo.appendleft((job, placed, tries))
                        continue
                    result = self._died(job, tries, e)
                else:
                    idle.append(actor)
                yield result
        finally:
            for actor in idle + [b[0] for b in busy.values()]:
                ray.kill(actor)  # their models' memory goes back; a Ctrl-C stops what they paint

    # -- one job at a time, with progress (the web app) --------------------------------------------------
    def stream(self, fn: Callable[..., Iterator[dict]], *args: Any, device: str = "auto",
               retries: int = 0) -> tuple[Stream, Iterator[dict]]:
        """Run the generator ``fn(*args)`` as one Ray task and return (its handle for
        :meth:`cancel`, an iterator over what it yields).

        When the task's worker process or node dies, it is started again from the beginning,
        at most ``retries`` times; before each new try the iterator yields ``{"retry": n,
        "why": one line}``, so that the consumer can forget the progress of the lost try. After
        the last try the Ray error is raised. What ``fn`` raises itself is not retried."""
        ray = self.ray
        _, resources = self.where(device)
        remote = ray.remote(max_calls=0, max_retries=0, num_returns="streaming")(fn).options(**resources)
        handle = Stream(remote.remote(*args))

        def events() -> Iterator[dict]:
            tries = 1
            while True:
                try:
                    for ref in handle.current:
                        yield ray.get(ref)
                    return
                except (ray.exceptions.TaskCancelledError, ray.exceptions.RayTaskError):
                    raise  # cancelled here, or fn's own exception: another try would do the same
                except ray.exceptions.RayError as e:
                    if tries > retries:
                        raise
                    yield {"retry": tries, "why": first_line(e)}
                    tries += 1
                    handle.current = remote.remote(*args)

        return handle, events()

    def cancel(self, handle: Any) -> None:
        """Stop a :meth:`stream` (whichever try is running)."""
        self.ray.cancel(handle.current if isinstance(handle, Stream) else handle, force=True)

    def close(self) -> None:
        """Leave the cluster running for others; only this process's connection ends."""


class Stream:
    """The handle of a :meth:`RayExecutor.stream`: the Ray generator of the try now running."""

    def __init__(self, current: Any) -> None:
        self.current = current


class ModelWorker:
    """A model actor: one process, one loaded model (kept by ``worker.painter()``), many photos."""

    def __init__(self, task: Callable[[Job, int | None], Result] = run_job) -> None:
        self.task = task

    def paint(self, job: Job, threads: int | None) -> Result:
        return self.task(job, threads)


def first_line(e: BaseException) -> str:
    """What went wrong in one line: the cause a Ray error carries (the task's own exception,
    a dead worker's reason), not Ray's traceback."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException):
        e = cause
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(e).__name__)[:200]
