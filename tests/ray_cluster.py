"""A real Ray cluster on this machine for the tests and the benchmark: a head and worker nodes,
each a `ray start --block` process of its own, on 127.0.0.1.

Each node is started in a new session and stopped by signalling that process group alone
(never `ray stop`, which would stop every Ray on the machine, other people's included).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children, theirs, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


class LocalCluster:
    """``LocalCluster(nodes=2, cpus=1)``: ``address`` to join; ``stop()`` (or use as a context)."""

    def __init__(self, nodes: int = 2, cpus: int = 1, env: dict[str, str] | None = None,
                 object_store_mb: int = 100) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.tmp = tempfile.mkdtemp(prefix="impasto-ray-")
        self.env = {**os.environ, **(env or {}), "RAY_USAGE_STATS_ENABLED": "0"}
        common = [f"--num-cpus={cpus}", "--num-gpus=0", f"--object-store-memory={object_store_mb * 1_000_000}",
                  "--disable-usage-stats", "--dashboard-agent-listen-port=0", "--metrics-export-port=0",
                  "--node-ip-address=127.0.0.1", "--block"]
        self.procs: list[subprocess.Popen] = []
        self._start(["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.tmp}", *common])
        self._wait_for_port()
        for _ in range(nodes - 1):
            self._start([f"--address={self.address}", *common])
        self.nodes = nodes

    def _start(self, args: list[str]) -> None:
        log = open(Path(self.tmp) / f"node{len(self.procs)}.log", "w")
        self.procs.append(subprocess.Popen([RAY, "start", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True))

    def _wait_for_port(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[0].poll() is not None:
                raise RuntimeError(f"ray start --head exited: {self.log(0)}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the Ray head did not open its port")

    def wait_for_nodes(self, ray, timeout: float = 90.0) -> None:
        """Block until every node has joined (the driver must be connected)."""
        deadline = time.monotonic() + timeout
        while len([n for n in ray.nodes() if n["Alive"]]) < self.nodes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(ray.nodes())} of {self.nodes} Ray nodes joined")
            time.sleep(0.1)

    def log(self, i: int) -> str:
        return (Path(self.tmp) / f"node{i}.log").read_text()[-2000:]

    def stop(self) -> None:
        """Kill every process the nodes started (raylet, object store, workers: found as the
        descendants of each `ray start`, since workers leave its process group), workers'
        nodes first. SIGKILL, not SIGTERM: on SIGTERM a node drains for up to 30 s."""
        for p in reversed(self.procs):
            for pid in [p.pid, *descendants(p.pid)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
