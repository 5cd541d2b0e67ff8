"""What a job may ask for through the web, checked, and how it maps onto engine Options.

The web exposes four plain-language controls instead of the engine's thirty knobs: style
strength (a multiplier on beta), output size (long edge, clamped to the configured range),
colour preservation and a quality level (steps, and for "best" two sizes coarse to fine).
Everything else stays at the engine's defaults, so a web job paints like ``impasto stylize``
with the same settings; the resolved options are stored with the job and shown by the API.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import HTTPException

from ..errors import ImpastoError
from ..options import Options, Resolved, resolve
from .config import QUALITIES, WebConfig

MIN_STRENGTH, MAX_STRENGTH = 0.1, 10.0


@dataclass
class JobSpec:
    """A validated request: safe to store as JSON and to turn into Options later."""

    style_strength: float = 1.0
    size: int = 512
    preserve_color: bool = False
    quality: str = "balanced"
    style_id: str | None = None  # a bundled painting, or None for an uploaded style
    requested_size: int | None = None  # what the client asked for, when it was clamped

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_spec(cfg: WebConfig, style_strength: float, size: int | None, preserve_color: bool,
               quality: str, style_id: str | None) -> JobSpec:
    """A JobSpec, or a 422 naming the bad field. Sizes are clamped, not refused."""
    if not math.isfinite(style_strength) or not MIN_STRENGTH <= style_strength <= MAX_STRENGTH:
        raise HTTPException(422, f"style_strength must be between {MIN_STRENGTH:g} and {MAX_STRENGTH:g}, "
                                 f"not {style_strength:g}")
    if quality not in QUALITIES:
        raise HTTPException(422, f"quality must be one of {', '.join(QUALITIES)}, not {quality!r}")
    asked = cfg.default_size if size is None else size
    if asked < 1:
        raise HTTPException(422, f"size must be a positive number of pixels, not {asked}")
    clamped = max(cfg.min_size, min(cfg.max_size, asked))
    return JobSpec(style_strength=float(style_strength), size=clamped, preserve_color=bool(preserve_color),
                   quality=quality, style_id=style_id, requested_size=asked if asked != clamped else None)


def to_options(spec: JobSpec, cfg: WebConfig, device: str) -> Resolved:
    """The engine settings for a job on ``device``: the engine's defaults with the page's four
    controls applied, resolved once (the same door as ``impasto stylize``)."""
    base = Options()
    typed: dict[str, object] = dict(
        style_weight=base.style_weight * spec.style_strength,
        max_long_edge=spec.size,
        iterations=cfg.quality_iterations[spec.quality],
        max_pixels=max(cfg.max_pixels, base.max_pixels),
        device=device,
    )
    if spec.preserve_color:
        typed["color"] = "luminance"
    scales = cfg.quality_scales.get(spec.quality, 1)
    if scales > 1:
        typed["scales"] = (scales,)  # N sizes, coarse to fine
    try:
        return resolve(**typed)
    except ImpastoError as e:
        raise HTTPException(422, str(e)) from None


def total_steps(o: Resolved) -> int:
    """Optimiser steps over all of a job's sizes."""
    return sum(o.size_iterations)
