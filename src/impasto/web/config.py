"""Every limit and default of the web service in one table, so tests and `impasto serve` set
them the same way, the page can be told what they are, and the command line's flags can be made
from it (each field's ``Setting``: its help, and the flag that sets it, if any)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

MB = 1024 * 1024
QUALITIES = ("fast", "balanced", "best")
INSTANT = "instant"  # a shipped feed-forward model: one pass, about a second
LOOPBACK_NAMES = ("localhost",)


def default_data_dir() -> Path:
    """Per-user data folder, so the job history outlives the working directory of one run."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "impasto" / "web"


@dataclass(frozen=True)
class Setting:
    """How a WebConfig field is offered on the command line: ``flag`` (None: not offered) takes
    a value in ``unit``s of the field's (megabytes for bytes: ``scale`` = MB)."""

    help: str
    flag: str | None = None
    scale: float = 1
    metavar: str | None = None
    repeat: bool = False  # a tuple field: the flag may be given several times


def setting(default: Any, help: str, **kw: Any) -> Any:
    if callable(default):
        return field(default_factory=default, metadata={"setting": Setting(help, **kw)})
    return field(default=default, metadata={"setting": Setting(help, **kw)})


@dataclass
class WebConfig:
    data_dir: Path = setting(default_data_dir, "where jobs and images are kept", flag="--data-dir")
    # Abuse limits.
    max_upload_bytes: int = setting(20 * MB, "largest upload in MB", flag="--max-upload-mb", scale=MB)
    max_pixels: int = setting(40_000_000, "largest upload in megapixels", flag="--max-megapixels", scale=1e6)
    max_queued: int = setting(500, "jobs waiting in all")
    max_waiting_per_client: int = setting(5, "unfinished jobs one browser may have at once", flag="--max-waiting")
    max_waiting_per_address: int | None = setting(
        None, "unfinished jobs one client address may have at once, from all its browsers (a router's, or "
              "a client that drops its cookie); default: four browsers' worth", flag="--max-waiting-per-address")
    max_decodes: int = setting(2, "images decoded at the same time")
    # Password guesses: wrong ones allowed per client address, and from everyone together, in a
    # burst and then at a steady rate (per minute); past that, 429 without trying the password.
    guesses_per_address: int = setting(5, "wrong passwords one client address may try in a burst")
    guesses_per_address_minute: float = setting(5.0, "then wrong passwords per minute per client address")
    guesses_total: int = setting(30, "wrong passwords all clients together may try in a burst")
    guesses_total_minute: float = setting(30.0, "then wrong passwords per minute from all clients")
    # Event streams open at once, per client address and in all.
    max_streams_per_address: int = setting(20, "event streams one client address may hold open")
    max_streams: int = setting(400, "event streams open at once in all")
    # Slow clients: seconds to send the request headers, to send each piece of a body, and the
    # whole body; and the bytes that bodies still arriving may hold at once (their spool files).
    header_timeout: float = setting(10.0, "seconds a client has to send a request's headers")
    body_idle_timeout: float = setting(20.0, "seconds a request body may pause")
    body_timeout: float = setting(300.0, "seconds a request body may take in all")
    max_pending_upload_bytes: int = setting(256 * MB, "bytes that unfinished request bodies may hold at once")
    # Who may talk to the server. Host names (not addresses, which cannot be DNS-rebound) a
    # request may be addressed to; "*" accepts any. And an optional password for shared servers.
    allowed_hosts: tuple[str, ...] = setting(
        LOOPBACK_NAMES, "a host name the server may be reached by (IP addresses always work, localhost "
                        "too); '*' for any", flag="--allow-host", metavar="NAME", repeat=True)
    password: str | None = setting(None, "ask every browser and API client for this password", flag="--password")
    max_attempts: int = setting(3, "tries of a job the server died on before it is failed")
    keep_days: float = setting(30.0, "delete finished jobs and their images after this many days; 0 keeps them",
                               flag="--keep-days")
    stop_timeout: float = setting(5.0, "seconds stopping waits for a worker to finish its current step")
    # Output long edge: what the page offers by default and the most any job may ask for.
    default_size: int = setting(512, "the output size the page offers first")
    min_size: int = setting(64, "smallest output long edge (the network pools 4 times)")
    max_size: int = setting(1024, "largest output long edge in pixels; bigger requests are clamped",
                            flag="--max-size")
    quality_iterations: dict[str, int] = setting(
        lambda: {"fast": 100, "balanced": 500, "best": 1000}, "optimiser steps per quality level")
    quality_scales: dict[str, int] = setting(lambda: {"fast": 1, "balanced": 2, "best": 2},
                                             "sizes painted coarse to fine per quality level")
    quality_stop_eps: dict[str, float | None] = setting(
        lambda: {"fast": None, "balanced": None, "best": 0.0},
        "the stop rule per quality (None: the engine's default; 0: run every step)")
    devices: tuple[str, ...] = setting(
        ("auto",), "run a worker on this device (auto, cpu, cuda:0, ...); empty: jobs queue but never run",
        flag="--device", metavar="DEVICE", repeat=True)
    preview_interval: float = setting(0.5, "seconds between a running job's live previews")
    preview_edge: int = setting(384, "long edge of the live preview in pixels")
    thumbnail_edge: int = setting(256, "long edge of the history's thumbnails in pixels")
    min_step_seconds: float = setting(0.0, "least time one step takes (demos and tests slow painting down)")
    ray_address: str | None = setting(None, "a Ray cluster to paint on (None: in this process)")

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
    def waiting_per_address(self) -> int:
        return self.max_waiting_per_address or 4 * self.max_waiting_per_client

    @property
    def max_request_bytes(self) -> int:
        """Two images plus room for the form fields and multipart framing."""
        return 2 * self.max_upload_bytes + MB


def settings() -> dict[str, Setting]:
    """Every WebConfig field's Setting by name, in table order."""
    return {f.name: f.metadata["setting"] for f in fields(WebConfig)}
