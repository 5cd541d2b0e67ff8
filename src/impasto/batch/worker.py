"""Painting one job where it runs (this process, or a Ray worker process on any node).

:func:`run_job` never raises for a bad job: a damaged image, a file a node cannot see, an image
too small for the network or the device running out of memory all come back as a failed
:class:`Result` with one line saying why, so one bad job never stops a batch. Only Ctrl-C
(``KeyboardInterrupt``) goes through.

The loaded network (VGG, or a feed-forward model) is kept in this module between jobs, keyed by
what it computes (``Network.serves``, the model and its device). A module-level cache is right
here and nowhere else: a Ray task is a plain function whose worker process Ray keeps and reuses
for the next task (the remote function is made with ``max_calls=0``), so the process is the only
thing that outlives a task, and it runs one task at a time, so nothing is shared between
threads. The planner orders jobs by network, so a worker loads each network once per run of
like jobs; only the last one is kept, to bound memory on a GPU shared with nothing else.

torch and the engine are imported inside the functions: the machine that drives a Ray batch
imports this module to send :func:`run_job` to the workers and never paints, so it need not
load torch (and ``impasto batch --help`` answers at once).
"""

from __future__ import annotations

import io
import os
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

from ..errors import ImpastoError
from ..painter.failures import bug_line, one_line
from .jobs import Job
from .records import Result

_PAINTER = None  # this process's Painter (see the module docstring), made on the first job


def here() -> tuple[str, str | None]:
    """(host:pid, Ray node id or None): who ran a job, for the results manifest."""
    node = None
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    return f"{socket.gethostname()}:{os.getpid()}", node


def painter() -> Any:
    """This process's painter: a Ray worker process outlives its tasks, so the networks it
    loaded serve the next job (one VGG per device, a few models)."""
    global _PAINTER
    if _PAINTER is None:
        from ..painter import Painter

        _PAINTER = Painter(keep_models=1)
    return _PAINTER


def request(job: Job) -> Any:
    from ..painter import Request

    return Request(job.content, job.options, tuple(job.styles), job.model, dict(job.settings))


def paint(job: Job) -> tuple[Any, dict[str, float] | None, int]:
    """The job's picture, its last losses and its steps; a failure raises ImpastoError with its
    one line (a bug's exception goes through as it is)."""
    done = painter().paint(request(job)).result()
    return done.image, done.losses, done.steps


def run_job(job: Job, threads: int | None = None) -> Result:
    """Paint ``job`` and return its encoded picture, or why it failed (see the module docstring)."""
    from ..images.io import encode_image

    start = time.monotonic()
    worker, node = here()
    try:
        if threads:
            import torch

            torch.set_num_threads(threads)
        img, losses, steps = paint(job)
        data = encode_image(img, job.output)
    except ImpastoError as e:
        return Result(job.id, "failed", job.output, time.monotonic() - start, worker=worker, node=node,
                      error=str(e))
    except Exception as e:  # anything else is reported against this job; the batch goes on
        return Result(job.id, "failed", job.output, time.monotonic() - start, worker=worker, node=node,
                      error=one_line(e, "--max-long-edge") or bug_line(e))
    return Result(job.id, "done", job.output, time.monotonic() - start, losses, steps, worker, node, data=data)


def paint_events(content: bytes, style: bytes, options: Any, preview_every: float,
                 preview_edge: int) -> Iterator[dict[str, Any]]:
    """A web job on a Ray worker (``impasto serve --ray``), as a stream the server records in its
    job table: ``{"step", "total", "eta", "losses"}`` per step (with ``"preview"``, JPEG bytes, at
    most every ``preview_every`` seconds), then ``{"result": PNG bytes, "steps"}`` or ``{"error"}``.
    The images travel as bytes, so the workers need no access to the server's data folder."""
    from PIL import Image

    from ..images.io import encode_image
    from ..painter import Done, Failed, Request

    req = Request(Image.open(io.BytesIO(content)), options, (Image.open(io.BytesIO(style)),))
    for ev in painter().paint(req, preview_every, preview_edge, smaller="output size"):
        if isinstance(ev, Failed):
            yield {"error": ev.message}
        elif isinstance(ev, Done):
            yield {"result": encode_image(ev.image, "result.png"), "steps": ev.steps}
        else:
            event: dict[str, Any] = {"step": ev.step, "total": ev.total, "eta": ev.eta, "losses": ev.losses}
            if ev.preview is not None:
                event["preview"] = encode_image(ev.preview, "preview.jpg", 80)
            yield event
