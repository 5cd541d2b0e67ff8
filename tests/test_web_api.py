"""The web service through its REST API (FastAPI's test client): jobs that run to the end,
progress streams, cancelling, restart recovery, and every way a request can be refused."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
import time
import warnings
import zlib

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
warnings.filterwarnings("ignore", message=".*httpx2.*")  # starlette's note about its test client

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from impasto.cli import main as cli_main  # noqa: E402
from impasto.web import create_app  # noqa: E402
from impasto.web.gallery import BY_ID  # noqa: E402

from .web_helpers import encode, fast_config, free_port, photo, wait_for_state  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*httpx2.*")


@pytest.fixture
def png() -> bytes:
    return encode(photo())


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(fast_config(tmp_path / "data"))) as c:
        yield c


@pytest.fixture
def idle(tmp_path):
    """A server with no workers: jobs stay queued, so refusals and queue states are stable."""
    with TestClient(create_app(fast_config(tmp_path / "data", devices=()))) as c:
        yield c


def submit(c: TestClient, content: bytes, style_id: str | None = "starry_night", style: bytes | None = None,
           name: str = "photo.png", **fields: object):
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


def read_events(c: TestClient, job_id: str) -> list[tuple[str, dict]]:
    events, kind = [], None
    with c.stream("GET", f"/api/jobs/{job_id}/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    return events


# -- jobs that run ---------------------------------------------------------------------------------
def test_job_with_a_bundled_style_runs_to_the_end(client, png):
    r = submit(client, png, size=32, quality="fast", style_strength=2, preserve_color="true")
    assert r.status_code == 201, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/jobs/{job['id']}"
    assert job["state"] in ("queued", "running") and job["total"] == 2
    engine = job["options"].pop("engine")
    assert job["options"] == {"style_strength": 2.0, "size": 32, "requested_size": None,
                              "preserve_color": True, "quality": "fast", "style_id": "starry_night"}
    assert engine["max_long_edge"] == 32 and engine["iterations"] == 2
    assert job["style_title"] == "The Starry Night"
    done = wait_for_state(client.get, job["id"])
    assert done["state"] == "done", done["error"]
    assert done["step"] == 2 and done["progress"] == 1.0 and done["error"] is None
    assert set(done["losses"]) >= {"content", "style", "total"}
    assert done["started"] >= done["created"] and done["finished"] >= done["started"]

    result = client.get(done["links"]["result"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(result.content))
    assert max(img.size) == 32 and img.mode == "RGB"
    download = client.get(done["links"]["download"])
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.content == result.content
    for link in ("content", "style", "preview"):
        r = client.get(done["links"][link])
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/"), link
        Image.open(io.BytesIO(r.content)).load()


def test_uploaded_style_and_the_progress_stream(client, png):
    style = encode(Image.open(BY_ID["the_scream"].path).resize((30, 40)), "JPEG")
    r = submit(client, png, style_id=None, style=style, quality="balanced")
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["options"]["style_id"] is None and job["style_title"] == "your style image"
    events = read_events(client, job["id"])
    kinds = [k for k, _ in events]
    assert kinds[-1] == "end" and events[-1][1] == {"state": "done"}
    progress = [d for k, d in events if k == "progress"]
    assert progress[-1]["state"] == "done" and progress[-1]["step"] == 3
    steps = [d["step"] for d in progress if d["state"] == "running"]
    assert steps == sorted(steps)
    previews = [d["preview"] for d in progress if d.get("preview")]
    assert previews and all(p.startswith("data:image/jpeg;base64,") for p in previews)
    stored = client.get(job["links"]["style"])
    assert Image.open(io.BytesIO(stored.content)).size == (30, 40)
    # A finished job's stream is a single snapshot and an end event.
    again = read_events(client, job["id"])
    assert [k for k, _ in again] == ["progress", "end"]


def test_list_is_the_history_newest_first(idle, png):
    ids = [submit(idle, png).json()["id"] for _ in range(3)]
    listing = idle.get("/api/jobs").json()
    assert listing["total"] == 3
    assert [j["id"] for j in listing["jobs"]] == ids[::-1]
    assert [j["jobs_ahead"] for j in listing["jobs"]] == [2, 1, 0]
    assert [j["id"] for j in idle.get("/api/jobs?limit=1&offset=1").json()["jobs"]] == [ids[1]]
    assert idle.get("/api/jobs?limit=0").status_code == 422


def test_job_ids_are_unguessable(idle, png):
    ids = {submit(idle, png).json()["id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(len(i) >= 32 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


# -- cancelling ------------------------------------------------------------------------------------
def test_cancel_a_queued_job(idle, png):
    job = submit(idle, png).json()
    r = idle.post(f"/api/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert idle.post(f"/api/jobs/{job['id']}/cancel").status_code == 409
    assert idle.get(f"/api/jobs/{job['id']}/result").status_code == 409


def test_cancel_a_running_job(tmp_path, png):
    cfg = fast_config(tmp_path / "data", quality_iterations={"fast": 100_000, "balanced": 3, "best": 4})
    with TestClient(create_app(cfg)) as c:
        job = submit(c, png, quality="fast", size=32).json()
        running = wait_for_state(c.get, job["id"], ("running",))
        assert running["total"] == 100_000
        r = c.post(f"/api/jobs/{job['id']}/cancel")
        assert r.status_code == 200 and r.json()["state"] in ("running", "cancelled")
        final = wait_for_state(c.get, job["id"], timeout=30)
        assert final["state"] == "cancelled" and final["step"] < 100_000
        assert c.get(f"/api/jobs/{job['id']}/result").status_code == 409
        # The worker is free again: the next job runs.
        nxt = submit(c, png, quality="balanced").json()
        assert wait_for_state(c.get, nxt["id"])["state"] == "done"


# -- restart recovery ------------------------------------------------------------------------------
def test_jobs_running_when_the_server_died_run_again_in_order(tmp_path, png):
    data = tmp_path / "data"
    with TestClient(create_app(fast_config(data, devices=()))) as c:
        first, second = (submit(c, png).json()["id"] for _ in range(2))
        done_before = submit(c, png).json()["id"]
        c.post(f"/api/jobs/{done_before}/cancel")
        crashed = c.app.state.store.claim_next()  # a worker took it, then the server died
        assert crashed.id == first
    with TestClient(create_app(fast_config(data))) as c:
        a = wait_for_state(c.get, first)
        b = wait_for_state(c.get, second)
        assert a["state"] == b["state"] == "done"
        assert a["started"] <= b["started"]
        assert c.app.state.store.get(first).attempts == 2
        history = c.get("/api/jobs").json()
        assert history["total"] == 3
        assert {j["id"]: j["state"] for j in history["jobs"]}[done_before] == "cancelled"


def test_a_server_stopped_mid_job_finishes_it_after_restart(tmp_path, png):
    data = tmp_path / "data"
    slow = fast_config(data, quality_iterations={"fast": 100_000, "balanced": 3, "best": 4})
    with TestClient(create_app(slow)) as c:
        job = submit(c, png, quality="fast", size=32).json()
        wait_for_state(c.get, job["id"], ("running",))
    with TestClient(create_app(fast_config(data, devices=()))) as c:
        assert c.get(f"/api/jobs/{job['id']}").json()["state"] == "queued"
    with TestClient(create_app(fast_config(data))) as c:
        done = wait_for_state(c.get, job["id"])
        assert done["state"] == "done" and done["step"] == done["total"] == 2


# -- refusals --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields, message", [
    ({"style_strength": "0"}, "style_strength must be between"),
    ({"style_strength": "nan"}, "style_strength must be between"),
    ({"style_strength": "strong"}, "style_strength:"),
    ({"quality": "ultra"}, "quality must be one of fast, balanced, best"),
    ({"size": "big"}, "size:"),
    ({"size": "0"}, "size must be a positive number"),
    ({"size": "-5"}, "size must be a positive number"),
    ({"preserve_color": "perhaps"}, "preserve_color:"),
])
def test_bad_options_are_422_with_one_line(idle, png, fields, message):
    r = submit(idle, png, **fields)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert message in detail and "\n" not in detail


def test_sizes_are_clamped_to_the_configured_range(idle, png):
    big = submit(idle, png, size=5000).json()
    assert big["options"]["size"] == 64 and big["options"]["requested_size"] == 5000
    tiny = submit(idle, png, size=3).json()
    assert tiny["options"]["size"] == 32 and tiny["options"]["requested_size"] == 3
    default = submit(idle, png).json()
    assert default["options"]["size"] == 32 and default["options"]["requested_size"] is None


def test_style_choice_errors(idle, png):
    r = idle.post("/api/jobs", files={"content": ("p.png", png, "image/png")})
    assert r.status_code == 422 and "a style is needed" in r.json()["detail"]
    r = submit(idle, png, style=png)
    assert r.status_code == 422 and "not both" in r.json()["detail"]
    r = submit(idle, png, style_id="../../etc/passwd")
    assert r.status_code == 422 and "unknown style_id" in r.json()["detail"]
    r = idle.post("/api/jobs", data={"style_id": "starry_night"})
    assert r.status_code == 422 and r.json()["detail"] == "content: Field required"


@pytest.mark.parametrize("payload, status, message", [
    (b"", 422, "the content file is empty"),
    (b"this is not an image at all", 415, "not an image"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 415, "not an image"),
    ("truncated", 415, "damaged or truncated"),
    ("bomb", 413, "decompression bomb"),
    ("large", 413, "7000x7000: more than 40 megapixels"),
])
def test_uploads_are_decoded_whatever_they_claim(idle, payload, status, message):
    if payload == "truncated":
        payload = encode(photo((200, 150)), "JPEG")[:600]
    elif payload == "bomb":
        payload = bomb_png(30_000, 30_000)  # past Pillow's own bomb limit
    elif payload == "large":
        payload = bomb_png(7000, 7000)  # under Pillow's limit, over the server's
    r = submit(idle, payload, name="holiday.jpg")
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    assert idle.get("/api/jobs").json()["total"] == 0
    assert not any((idle.app.state.files.root).iterdir())  # nothing half-stored


def test_a_bad_style_upload_is_refused_too(idle, png):
    r = submit(idle, png, style_id=None, style=b"GIF89a nonsense")
    assert r.status_code == 415 and "style" in r.json()["detail"]


def test_pixel_limit(tmp_path, png):
    with TestClient(create_app(fast_config(tmp_path / "d", devices=(), max_pixels=1000))) as c:
        r = submit(c, png)  # 48x36 = 1728 pixels
        assert r.status_code == 413 and "megapixels" in r.json()["detail"]
        assert submit(c, encode(photo((30, 30)))).status_code == 201


def test_byte_limits(tmp_path, png):
    with TestClient(create_app(fast_config(tmp_path / "d", devices=(), max_upload_bytes=4000))) as c:
        big_file = encode(photo((200, 150)).resize((200, 150)), "PNG")
        assert len(big_file) > 4000
        r = submit(c, big_file)
        assert r.status_code == 413 and "larger than" in r.json()["detail"]
        # A whole request over the limit is refused from its Content-Length, before parsing.
        huge = b"\0" * (c.app.state.config.max_request_bytes + 1)
        r = c.post("/api/jobs", content=huge, headers={"content-type": "application/octet-stream"})
        assert r.status_code == 413

        # ... and a streamed one without a length, as soon as it passes the limit.
        def chunks():
            for _ in range(40):
                yield b"\0" * 65536

        r = c.post("/api/jobs", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
        assert r.status_code == 413
        assert submit(c, png).status_code == 201


def test_client_file_names_are_never_used(idle, png):
    job = submit(idle, png, name="../../../../tmp/evil.png", style_id=None, style=png).json()
    folder = idle.app.state.files.for_job(job["id"]).folder
    assert sorted(p.name for p in folder.iterdir()) == ["content.png", "style.png"]
    assert folder.parent == idle.app.state.files.root
    assert "evil" not in json.dumps(idle.get(f"/api/jobs/{job['id']}").json())


def test_the_queue_has_a_limit(tmp_path, png):
    with TestClient(create_app(fast_config(tmp_path / "d", devices=(), max_queued=2))) as c:
        assert [submit(c, png).status_code for _ in range(3)] == [201, 201, 429]


def test_unknown_jobs_and_missing_images(idle, png):
    for path in ("/api/jobs/nope", "/api/jobs/" + "x" * 32, "/api/jobs/" + "x" * 32 + "/events",
                 "/api/jobs/..%2F..%2Fjobs.sqlite3/result"):
        r = idle.get(path)
        assert r.status_code == 404, path
    assert idle.post("/api/jobs/" + "x" * 32 + "/cancel").status_code == 404
    job = submit(idle, png).json()
    assert idle.get(job["links"]["preview"]).status_code == 404
    r = idle.get(job["links"]["result"])
    assert r.status_code == 409 and r.json()["detail"] == "the job is queued; there is no result"


# -- what the page and the API document ------------------------------------------------------------
def test_page_docs_and_openapi_are_served_locally(idle):
    page = idle.get("/")
    assert page.status_code == 200 and "impasto" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for asset in ("/static/app.js", "/static/style.css", "/static/docs.js", "/docs"):
        r = idle.get(asset)
        assert r.status_code == 200, asset
        assert "https://" not in r.text, asset
    assert "default-src 'self'" in page.headers["content-security-policy"]
    spec = idle.get("/openapi.json").json()
    for path in ("/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/events", "/api/jobs/{job_id}/cancel",
                 "/api/jobs/{job_id}/result", "/api/styles", "/api/capabilities"):
        assert path in spec["paths"], path
    form = spec["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form


def test_styles_and_capabilities(idle):
    styles = idle.get("/api/styles").json()
    assert {s["id"] for s in styles} == {"starry_night", "the_scream", "shipwreck"}
    for s in styles:
        assert "Public domain" in s["credit"]
        r = idle.get(s["image_url"])
        assert r.status_code == 200 and len(r.content) < 150_000
    caps = idle.get("/api/capabilities").json()
    assert caps["max_size"] == 64 and caps["max_upload_bytes"] == 20 * 1024 * 1024
    assert caps["max_pixels"] == 40_000_000 and caps["workers"] == 0
    assert [q["id"] for q in caps["qualities"]] == ["fast", "balanced", "best"]


# -- the command -----------------------------------------------------------------------------------
def test_serve_command_is_registered_and_checks_its_flags(capsys):
    with pytest.raises(SystemExit):
        cli_main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "--host" in out and "--port" in out and "--data-dir" in out and "127.0.0.1" in out
    assert cli_main(["serve", "--port", "70000"]) == 2
    assert "--port must be between" in capsys.readouterr().err
    assert cli_main(["serve", "--max-size", "8"]) == 2


def test_impasto_serve_listens_on_loopback_by_default(tmp_path):
    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "impasto", "serve", "--port", str(port),
                             "--data-dir", str(tmp_path / "data"), "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/capabilities", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "impasto serve did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["workers"] == 1
        assert (tmp_path / "data" / "jobs.sqlite3").is_file()
        listening = subprocess.run(["ss", "-ltn", f"sport = :{port}"], capture_output=True, text=True).stdout \
            if shutil.which("ss") else f"127.0.0.1:{port}"
        assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"serving on http://127.0.0.1:{port}/" in err
