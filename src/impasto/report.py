"""What a run leaves besides the image: a JSON-lines log and a loss-curve plot."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .atomic import atomic_path


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

    from .images import output_format

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
