"""Checks for the options that go beyond the 2015 paper (colour, masks, scales, memory).

Kept apart from ``options.py`` so the paper's knobs read on their own; ``Options.validated``
calls :func:`check_options`, so a bad value is refused before any work with a one-line error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .color import COLOR_MODES
from .errors import ImpastoError

if TYPE_CHECKING:
    from .options import Options

MEMORY_MODES = ("auto", "full", "checkpoint", "tiled")
MAX_SCALE_COUNT = 8  # --scales N with N up to this; larger single values are long edges


def _whole(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_options(o: "Options") -> None:
    """Raise an ImpastoError naming the first bad value among the beyond-the-paper options."""
    if o.color not in COLOR_MODES:
        raise ImpastoError(f"unknown --color {o.color!r}; choose {', '.join(COLOR_MODES)}")
    if o.memory not in MEMORY_MODES:
        raise ImpastoError(f"unknown --memory {o.memory!r}; choose {', '.join(MEMORY_MODES)}")
    if not _whole(o.tile) or o.tile < 64:
        raise ImpastoError(f"--tile must be a whole number of at least 64 pixels, not {o.tile!r}")
    scales = tuple(o.scales or ())
    if not all(_whole(s) for s in scales):
        raise ImpastoError(f"--scales must be whole numbers, not {o.scales!r}")
    if len(scales) == 1:
        if scales[0] < 1:
            raise ImpastoError(f"--scales must be at least 1, not {scales[0]}")
        if MAX_SCALE_COUNT < scales[0] < 16:
            raise ImpastoError(f"--scales {scales[0]}: give at most {MAX_SCALE_COUNT} scales, "
                               "or long edges of at least 16 pixels")
    elif scales:
        if any(s < 16 for s in scales):
            raise ImpastoError(f"--scales: every long edge must be at least 16 pixels, not {min(scales)}")
        if list(scales) != sorted(set(scales)):
            raise ImpastoError("--scales: give the long edges from small to large, each once")
    if o.masks is not None:
        if isinstance(o.masks, (str, bytes)) or not isinstance(o.masks, (list, tuple)):
            raise ImpastoError("masks must be a list with one mask per style image")
        if not o.masks:
            raise ImpastoError("masks, when given, need one mask per style image")
