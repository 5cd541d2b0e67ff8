"""The web service through its REST API (FastAPI's test client): jobs that run to the end,
progress streams, cancelling, restart recovery, and every way a request can be refused."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import warnings

import pytest

warnings.filterwarnings("ignore", message=".*httpx2.*")  # starlette's note about its test client

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from impasto.cli import main as cli_main  # noqa: E402
from impasto.web.gallery import BY_ID  # noqa: E402

from .web_helpers import (LONG, api_client, wait_for_step, bomb_png, client, encode, fast_config, free_port,  # noqa: E402,F401
                          idle, photo, png, slow_config, start_long_job, submit, wait_for_state)

pytestmark = pytest.mark.filterwarnings("ignore:.*httpx2.*")


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
                              "preserve_color": True, "quality": "fast", "style_id": "starry_night",
                              "refine_of": None}
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
    assert Image.open(io.BytesIO(stored.content)).size == (24, 32)  # kept at the painting's size
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
    with api_client(slow_config(tmp_path / "data")) as c:
        job = start_long_job(c, png)
        assert job["total"] == LONG
        r = c.post(f"/api/jobs/{job['id']}/cancel")
        assert r.status_code == 200 and r.json()["state"] in ("running", "cancelled")
        final = wait_for_state(c.get, job["id"], timeout=30)
        assert final["state"] == "cancelled" and final["step"] < LONG
        assert c.get(f"/api/jobs/{job['id']}/result").status_code == 409
        # The worker is free again: the next job runs.
        nxt = submit(c, png, quality="balanced").json()
        assert wait_for_state(c.get, nxt["id"])["state"] == "done"


# -- restart recovery ------------------------------------------------------------------------------
def test_jobs_running_when_the_server_died_run_again_in_order(tmp_path, png):
    data = tmp_path / "data"
    with api_client(fast_config(data, devices=())) as c:
        first, second = (submit(c, png).json()["id"] for _ in range(2))
        done_before = submit(c, png).json()["id"]
        c.post(f"/api/jobs/{done_before}/cancel")
        crashed = c.app.state.store.claim_next()  # a worker took it, then the server died
        assert crashed.id == first
        browser = c.cookies
    with api_client(fast_config(data), cookies=browser) as c:
        a = wait_for_state(c.get, first)
        b = wait_for_state(c.get, second)
        assert a["state"] == b["state"] == "done"
        assert a["started"] <= b["started"]
        assert c.app.state.store.get(first).attempts == 2
        history = c.get("/api/jobs").json()
        assert history["total"] == 3
        assert {j["id"]: j["state"] for j in history["jobs"]}[done_before] == "cancelled"


def test_a_server_stopped_mid_job_resumes_it_after_restart(tmp_path, png):
    """A stop keeps the job's best image and step; the next start carries on from there with
    the options the job was queued with (not the restarted server's), and tidies up after."""
    data = tmp_path / "data"
    with api_client(slow_config(data)) as c:
        job = start_long_job(c, png)
        wait_for_step(c.get, job["id"], 3)
        browser = c.cookies
        folder = c.app.state.files.for_job(job["id"])
    kept = json.loads(folder.resume.with_suffix(".json").read_text())
    assert kept["step"] >= 3 and folder.resume.is_file()
    with api_client(fast_config(data, devices=()), cookies=browser) as c:
        assert c.get(f"/api/jobs/{job['id']}").json()["state"] == "queued"
        assert c.app.state.store.get(job["id"]).attempts == 0  # a stop is not a crash
    with api_client(fast_config(data), cookies=browser) as c:
        done = wait_for_state(c.get, job["id"])
        assert done["state"] == "done" and done["step"] == done["total"] > kept["step"]
        assert done["options"]["engine"]["iterations"] == LONG  # the stored record ran, stop rule and all
        assert not folder.resume.exists()


def test_a_job_the_server_keeps_dying_on_is_failed_after_three_tries(tmp_path, png):
    data = tmp_path / "data"
    with api_client(fast_config(data, devices=())) as c:
        job = submit(c, png).json()
        browser = c.cookies
    for attempt in (1, 2, 3):
        with api_client(fast_config(data, devices=()), cookies=browser) as c:
            assert c.get(f"/api/jobs/{job['id']}").json()["state"] == "queued", attempt
            assert c.app.state.store.claim_next().id == job["id"]  # a worker took it; the server died
    with api_client(fast_config(data, devices=()), cookies=browser) as c:
        failed = c.get(f"/api/jobs/{job['id']}").json()
        assert failed["state"] == "failed"
        assert failed["error"].startswith("the server crashed 3 times while painting this job")
        assert submit(c, png).json()["state"] == "queued"  # the rest of the queue goes on


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
    with api_client(fast_config(tmp_path / "d", devices=(), max_pixels=1000)) as c:
        r = submit(c, png)  # 48x36 = 1728 pixels
        assert r.status_code == 413 and "megapixels" in r.json()["detail"]
        assert submit(c, encode(photo((30, 30)))).status_code == 201


def test_byte_limits(tmp_path, png):
    with api_client(fast_config(tmp_path / "d", devices=(), max_upload_bytes=4000)) as c:
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
    with api_client(fast_config(tmp_path / "d", devices=(), max_queued=2)) as c:
        assert [submit(c, png).status_code for _ in range(3)] == [201, 201, 429]


def test_unknown_form_fields_are_refused(idle, png):
    r = submit(idle, png, iterations=100_000_000)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("unknown field iterations; the fields are content, preserve_color,")
    r = submit(idle, png, iterations=1, content_weight=5)
    assert r.json()["detail"].startswith("unknown fields content_weight, iterations;")
    assert idle.get("/api/jobs").json()["total"] == 0


@pytest.mark.parametrize("query", ["offset=9223372036854775808", "offset=99999999999", "offset=-1",
                                   "limit=9223372036854775808", "limit=many"])
def test_history_paging_out_of_range_is_a_json_422(idle, query):
    r = idle.get(f"/api/jobs?{query}")
    assert r.status_code == 422 and r.headers["content-type"] == "application/json"
    assert "\n" not in r.json()["detail"]


def test_a_narrow_strip_is_refused_at_upload_in_the_pages_words(idle):
    for size in ((2000, 3), (3, 2000), (300, 7)):
        r = submit(idle, encode(Image.new("RGB", size, (200, 100, 50))), size=64)
        assert r.status_code == 422, size
        detail = r.json()["detail"]
        assert detail.startswith(f"the content image is {size[0]}x{size[1]}: too narrow to paint")
        assert "--" not in detail and "max-long-edge" not in detail
    r = submit(idle, encode(photo()), style_id=None, style=encode(Image.new("RGB", (900, 4))))
    assert r.status_code == 422 and r.json()["detail"].startswith("the style image is 900x4: too narrow")
    assert submit(idle, encode(Image.new("RGB", (300, 80))), size=64).status_code == 201  # 64x17: enough
    assert idle.get("/api/jobs").json()["total"] == 1
    assert len(list(idle.app.state.files.root.iterdir())) == 1


def test_an_upload_larger_than_the_sizes_on_offer_is_refused_before_decoding(tmp_path):
    # 6300x6300 is under the 40 MP limit but far more than a 1024 px painting can use.
    with api_client(fast_config(tmp_path / "d", devices=(), max_size=1024)) as c:
        r = submit(c, bomb_png(6300, 6300))
        assert r.status_code == 413
        assert r.json()["detail"] == ("the content image is 6300x6300: more pixels than a painting of at most "
                                      "1024 px can use; save a copy of at most 4096x4096 px (or a JPEG) and "
                                      "upload that")
        # A JPEG that large is decoded at a reduced scale instead, and kept at the painting's size.
        big = encode(Image.new("RGB", (6000, 4000), (10, 120, 200)), "JPEG")
        job = submit(c, big, size=512).json()
        kept = Image.open(c.app.state.files.for_job(job["id"]).content)
        assert kept.size == (512, 341)


def test_an_unexpected_error_is_json_too(tmp_path, monkeypatch):
    app_client = api_client(fast_config(tmp_path / "d", devices=()), raise_server_exceptions=False)
    with app_client as c:
        def broken(*a, **k):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")

        monkeypatch.setattr(c.app.state.store, "list", broken)
        r = c.get("/api/jobs")
        assert r.status_code == 500 and r.json() == {"detail": "internal error (see the server log)"}


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


# -- history: paging, deleting, cleaning up ---------------------------------------------------------
def test_delete_a_job_and_its_images(client, png):
    done = wait_for_state(client.get, submit(client, png, quality="fast").json()["id"])
    folder = client.app.state.files.for_job(done["id"]).folder
    assert (folder / "result.png").is_file()
    r = client.delete(f"/api/jobs/{done['id']}")
    assert r.status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/jobs/{done['id']}").status_code == 404
    assert client.delete(f"/api/jobs/{done['id']}").status_code == 404
    assert client.get("/api/jobs").json()["total"] == 0


def test_delete_refuses_a_running_job_and_drops_a_queued_one(tmp_path, png):
    with api_client(slow_config(tmp_path / "data")) as c:
        running = start_long_job(c, png)
        queued = submit(c, png, quality="fast").json()
        r = c.delete(f"/api/jobs/{running['id']}")
        assert r.status_code == 409 and r.json()["detail"] == "the job is running; cancel it first"
        assert c.delete(f"/api/jobs/{queued['id']}").status_code == 204
        c.post(f"/api/jobs/{running['id']}/cancel")
        wait_for_state(c.get, running["id"])
        assert c.delete(f"/api/jobs/{running['id']}").status_code == 204
        assert c.get("/api/jobs").json()["total"] == 0


def test_delete_all_finished_jobs(idle, png):
    jobs = [submit(idle, png).json()["id"] for _ in range(4)]
    for job_id in jobs[:3]:
        idle.post(f"/api/jobs/{job_id}/cancel")
    assert idle.delete("/api/jobs").json() == {"deleted": 3}
    assert [j["id"] for j in idle.get("/api/jobs").json()["jobs"]] == [jobs[3]]  # still waiting
    assert sorted(p.name for p in idle.app.state.files.root.iterdir()) == [jobs[3]]


def test_old_finished_jobs_are_deleted_after_keep_days(tmp_path, png):
    with api_client(fast_config(tmp_path / "d", devices=(), keep_days=1)) as c:
        old, recent, waiting = (submit(c, png).json()["id"] for _ in range(3))
        for job_id in (old, recent):
            c.post(f"/api/jobs/{job_id}/cancel")
        c.app.state.store._exec("UPDATE jobs SET finished = finished - 2 * 86400 WHERE id = ?", (old,))
        assert c.app.state.purge_old() == 1
        assert {j["id"] for j in c.get("/api/jobs").json()["jobs"]} == {recent, waiting}
        assert not c.app.state.files.for_job(old).folder.exists()


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
        assert listening_addresses(port) == {"127.0.0.1"}  # loopback only, not 0.0.0.0
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"serving on http://127.0.0.1:{port}/" in err


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses with a socket listening on ``port``, read from the kernel's own table
    (/proc/net/tcp: always there on Linux, unlike the `ss` tool)."""
    found = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, p = local.split(":")
        if state == "0A" and int(p, 16) == port:  # 0A = LISTEN
            found.add(".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0)))  # little-endian
    return found


def test_history_thumbnails_are_small_jpegs_made_once(tmp_path):
    big = encode(photo((200, 150)))
    with api_client(fast_config(tmp_path / "data", max_size=128, default_size=128, thumbnail_edge=48)) as c:
        queued = submit(c, big, quality="fast").json()
        first = c.get(queued["links"]["thumbnail"])
        assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(first.content)).size) <= 48
        done = wait_for_state(c.get, queued["id"])
        assert done["state"] == "done", done["error"]
        thumb = c.get(done["links"]["thumbnail"])
        result = c.get(done["links"]["result"])
        small = Image.open(io.BytesIO(thumb.content))
        assert small.format == "JPEG" and max(small.size) == 48
        assert max(Image.open(io.BytesIO(result.content)).size) == 128
        assert len(thumb.content) < len(result.content) / 4
        kept = c.app.state.files.for_job(done["id"]).thumbnail
        made = kept.stat().st_mtime_ns
        assert c.get(done["links"]["thumbnail"]).content == thumb.content
        assert kept.stat().st_mtime_ns == made  # made once, then served as it is
        assert TestClient(c.app, base_url="http://127.0.0.1:8000").get(done["links"]["thumbnail"]).status_code == 404


def test_every_setting_of_the_service_is_described_once():
    from dataclasses import fields

    from impasto.web.config import WebConfig, settings

    table = settings()
    assert list(table) == [f.name for f in fields(WebConfig)]
    assert all(s.help and "\n" not in s.help for s in table.values())
    flags = [s.flag for s in table.values() if s.flag]
    assert len(flags) == len(set(flags)) and all(f.startswith("--") for f in flags)
    assert table["max_upload_bytes"].scale == 1024 * 1024 and table["devices"].repeat
