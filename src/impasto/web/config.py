"""Every limit and default of the web service in one dataclass, so tests and `impasto serve`
set them the same way and the page can be told what they are."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MB = 1024 * 1024
QUALITIES = ("fast", "balanced", "best")
INSTANT = "instant"  # a shipped feed-forward model: one pass, about a second
LOOPBACK_NAMES = ("localhost",)


def default_data_dir() -> Path:
    """Per-user data folder, so the job history outlives the working directory of one run."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "impasto" / "web"


@dataclass
class WebConfig:
    data_dir: Path = field(default_factory=default_data_dir)
    # Abuse limits: bytes per uploaded file, pixels an uploaded image may announce, jobs waiting
    # at once (in all, and per browser), images decoded at the same time.
    max_upload_bytes: int = 20 * MB
    max_pixels: int = 40_000_000
    max_queued: int = 500
    max_waiting_per_client: int = 5
    max_decodes: int = 2
    # Who may talk to the server. Host names (not addresses, which cannot be DNS-rebound) a
    # request may be addressed to; "*" accepts any. And an optional password for shared servers.
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES
    password: str | None = None
    # A job the server died on this many times (a crash, the kernel's OOM killer) is failed
    # instead of being queued again at the next start.
    max_attempts: int = 3
    # Finished jobs (and their images) older than this are deleted; 0 keeps them forever.
    keep_days: float = 30.0
    # How long stopping may wait for a worker to finish its current step before leaving.
    stop_timeout: float = 5.0
    # Output long edge: what the page offers by default and the most any job may ask for.
    default_size: int = 512
    min_size: int = 64  # the network pools 4 times: much smaller and the deep layers vanish
    max_size: int = 1024
    # Optimiser steps per quality level (and, where the engine has them, scales).
    quality_iterations: dict[str, int] = field(
        default_factory=lambda: {"fast": 100, "balanced": 500, "best": 1000})
    quality_scales: dict[str, int] = field(default_factory=lambda: {"fast": 1, "balanced": 2, "best": 2})
    # The stop rule per quality (None: the engine's default; 0: run every step).
    quality_stop_eps: dict[str, float | None] = field(
        default_factory=lambda: {"fast": None, "balanced": None, "best": 0.0})
    # One worker per entry, each owning its device; empty means jobs queue but never run.
    devices: tuple[str, ...] = ("auto",)
    # How often a running job refreshes its live preview (seconds) and how big it is (pixels).
    preview_interval: float = 0.5
    preview_edge: int = 384
    # The least time one step takes: 0 in service; demos and tests on tiny images set it so
    # that the painting can be watched as it forms.
    min_step_seconds: float = 0.0
    # A Ray cluster to paint on (`impasto serve --ray`): each worker thread hands its job to it;
    # None paints in this process.
    ray_address: str | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        missing = [q for q in QUALITIES if q not in self.quality_iterations]
        if missing:
            raise ValueError(f"quality_iterations lacks {', '.join(missing)}")

    @property
    def max_decode_pixels(self) -> int:
        """The most pixels an upload is ever decoded at: 16 times the largest painting's (for a
        square). An upload is kept at its painting's size, so more is only memory: JPEGs are
        decoded at a reduced scale to get under this, other formats above it are refused."""
        return min(self.max_pixels, (4 * self.max_size) ** 2)

    @property
    def max_request_bytes(self) -> int:
        """Two images plus room for the form fields and multipart framing."""
        return 2 * self.max_upload_bytes + MB
