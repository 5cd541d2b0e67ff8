"""What a job may ask for through the web, checked, and how it maps onto engine Options.

The web exposes four plain-language controls instead of the engine's thirty knobs: style
strength (a multiplier on beta), output size (long edge, clamped to the configured range),
colour preservation and a quality level (steps, and for "best" two sizes coarse to fine).
Everything else stays at the engine's defaults, so a web job paints like ``impasto stylize``
with the same settings; the resolved options are stored with the job and shown by the API. The
quality ``instant`` is different: a shipped feed-forward model paints the photo in one pass
(``instant.py``).

Every check happens here, when the job is asked for, and says what is wrong in the page's
words (never the command line's), so a job that is accepted can be painted.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from ..errors import ImpastoError
from ..features.layers import deepest_stride
from ..options import Options, Resolved, default_style_weight, from_record, resolve
from .config import INSTANT, QUALITIES, WebConfig
from .files import INIT
from .gallery import BY_ID

MIN_STRENGTH, MAX_STRENGTH = 0.1, 10.0


@dataclass
class JobSpec:
    """A validated request: safe to store as JSON and to turn into Options later."""

    style_strength: float = 1.0
    size: int = 512
    preserve_color: bool = False
    quality: str = "balanced"  # or "instant"
    style_id: str | None = None  # a bundled painting or instant style; None for an uploaded style
    requested_size: int | None = None  # what the client asked for, when it was clamped
    refine_of: str | None = None  # the instant job whose painting this one starts from

    @property
    def instant(self) -> bool:
        return self.quality == INSTANT

    def any_network(self, instant_ids: Collection[str]) -> bool:
        """An instant job painted by the arbitrary-style network (a painting, not a shipped style)."""
        return self.instant and self.style_id not in instant_ids

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_spec(job: Any) -> JobSpec:
    """The request a stored job was made from (its record also holds the resolved engine options)."""
    return JobSpec(**{k: v for k, v in job.params.items() if k != "engine"})


def check_spec(cfg: WebConfig, style_strength: float | None, size: int | None, preserve_color: bool,
               quality: str | None, style_id: str | None, has_style_file: bool,
               instant_ids: Collection[str], any_network: bool = False) -> JobSpec:
    """A JobSpec, or a 422 naming the bad field. Sizes are clamped, not refused.

    ``style_id`` names a bundled painting or, with ``quality=instant``, an instant style; an
    id that is only an instant style (``candy``) means ``instant`` when no quality is given.
    With ``any_network`` (the arbitrary-style network is installed) ``instant`` also paints any
    bundled or uploaded painting in one pass; its strength sets the balance (1 or more: all style).
    """
    if style_id and has_style_file:
        raise HTTPException(422, "give either style_id or a style image, not both")
    if not style_id and not has_style_file:
        raise HTTPException(422, "a style is needed: give style_id or upload a style image")
    if quality is None:
        quality = INSTANT if style_id in instant_ids and style_id not in BY_ID else "balanced"
    if quality == INSTANT and any_network and style_id not in instant_ids and (has_style_file or style_id in BY_ID):
        pass  # the arbitrary-style network paints this painting
    elif quality == INSTANT:
        if style_id not in instant_ids:
            raise HTTPException(422, "instant styles are " + ", ".join(instant_ids) + "; an uploaded or "
                                     "other style needs quality " + ", ".join(QUALITIES))
        if style_strength not in (None, 1.0):
            raise HTTPException(422, "style_strength does not apply to instant styles (their strength "
                                     "is learned); leave it out")
    elif quality not in QUALITIES:
        raise HTTPException(422, f"quality must be one of {', '.join(QUALITIES)} or {INSTANT}, not {quality!r}")
    elif style_id and style_id not in BY_ID:
        if style_id in instant_ids:
            raise HTTPException(422, f"{style_id} is an instant style: choose quality {INSTANT} (its "
                                     "painting does not come with the app, so it cannot be optimised)")
        raise HTTPException(422, f"unknown style_id {style_id!r}; choose {', '.join(BY_ID)} "
                                 f"(or {', '.join(instant_ids)} with quality {INSTANT})")
    strength = 1.0 if style_strength is None else style_strength
    if not math.isfinite(strength) or not MIN_STRENGTH <= strength <= MAX_STRENGTH:
        raise HTTPException(422, f"style_strength must be between {MIN_STRENGTH:g} and {MAX_STRENGTH:g}, "
                                 f"not {strength:g}")
    asked = cfg.default_size if size is None else size
    if asked < 1:
        raise HTTPException(422, f"size must be a positive number of pixels, not {asked}")
    clamped = max(cfg.min_size, min(cfg.max_size, asked))
    return JobSpec(style_strength=float(strength), size=clamped, preserve_color=bool(preserve_color),
                   quality=quality, style_id=style_id or None, requested_size=asked if asked != clamped else None)


def check_shape(what: str, width: int, height: int, spec: JobSpec, cfg: WebConfig) -> None:
    """Refuse, with 422, a photo too narrow to paint at the job's size (a 2000x3 strip): the
    network's deepest layer must still see one position at the job's smallest size. Instant
    jobs are held to the single-size rule, so they can be refined."""
    try:
        o = to_options(replace(spec, quality="balanced") if spec.instant else spec, cfg, "auto")
    except ImpastoError as e:
        raise HTTPException(422, str(e)) from None
    need = deepest_stride(o.layers)
    smallest = o.scales[0]
    short = round(min(width, height) * spec.size / max(width, height))
    if min(width, height) * smallest / max(width, height) < need:
        least = math.ceil(need * spec.size / smallest)
        raise HTTPException(422, f"the {what} image is {width}x{height}: too narrow to paint; at "
                                 f"{spec.size} px its short side would be {short} px, and at least "
                                 f"{least} px are needed (crop it, or choose a larger output size)")


def to_options(spec: JobSpec, cfg: WebConfig, device: str) -> Resolved:
    """The engine settings for a job on ``device``: the engine's defaults with the page's four
    controls applied, resolved once (the same door as ``impasto stylize``). A refinement starts
    from the instant painting it refines (``init``: the job's own file, named relative to its
    folder). An ImpastoError says why they cannot be (the app answers 422 with it)."""
    base = Options()
    typed: dict[str, object] = dict(
        style_weight=default_style_weight(base.weights) * spec.style_strength,
        max_long_edge=spec.size,
        iterations=cfg.quality_iterations[spec.quality],
        max_pixels=max(cfg.max_pixels, base.max_pixels),
        device=device,
    )
    if spec.preserve_color:
        typed["color"] = "luminance"
    if spec.refine_of:
        typed["init"] = INIT
    typed["scales"] = (cfg.quality_scales.get(spec.quality, 1),)  # N sizes, coarse to fine
    stop = cfg.quality_stop_eps.get(spec.quality)
    if stop is not None:
        typed["stop_eps"] = stop
    return resolve(**typed)


def engine_options(record: dict[str, Any], folder: Path) -> Resolved:
    """A job's stored engine record as the options a worker runs: the record itself, with a file
    it names relative to the job (a refinement's start) found in the job's folder."""
    if record.get("init") == INIT:
        record = {**record, "init": str(folder / INIT)}
    return from_record(record)


def total_steps(o: Resolved) -> int:
    """Optimiser steps over all of a job's sizes."""
    return sum(o.size_iterations)
