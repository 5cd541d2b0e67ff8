"""Shared by the web tests: tiny images, a fast server configuration, a live loopback server."""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from impasto.web import WebConfig, create_app
from impasto.web.serve import make_server

# What the test client sends as Host: an address, as a browser on this machine would.
LOCAL = "http://127.0.0.1:8000"


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


def submit(c, content: bytes, style_id: str | None = "starry_night", style: bytes | None = None,
           name: str = "photo.png", **fields: object):
    """POST /api/jobs with ``c`` (a test client or httpx client): the photo, a style, any fields."""
    files = {"content": (name, content, "image/png")}
    if style is not None:
        files["style"] = ("style.png", style, "image/png")
    data = {k: str(v) for k, v in fields.items()}
    if style_id is not None:
        data["style_id"] = style_id
    return c.post("/api/jobs", files=files, data=data)


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header announcing a huge image, with almost no data behind it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def fast_config(data_dir: Path, **changes: object) -> WebConfig:
    """Jobs of a few steps on tiny images, on the CPU, with previews at every step."""
    base = dict(data_dir=data_dir, quality_iterations={"fast": 2, "balanced": 3, "best": 4},
                quality_scales={"fast": 1, "balanced": 1, "best": 1},
                min_size=32, default_size=32, max_size=64, devices=("cpu",), preview_interval=0.0)
    base.update(changes)
    return WebConfig(**base)


LONG = 100_000  # steps of a "fast" job under slow_config: it runs until it is stopped


def slow_config(data_dir: Path, **changes: object) -> WebConfig:
    """As fast_config, but a "fast" job never ends by itself (cancel it, or stop the server)."""
    return fast_config(data_dir, quality_iterations={"fast": LONG, "balanced": 3, "best": 4}, **changes)


def start_long_job(c, png: bytes) -> dict:
    """Queue a never-ending job with ``c`` (a test client) and wait until it runs."""
    job = submit(c, png, quality="fast").json()
    return wait_for_state(c.get, job["id"], ("running",))


def wait_for_step(get, job_id: str, step: int, timeout: float = 60.0) -> dict:
    """Poll GET /api/jobs/{id} until the running job has reached ``step``."""
    deadline = time.monotonic() + timeout
    while True:
        job = get(f"/api/jobs/{job_id}").json()
        if job["step"] >= step:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not reach step {step}: {job}")
        time.sleep(0.05)


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


def api_client(config: WebConfig, **kwargs: object):
    """FastAPI's test client for a new app (enter it with ``with`` to start the workers)."""
    from fastapi.testclient import TestClient

    return TestClient(create_app(config), base_url=LOCAL, **kwargs)


class LiveServer:
    """The real app under uvicorn on 127.0.0.1, in a thread, for the browser and load tests
    (``port``: listen where an earlier server did, to play a restart)."""

    def __init__(self, config: WebConfig, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(config)
        self.server = make_server(self.app, "127.0.0.1", self.port)
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


# Fixtures shared by the web tests (import them by name into a test module).
@pytest.fixture
def png() -> bytes:
    return encode(photo())


@pytest.fixture
def client(tmp_path):
    with api_client(fast_config(tmp_path / "data")) as c:
        yield c


@pytest.fixture
def idle(tmp_path):
    """A server with no workers: jobs stay queued, so refusals and queue states are stable."""
    with api_client(fast_config(tmp_path / "data", devices=())) as c:
        yield c
