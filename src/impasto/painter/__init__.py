"""The one painter behind every shell: a request in, progress events out, a picture or one line.

The CLI, the web worker (local and on Ray), the batch worker (local, Ray tasks and model
actors) and the grid all paint through :class:`Painter`: it holds the loaded networks and
models (one cache), runs the optimisation engine or a feed-forward model for a
:class:`Request`, and yields :class:`Progress` events (step, the total the sizes actually
planned, losses, an ETA that knows each size's cost, a preview when asked) that end in
:class:`Done` or :class:`Failed`. Exceptions become those one-line failures in one place
(``failures.py``).

Names are imported on first use, so ``failures`` and ``request`` are read without torch (a Ray
driver plans and records without it).
"""

from importlib import import_module
from typing import Any

_HOME = {"Done": "events", "Event": "events", "Failed": "events", "Progress": "events", "one_line": "failures",
         "Painter": "painter", "Painting": "painter", "Request": "request"}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module 'impasto.painter' has no attribute {name!r}")
