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
from pathlib import Path
from typing import Any

from ..errors import ImpastoError
from .jobs import Job
from .records import Result

_LOADED: dict[str, tuple[Any, Any]] = {}  # "vgg" / "model" -> (identity, the loaded thing)


def here() -> tuple[str, str | None]:
    """(host:pid, Ray node id or None): who ran a job, for the results manifest."""
    node = None
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    return f"{socket.gethostname()}:{os.getpid()}", node


def vgg_for(o: Any) -> Any:
    """A VGG that serves ``o``: the one loaded for the last job when it does, else a new one
    (all layers kept, so sweeps over layers share it)."""
    from ..features.network import full_depth, load_network

    held = _LOADED.get("vgg")
    if held is not None and held[1].serves(o):
        return held[1]
    _LOADED.pop("vgg", None)  # free the old one before loading the next
    net = load_network(o, full_depth(o.arch))
    _LOADED["vgg"] = (None, net)
    return net


def model_for(name: str, device: str) -> Any:
    from ..fast.painting import as_model

    held = _LOADED.get("model")
    if held is not None and held[0] == (name, device):
        return held[1]
    _LOADED.pop("model", None)
    model = as_model(name, device)
    _LOADED["model"] = ((name, device), model)
    return model


def paint(job: Job) -> tuple[Any, dict[str, float] | None, int]:
    """The job's picture, its last losses and its steps (raises ImpastoError for bad input)."""
    if job.model is not None:
        from ..fast.painting import stylize_files

        settings = dict(job.settings)
        model = model_for(job.model, settings.pop("device"))
        [(_, img)] = list(stylize_files(model, [Path(job.content)], batch=1, **settings))
        return img, None, 0
    from ..engine import prepare

    transfer = prepare(job.content, list(job.styles), job.options, network=vgg_for(job.options))
    last = None
    for step in transfer:
        last = step
    losses = last.losses if last is not None else None
    return transfer.best_image(), losses, transfer.steps_done


def _why(e: BaseException) -> str:
    """One line for an unexpected failure."""
    text = str(e).strip().splitlines()
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "out of memory" in str(e).lower()):
        return "ran out of memory; try a smaller --max-long-edge or fewer --threads per node"
    if isinstance(e, RuntimeError) and "output size is too small" in str(e).lower():
        return "the image is too small or too narrow for the network; try a larger --max-long-edge"
    return f"{type(e).__name__}: {text[0] if text else 'no message'}"[:300]


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
                      error=_why(e))
    return Result(job.id, "done", job.output, time.monotonic() - start, losses, steps, worker, node, data=data)


def paint_events(content: bytes, style: bytes, options: Any, preview_every: float,
                 preview_edge: int) -> Iterator[dict[str, Any]]:
    """A web job on a Ray worker (``impasto serve --ray``), as a stream the server records in its
    job table: ``{"step", "total", "losses"}`` per step (with ``"preview"``, JPEG bytes, at most
    every ``preview_every`` seconds), then ``{"result": PNG bytes, "steps"}`` or ``{"error"}``.
    The images travel as bytes, so the workers need no access to the server's data folder."""
    from PIL import Image

    from ..engine import prepare
    from ..images.io import encode_image

    try:
        transfer = prepare(Image.open(io.BytesIO(content)), Image.open(io.BytesIO(style)), options,
                           network=vgg_for(options))
        last = None
        for step in transfer:
            event: dict[str, Any] = {"step": step.step, "total": transfer.total_steps, "losses": step.losses}
            now = time.monotonic()
            if last is None or now - last >= preview_every:
                img = step.image
                img.thumbnail((preview_edge, preview_edge), Image.LANCZOS)
                event["preview"], last = encode_image(img, "preview.jpg", 80), now
            yield event
        yield {"result": encode_image(transfer.best_image(), "result.png"), "steps": transfer.steps_done}
    except ImpastoError as e:
        yield {"error": str(e)}
    except Exception as e:
        yield {"error": _why(e)}
