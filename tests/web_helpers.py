"""Shared by the web tests: tiny images, a fast server configuration, a live loopback server."""

from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path

from PIL import Image

from impasto.web import WebConfig, create_app



def photo(size: tuple[int, int] = (48, 36)) -> Image.Image:
    """A small real photo (the README's example copy), else a synthetic gradient."""
    src = Path(__file__).resolve().parents[1] / "examples" / "tubingen.jpg"
    if src.is_file():
        img = Image.open(src).convert("RGB")
        img.thumbnail(size, Image.LANCZOS)
        return img
    w, h = size
    img = Image.new("RGB", size)
    img.putdata([(x * 255 // w, y * 255 // h, 128) for y in range(h) for x in range(w)])
    return img


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def fast_config(data_dir: Path, **changes: object) -> WebConfig:
    """Jobs of a few steps on tiny images, on the CPU, with previews at every step."""
    base = dict(data_dir=data_dir, quality_iterations={"fast": 2, "balanced": 3, "best": 4},
                quality_scales={"fast": 1, "balanced": 1, "best": 1},
                min_size=32, default_size=32, max_size=64, devices=("cpu",), preview_interval=0.0)
    base.update(changes)
    return WebConfig(**base)


def wait_for_state(get, job_id: str, states: tuple[str, ...] = ("done", "failed", "cancelled"),
                   timeout: float = 60.0) -> dict:
    """Poll GET /api/jobs/{id} (``get`` is client.get) until the job reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        job = get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The real app under uvicorn on 127.0.0.1, in a thread, for the browser and load tests."""

    def __init__(self, config: WebConfig) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(config)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", backlog=256))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
