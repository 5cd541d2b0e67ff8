"""What a painting reports while it runs, and how it ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn, Union

from PIL import Image

from ..errors import ImpastoError


@dataclass
class Progress:
    """One optimiser step. ``total``: the steps the sizes plan now (it falls when a size stops
    early); ``eta``: seconds left, None until there is a step to time; ``preview``: a small
    picture of this step, when the painting was asked for previews and one is due. ``losses``
    and ``image`` read the device when first used, so a consumer that skips them costs nothing."""

    step: int
    total: int
    eta: float | None
    preview: Image.Image | None
    source: Any  # the engine's Step

    @property
    def losses(self) -> dict[str, float]:
        return self.source.losses

    @property
    def image(self) -> Image.Image:
        return self.source.image

    @property
    def long_edge(self) -> int:
        return max(self.source.run.content_size)


@dataclass
class Done:
    """The picture. ``steps``: optimiser steps taken (1 for a model's single pass); ``note``: what
    the user should know about how it was painted (e.g. which size of a shipped model)."""

    image: Image.Image
    steps: int
    losses: dict[str, float] | None
    seconds: float
    stopped_early: bool = False
    note: str = ""


@dataclass
class Failed:
    """One line for the user. ``error`` is the exception; ``bug`` says it was not the user's
    input or the machine's limits but impasto's fault (the shell logs or shows it in full)."""

    message: str
    error: BaseException | None = None
    bug: bool = False

    def throw(self) -> NoReturn:
        """Raise it for a shell that reports errors by exception: the user's one line as an
        ImpastoError, a bug as itself."""
        if self.bug and self.error is not None:
            raise self.error
        raise ImpastoError(self.message)


Event = Union[Progress, Done, Failed]
