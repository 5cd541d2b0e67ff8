"""What a run leaves besides the image: a JSON-lines log and a loss-curve plot."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .errors import ImpastoError


class JsonLog:
    """One JSON object per step, written to a temporary file and renamed on close."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        parent = self.path.parent if str(self.path.parent) else Path(".")
        try:
            fd, self.tmp = tempfile.mkstemp(dir=parent, prefix="." + self.path.name, suffix=".tmp")
        except OSError as e:
            raise ImpastoError(f"cannot write {self.path}: {e.strerror}") from None
        self.f = os.fdopen(fd, "w")

    def write(self, record: dict) -> None:
        self.f.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self.f.close()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)


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
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + p.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=p.suffix.lstrip(".").lower().replace("jpg", "jpeg"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
