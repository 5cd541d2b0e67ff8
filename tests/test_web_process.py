"""The web server as a real process: it stops within seconds on SIGTERM even while a browser
follows a running job, putting that job back in the queue; and big uploads decoded at the same
time keep its memory bounded, and hand it back afterwards."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import httpx

from PIL import Image  # noqa: E402

from impasto.web.store import JobStore  # noqa: E402

from .web_helpers import LONG, encode, free_port, photo, submit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# A server like `impasto serve`'s (signals included), with the test configuration.
SERVER = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.web_helpers import fast_config
from impasto.web.app import create_app
from impasto.web.serve import make_server
cfg = fast_config(Path({data!r}), **{changes!r})
make_server(create_app(cfg), "127.0.0.1", {port}).run()
"""


class ServerProcess:
    def __init__(self, data: Path, **changes: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        code = SERVER.format(root=str(ROOT), data=str(data), changes=changes, port=self.port)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def __enter__(self) -> "ServerProcess":
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/api/capabilities", timeout=2)
                return self
            except httpx.TransportError:
                if self.proc.poll() is not None:
                    raise RuntimeError("the server died: " + self.proc.communicate()[1][-2000:])
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)

    def status(self, field: str) -> int:
        """A memory figure of the process from /proc, in bytes (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)


def test_sigterm_stops_within_seconds_and_requeues_the_running_job(tmp_path):
    data = tmp_path / "data"
    png = encode(photo())
    slow = {"quality_iterations": {"fast": LONG, "balanced": 3, "best": 4}, "min_step_seconds": 0.05}
    with ServerProcess(data, **slow) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        running = submit(c, png, quality="fast").json()
        waiting = submit(c, png, quality="fast").json()
        deadline = time.monotonic() + 60
        while c.get(f"/api/jobs/{running['id']}").json()["step"] < 2:
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.1)

        # A browser follows the running job's event stream, as the page does.
        events: list[str] = []

        def follow() -> None:
            try:
                with httpx.stream("GET", f"{server.url}/api/jobs/{running['id']}/events",
                                  cookies=c.cookies, timeout=60) as r:
                    for line in r.iter_lines():
                        events.append(line)
            except httpx.TransportError:
                pass
            events.append("(closed)")

        stream = threading.Thread(target=follow, daemon=True)
        stream.start()
        while not any(e.startswith("event: progress") for e in events):
            assert time.monotonic() < deadline, "no progress event"
            time.sleep(0.05)

        asked = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=30)
        took = time.monotonic() - asked
        stream.join(10)

    assert took < 8, f"the server took {took:.1f} s to stop"
    assert events[-1] == "(closed)" and "event: end" not in events  # the stream was closed, not ended
    store = JobStore(data / "jobs.sqlite3")
    first, second = store.get(running["id"]), store.get(waiting["id"])
    assert (first.state, first.step, first.attempts) == ("queued", 0, 0)  # back in its place, not a crash
    assert second.state == "queued" and first.seq < second.seq


def test_big_uploads_at_once_keep_memory_bounded_and_release_it(tmp_path):
    # 6300x6300 in one colour: 131 KB as a PNG, 120 MB decoded. A server offering paintings up to
    # 2048 px accepts it (39.7 of 40 MP), so the pixels really are decoded, four at once.
    big = encode(Image.new("RGB", (6300, 6300), (200, 120, 40)))
    assert len(big) < 200_000
    MB = 1024 * 1024
    with ServerProcess(tmp_path / "data", devices=(), max_size=2048, default_size=512,
                       max_waiting_per_client=10) as server, httpx.Client(base_url=server.url, timeout=120) as c:
        assert submit(c, encode(photo())).status_code == 201  # imports and first-use allocations
        before = server.status("VmRSS")
        Path(f"/proc/{server.proc.pid}/clear_refs").write_text("5")  # restart the high-water mark

        results: list[int] = []

        def upload() -> None:
            results.append(submit(c, big, size=512).status_code)

        threads = [threading.Thread(target=upload) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert results == [201] * 4
        peak = server.status("VmHWM") - before
        after = server.status("VmRSS") - before
        print(f"memory: before {before / MB:.0f} MB, peak +{peak / MB:.0f} MB, after +{after / MB:.0f} MB")
    # Unbounded, four decodes cost about 2 GB and most of it stayed. Now at most two run at once,
    # each about 130 MB (the decoded pixels, averaged down before any copy), and it is given back.
    assert peak < 400 * MB
    assert after < 60 * MB
