"""The shapes of the REST API's answers, as pydantic models so that the OpenAPI document (and
the /docs page built from it) describes every field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    detail: str = Field(description="What was wrong, in one line")


class JobOptions(BaseModel):
    style_strength: float = Field(description="Multiplier on the style weight (beta)")
    size: int = Field(description="Long edge of the result in pixels, after clamping")
    requested_size: int | None = Field(None, description="The size asked for, when it was clamped")
    preserve_color: bool = Field(description="Keep the photo's colours")
    quality: str = Field(description="fast, balanced, best, or instant (a shipped feed-forward model)")
    style_id: str | None = Field(None, description="Bundled painting (or instant style), or null for an "
                                                   "uploaded style")
    refine_of: str | None = Field(None, description="The instant job this one refines, starting from its painting")
    engine: dict[str, Any] | None = Field(None, description="The engine options the job runs with, resolved "
                                                           "(as `impasto stylize` would; device 'auto'); "
                                                           "none for an instant job")


class JobLinks(BaseModel):
    self: str
    events: str
    content: str
    style: str
    preview: str
    result: str
    thumbnail: str = Field(description="A small JPEG of the job for lists: the result, the latest "
                                       "preview, or the photo")
    download: str
    cancel: str
    refine: str


class JobOut(BaseModel):
    id: str = Field(description="Unguessable job id")
    state: str = Field(description="queued, running, done, failed or cancelled")
    instant: bool = Field(description="Painted by an instant style (one pass of a shipped model)")
    created: float = Field(description="Unix time the job was queued")
    started: float | None = None
    finished: float | None = None
    jobs_ahead: int | None = Field(None, description="While queued: jobs that run before this one")
    step: int = Field(description="Optimiser steps done")
    total: int = Field(description="Optimiser steps planned")
    progress: float = Field(description="step / total, 0 to 1")
    eta_seconds: float | None = Field(None, description="Estimated seconds left while running")
    losses: dict[str, float] | None = Field(None, description="content, style, tv and total at the last step")
    preview_version: int = Field(description="Goes up each time a new preview image is written")
    error: str | None = Field(None, description="Why the job failed")
    style_title: str = Field(description="The painting's title, or 'your style image'")
    refinable: bool = Field(description="A finished instant job whose painting ships with the app: "
                                        "POST .../refine optimises from it")
    options: JobOptions
    links: JobLinks


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int = Field(description="All jobs in this browser's history")


class Deleted(BaseModel):
    deleted: int = Field(description="How many jobs (and their images) were deleted")


class StyleOut(BaseModel):
    id: str
    title: str
    artist: str
    year: str
    credit: str
    image_url: str


class InstantStyleOut(BaseModel):
    id: str
    title: str
    credit: str
    painting_id: str | None = Field(None, description="The bundled painting it learned from, used to "
                                                      "refine its results (null: cannot be refined)")
    preview_url: str = Field(description="A sample painted with this style (JPEG)")


class QualityOut(BaseModel):
    id: str
    iterations: int


class Capabilities(BaseModel):
    max_upload_bytes: int
    max_pixels: int
    min_size: int
    max_size: int
    default_size: int
    min_strength: float
    max_strength: float
    qualities: list[QualityOut]
    color_in_engine: bool = Field(description="True when the engine preserves colour itself "
                                              "(else it is done after painting)")
    workers: int
    max_waiting_per_client: int = Field(description="Unfinished jobs one browser may have at once")
    password_required: bool = Field(description="The server needs a password (POST /api/login)")
    instant_any: bool = Field(False, description="quality=instant also paints any bundled or uploaded painting in "
                                                 "one pass (the arbitrary-style network is installed)")
    authorised: bool = Field(description="This request carried the password, or none is needed")
