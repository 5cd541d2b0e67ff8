"""What to paint, fully decided: the shells build one, the painter runs it as it is."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..options import Resolved

if TYPE_CHECKING:
    from ..engine import Resume


@dataclass(frozen=True)
class Request:
    """One picture. An optimisation needs ``styles`` and resolved ``options``; a feed-forward
    ``model`` (a shipped name, ``NAME:size``, a file, or ``any`` with ``styles`` as the
    paintings) takes ``settings``, what :func:`impasto.fast.options.model_run_settings` kept
    of the user's options. ``resume``: where an earlier run of this request stopped."""

    content: Any  # a path or a PIL image
    options: Resolved
    styles: tuple[Any, ...] = ()
    model: str | os.PathLike[str] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    resume: "Resume | None" = None
