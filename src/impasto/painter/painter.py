"""The painter: loaded networks and models kept for the next request, and the painting loop."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import torch
from PIL import Image

from ..arbitrary.painting import ArbitraryModel
from ..arbitrary.painting import stylize as stylize_any
from ..engine import Transfer, prepare
from ..fast.painting import as_model, finish, paint_photo
from ..features.devices import resolve_device
from ..features.network import Network, full_depth, load_network
from ..images.io import MAX_PIXELS
from ..options import Resolved
from ..shipped import ANY
from .eta import Eta
from .events import Done, Event, Failed, Progress
from .failures import bug_line, one_line
from .request import Request


def thumbnail(img: Image.Image, edge: int) -> Image.Image:
    if edge and max(img.size) > edge:
        img = img.copy()
        img.thumbnail((edge, edge), Image.LANCZOS)
    return img


class Painter:
    """Paints requests, keeping what it loaded: one VGG per device (replaced when a request
    needs another network; all layers kept, so requests with other layers share it) and the
    last ``keep_models`` feed-forward models. Safe to share between threads: loading is
    serialised, and the loaded weights are never changed by a painting."""

    def __init__(self, keep_models: int = 8) -> None:
        self.keep_models = keep_models
        self._lock = threading.Lock()
        self._networks: dict[torch.device, Network] = {}
        self._models: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def network(self, o: Resolved) -> Network:
        """A VGG that serves ``o``: the one held for its device, or a new one in its place."""
        device = resolve_device(o.device)
        with self._lock:
            held = self._networks.get(device)
            if held is None or not held.serves(o):
                self._networks.pop(device, None)  # free the old one before loading the next
                held = self._networks[device] = load_network(o, full_depth(o.arch))
            return held

    def model(self, name: Any, device: str, precision: str = "auto") -> Any:
        """A feed-forward model loaded on ``device``: a shipped name, ``NAME:size`` or a file
        (a ``FastModel``), or ``any`` (the arbitrary-style network, an ``ArbitraryModel``)."""
        key = (str(name), str(device), precision if str(name) == ANY else "")
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            if str(name) == ANY:
                model = ArbitraryModel.load(device=device, precision=precision)
            else:
                model = as_model(name, device)
            self._models[key] = model
            while len(self._models) > self.keep_models:
                self._models.popitem(last=False)
            return model

    def paint(self, request: Request, preview_every: float | None = None, preview_edge: int = 0,
              smaller: str = "--max-long-edge") -> "Painting":
        """A :class:`Painting` of ``request``: iterate it for events. ``preview_every``: seconds
        between previews (None: none); ``preview_edge``: their long edge; ``smaller``: how the
        shell names the output size in failure lines."""
        return Painting(self, request, preview_every, preview_edge, smaller)


class Painting:
    """One request being painted: iterating yields :class:`Progress` events, then one
    :class:`Done` or :class:`Failed`. ``best_image()`` at any time (e.g. after Ctrl-C, which
    goes through as KeyboardInterrupt); ``position()`` for a later resume."""

    def __init__(self, painter: Painter, request: Request, preview_every: float | None, preview_edge: int,
                 smaller: str) -> None:
        self.painter, self.request = painter, request
        self.preview_every, self.preview_edge, self.smaller = preview_every, preview_edge, smaller
        self.transfer: Transfer | None = None

    def __iter__(self) -> Iterator[Event]:
        try:
            if self.request.model is not None:
                yield self._model()
            else:
                yield from self._optimise()
        except Exception as e:  # KeyboardInterrupt goes through: the shell keeps the best image
            line = one_line(e, self.smaller)
            yield Failed(line or bug_line(e), e, bug=line is None)

    def result(self, on_progress: Callable[[Progress], None] | None = None) -> Done:
        """Paint to the end and return the picture (``on_progress`` sees each step); a failure
        is raised (:meth:`Failed.throw`)."""
        for ev in self:
            if isinstance(ev, Failed):
                ev.throw()
            if isinstance(ev, Done):
                return ev
            if on_progress is not None:
                on_progress(ev)
        raise RuntimeError("the painting ended without a result")

    @property
    def steps_done(self) -> int:
        return self.transfer.steps_done if self.transfer is not None else 0

    def best_image(self) -> Image.Image | None:
        return self.transfer.best_image() if self.transfer is not None else None

    def position(self) -> Any:
        """Where the optimisation is (``engine.Resume``), or None before it started."""
        return self.transfer.position() if self.transfer is not None else None

    def _optimise(self) -> Iterator[Event]:
        req, start = self.request, time.monotonic()
        o = req.options
        instant = self.painter.model(ANY, o.device, o.precision) if o.init == "instant" else None
        t = self.transfer = prepare(req.content, list(req.styles), o, network=self.painter.network(o),
                                    resume=req.resume, instant=instant)
        eta = Eta(t.sizes, t.iterations)
        last_preview = None
        step = None
        for step in t:
            now = time.monotonic()
            preview = None
            if self.preview_every is not None and (last_preview is None or now - last_preview >= self.preview_every):
                preview, last_preview = thumbnail(step.image, self.preview_edge), now
            size_step = step.step - t.done_sizes_steps
            yield Progress(step.step, t.total_steps, eta.update(t.size_index, size_step, now), preview, step)
        losses = step.losses if step is not None else None
        yield Done(t.best_image(), t.steps_done, losses, time.monotonic() - start, t.stopped_early)

    def _model(self) -> Done:
        req, start = self.request, time.monotonic()
        s = dict(req.settings)
        device = s.pop("device", "auto")
        if str(req.model) != ANY:
            model = self.painter.model(req.model, device)
            return Done(paint_photo(model, req.content, **s), 1, None, time.monotonic() - start, note=model.choice)
        precision = s.get("precision", "auto")
        model = self.painter.model(ANY, device, precision)
        image = stylize_any(model, req.content, list(req.styles), blend=s.get("blend"), alpha=s.get("alpha", 1.0),
                            color=s.get("color", "style"), long_edge=s.get("long_edge"),
                            style_scale=s.get("style_scale", 1.0), precision=precision,
                            max_pixels=s.get("max_pixels", MAX_PIXELS))
        image = finish(image, image, denoise=s.get("denoise", 0.0))  # colour was the network's
        return Done(image, 1, None, time.monotonic() - start, note="--model any: the arbitrary-style network")
