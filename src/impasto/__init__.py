"""impasto: neural style transfer after Gatys, Ecker & Bethge, with the controls users expect.

    import impasto
    img = impasto.stylize("photo.jpg", "painting.jpg", style_weight=3e8)
    for step in impasto.prepare("photo.jpg", "painting.jpg", iterations=200): ...

The engine (and with it torch) is imported on first use of one of its names, so that
``impasto --help`` and argument errors answer at once.
"""

from __future__ import annotations

from typing import Any

from .errors import ImpastoError
from .options import Options, Resolved, resolve
from .presets import PRESETS

__all__ = ["ImpastoError", "Options", "PRESETS", "Resolved", "Transfer", "prepare", "resolve", "stylize",
           "stylize_iter"]
__version__ = "0.1.0"
_ENGINE = {"Transfer", "prepare", "stylize", "stylize_iter"}


def __getattr__(name: str) -> Any:
    if name in _ENGINE:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'impasto' has no attribute {name!r}")
