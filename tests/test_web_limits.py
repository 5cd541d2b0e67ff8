"""A shared server that one client cannot knock over: caps by client address (jobs, event
streams), wrong passwords counted per address and in all, slow headers and bodies timed out,
the disk that unfinished uploads may hold bounded; and streams that are told of changes rather
than reading the job table, which say when their job was deleted."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import httpx
import pytest

from impasto.web.throttle import Buckets, client_key

from .web_helpers import LOCAL, LiveServer, api_client, encode, fast_config, photo, png, submit  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:.*httpx2.*")


def fresh(c):
    """Another browser (no cookies) talking to the same app from the same address."""
    from fastapi.testclient import TestClient

    return TestClient(c.app, base_url=LOCAL)


# -- jobs per address ------------------------------------------------------------------------------
def test_a_client_that_drops_its_cookie_is_capped_by_its_address(tmp_path, png):
    cfg = fast_config(tmp_path / "d", devices=(), max_waiting_per_client=5, max_waiting_per_address=3)
    with api_client(cfg) as c:
        codes = [submit(fresh(c), png).status_code for _ in range(5)]  # a new "browser" every time
        assert codes == [201, 201, 201, 429, 429]
        r = submit(fresh(c), png)
        assert r.json()["detail"] == ("this address already has 3 paintings waiting (from every browser behind "
                                      "it); let one finish or cancel one first")
        # Finishing one (here: cancelling it) makes room again.
        store = c.app.state.store
        store.request_cancel(store._one("SELECT * FROM jobs ORDER BY seq LIMIT 1").id)
        assert submit(fresh(c), png).status_code == 201


def test_ipv6_clients_are_counted_by_their_network():
    assert client_key("2001:db8:1:2::5") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::5") != client_key("2001:db8:1:2::5")
    assert client_key("::ffff:10.0.0.7") == client_key("10.0.0.7") == "10.0.0.7"


# -- password guesses ------------------------------------------------------------------------------
def test_wrong_passwords_are_limited_per_address_for_the_bearer_header_too(tmp_path):
    cfg = fast_config(tmp_path / "d", devices=(), password="open sesame", guesses_per_address=3,
                      guesses_per_address_minute=1.0)
    with api_client(cfg) as c:
        bearer = [c.get("/api/jobs", headers={"Authorization": f"Bearer guess{i}"}).status_code for i in range(5)]
        assert bearer == [401, 401, 401, 429, 429]
        # Once refused, even the right password is not tried (the answer would tell a guesser).
        r = c.get("/api/jobs", headers={"Authorization": "Bearer open sesame"})
        assert r.status_code == 429 and r.json()["detail"].startswith("too many wrong passwords; try again in")
        r = c.post("/api/login", data={"password": "open sesame"})
        assert r.status_code == 429
        assert c.get("/api/capabilities", headers={"Authorization": "Bearer open sesame"}).json()["authorised"] is False


def test_wrong_passwords_are_limited_in_all_across_parallel_connections(tmp_path):
    cfg = fast_config(tmp_path / "d", devices=(), password="open sesame", guesses_per_address=1000,
                      guesses_total=10, guesses_total_minute=1.0)
    with LiveServer(cfg) as server:
        def guess(i: int) -> int:
            with httpx.Client(base_url=server.url) as c:  # a connection of its own
                return c.get("/api/jobs", headers={"Authorization": f"Bearer guess{i}"}).status_code

        codes: list[int] = []
        threads = [threading.Thread(target=lambda i=i: codes.append(guess(i))) for i in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(codes) == [401] * 10 + [429] * 20


def test_guess_buckets_refill_at_their_rate():
    now = [0.0]
    b = Buckets(burst=2, per_minute=6.0, total_burst=100, total_per_minute=100.0, clock=lambda: now[0])
    b.spend("a")
    b.spend("a")
    assert b.wait("a") == pytest.approx(10.0) and b.wait("b") == 0
    now[0] = 10.0
    assert b.wait("a") == 0


# -- event streams ---------------------------------------------------------------------------------
def _open_stream(url: str, job_id: str, cookies) -> tuple[httpx.Client, httpx.Response]:
    c = httpx.Client(base_url=url, cookies=cookies, timeout=30)
    r = c.send(c.build_request("GET", f"/api/jobs/{job_id}/events"), stream=True)
    return c, r


def _events(lines, until: str = "end") -> list[tuple[str, dict]]:
    """The events read from ``lines`` (a stream's line iterator) up to the first ``until``."""
    out, kind = [], None
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            out.append((kind, json.loads(line[6:])))
            if kind == until:
                break
    return out


def test_event_streams_are_capped_per_address_and_in_all(tmp_path, png):
    cfg = fast_config(tmp_path / "d", devices=(), max_streams_per_address=2, max_streams=3)
    with LiveServer(cfg) as server, httpx.Client(base_url=server.url) as c:
        job = submit(c, png).json()
        held = [_open_stream(server.url, job["id"], c.cookies) for _ in range(2)]
        assert [r.status_code for _, r in held] == [200, 200]
        _, third = _open_stream(server.url, job["id"], c.cookies)
        assert third.status_code == 429
        assert third.read() and "already follows 2 jobs" in third.json()["detail"]
        # A closed stream gives its place back.
        held[0][1].close()
        held[0][0].close()
        deadline = time.monotonic() + 10
        while server.app.state.service.streams.held() > 1:
            assert time.monotonic() < deadline, "the closed stream kept its place"
            time.sleep(0.05)
        again = _open_stream(server.url, job["id"], c.cookies)
        assert again[1].status_code == 200
        for client, r in (held[1], again):
            r.close()
            client.close()


def test_a_stream_is_pushed_changes_and_does_not_read_the_table_while_nothing_happens(tmp_path, png):
    with LiveServer(fast_config(tmp_path / "d", devices=())) as server, \
            httpx.Client(base_url=server.url) as c:
        job = submit(c, png).json()
        store = server.app.state.store
        reads = []
        real_get = store.get
        store.get = lambda *a, **k: (reads.append(a), real_get(*a, **k))[1]
        client, r = _open_stream(server.url, job["id"], c.cookies)
        lines = r.iter_lines()
        while not next(lines).startswith("data: "):
            pass
        time.sleep(1.0)
        quiet = len(reads)
        assert quiet <= 2, f"{quiet} reads of the job table in a quiet second"
        asked = time.monotonic()
        assert c.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
        events = _events(lines)
        assert events[-1] == ("end", {"state": "cancelled"})
        assert time.monotonic() - asked < 1.0  # pushed, not found by a poll
        r.close()
        client.close()


def test_a_stream_says_when_its_job_is_deleted(tmp_path, png):
    with LiveServer(fast_config(tmp_path / "d", devices=())) as server, \
            httpx.Client(base_url=server.url) as c:
        job = submit(c, png).json()
        client, r = _open_stream(server.url, job["id"], c.cookies)
        lines = r.iter_lines()
        while not next(lines).startswith("data: "):
            pass
        assert c.delete(f"/api/jobs/{job['id']}").status_code == 204  # in another tab
        assert _events(lines) == [("end", {"state": "deleted"})]
        r.close()
        client.close()


# -- slow clients ----------------------------------------------------------------------------------
def _raw(port: int, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    return s


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_slow_headers_are_timed_out(tmp_path):
    with LiveServer(fast_config(tmp_path / "d", devices=(), header_timeout=0.5)) as server:
        half = [_raw(server.port, b"GET /api/capabilities HTTP/1.1\r\nHost: 127.0.0.1\r\n") for _ in range(5)]
        time.sleep(1.5)
        for s in half:
            assert _read_all(s) == b""  # closed by the server, nothing answered
            s.close()
        whole = _raw(server.port, b"GET /api/capabilities HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert _read_all(whole).startswith(b"HTTP/1.1 200")
        # A kept-alive connection whose next request stalls half-way is closed too ...
        again = _raw(server.port, b"GET /api/capabilities HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/st")
        assert _read_all(again).startswith(b"HTTP/1.1 200")
        # ... but a request that has begun may last longer than that (an event stream here).
        with httpx.Client(base_url=server.url) as c:
            job = submit(c, encode(photo())).json()
            client, r = _open_stream(server.url, job["id"], c.cookies)
            lines = r.iter_lines()
            while not next(lines).startswith("data: "):
                pass
            time.sleep(1.5)
            c.post(f"/api/jobs/{job['id']}/cancel")
            assert _events(lines)[-1] == ("end", {"state": "cancelled"})
            r.close()
            client.close()


def _spool_files() -> int:
    """Open files of this process that are deleted temporary files (the multipart spool)."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").endswith("(deleted)"):
                n += 1
        except OSError:
            pass
    return n


def _multipart_head(length: int) -> tuple[bytes, bytes]:
    """Headers of a POST /api/jobs declaring ``length`` body bytes, and the body's start."""
    start = (b"--x\r\nContent-Disposition: form-data; name=\"content\"; filename=\"p.png\"\r\n"
             b"Content-Type: image/png\r\n\r\n")
    head = (f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    return head, start


def test_a_slow_body_is_timed_out_and_its_spool_file_removed(tmp_path):
    cfg = fast_config(tmp_path / "d", devices=(), body_idle_timeout=1.0)
    with LiveServer(cfg) as server:
        before = _spool_files()
        head, start = _multipart_head(3 * 1024 * 1024)
        s = _raw(server.port, head + start + b"\0" * (1536 * 1024))  # past the 1 MB kept in memory
        deadline = time.monotonic() + 5
        while _spool_files() <= before:
            assert time.monotonic() < deadline, "the upload was never spooled to disk"
            time.sleep(0.05)
        answer = _read_all(s)  # ... and then nothing more is sent
        s.close()
        assert answer.startswith(b"HTTP/1.1 408") and b"came too slowly" in answer
        deadline = time.monotonic() + 5
        while _spool_files() > before:
            assert time.monotonic() < deadline, "the spool file of the refused upload is still open"
            time.sleep(0.05)


def test_unfinished_uploads_may_hold_only_so_many_bytes(tmp_path, png):
    MB = 1024 * 1024
    cfg = fast_config(tmp_path / "d", devices=(), max_upload_bytes=2 * MB, max_pending_upload_bytes=6 * MB)
    with LiveServer(cfg) as server:
        head, start = _multipart_head(4 * MB)
        first = _raw(server.port, head + start + b"\0" * 1000)  # 4 MB announced, hardly any sent
        time.sleep(0.3)
        second = _raw(server.port, head + start)
        answer = _read_all(second)
        assert answer.startswith(b"HTTP/1.1 503") and b"as many uploads as it can" in answer
        first.close()  # the first client goes away: its bytes are given back
        deadline = time.monotonic() + 5
        with httpx.Client(base_url=server.url) as c:
            while True:
                r = submit(c, png)
                if r.status_code == 201:
                    break
                assert r.status_code == 503 and time.monotonic() < deadline, r.text
                time.sleep(0.1)


def test_parallel_posts_cannot_slip_past_the_caps(tmp_path, png):
    cfg = fast_config(tmp_path / "d", devices=(), max_waiting_per_client=3)
    with LiveServer(cfg) as server:
        browser = httpx.get(server.url + "/api/capabilities").cookies

        def post(codes: list[int]) -> None:
            with httpx.Client(base_url=server.url, cookies=browser, timeout=60) as c:
                codes.append(submit(c, png).status_code)

        codes: list[int] = []
        threads = [threading.Thread(target=post, args=(codes,)) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(codes) == [201] * 3 + [429] * 7
        assert server.app.state.store.count() == 3
        assert not [p for p in server.app.state.files.root.iterdir()][3:]  # no folders of refused jobs
