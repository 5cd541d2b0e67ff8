"""What a run shows and leaves besides the image: a progress bar, a JSON-lines log, a loss plot."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..images.atomic import atomic_path, output_format


class Progress:
    """A live bar (step, losses, it/s, ETA) on stderr; silent with --quiet."""

    def __init__(self, total: int, quiet: bool, unit: str = "it") -> None:
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, dynamic_ncols=True, file=sys.stderr, mininterval=0.25)
        self.last = 0.0

    def update(self, step: int, losses: Callable[[], dict[str, float]] = dict, total: int | None = None) -> None:
        """Move to ``step`` of ``total`` (which falls when a size stops early); ``losses`` is
        called (reading the device) only as often as shown."""
        if self.bar is None:
            return
        if total is not None and total != self.bar.total:
            self.bar.total = total
        self.bar.update(step - self.bar.n)
        now = time.monotonic()
        if now - self.last > 0.25:
            self.last = now
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in losses().items()}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class JsonLog:
    """One JSON object per step, written to a temporary file and renamed on close."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._ctx = atomic_path(path)
        self.f = open(self._ctx.__enter__(), "w", buffering=1)  # line-buffered: others can tail it

    def write(self, record: dict) -> None:
        self.f.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self.f.close()
        self._ctx.__exit__(None, None, None)


def plot_losses(history: list[dict], path: str | os.PathLike[str]) -> None:
    """Loss curves (log scale) of each weighted term against the step, saved atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output_format(path)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [h["step"] for h in history]
    for key in ("total", "content", "style", "tv"):
        ys = [h[key] for h in history]
        if any(y > 0 for y in ys):
            ax.plot(steps, ys, label=key, lw=2 if key == "total" else 1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("impasto: loss per step")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".").lower().replace("jpg", "jpeg"))
    finally:
        plt.close(fig)
