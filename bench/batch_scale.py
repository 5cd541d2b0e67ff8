"""``impasto batch`` at scale: a 10,000-job plan and 2,000 tiny jobs, impasto's and Ray's cost per job.

    python -m bench batch-scale [--plan-jobs 10000] [--run-jobs 2000] [--painted-jobs 40]

The plan hashes an album of distinct files (never decoded), first with nothing cached, then
again with the input-hash cache; the run pushes tiny jobs end to end as ``run_batch`` does, with
a painter that does nothing (the driver's and Ray's cost alone) and with real 32 px, 1-step
jobs, in process and on a local one-node Ray. Each part runs in its own process, so its peak
memory is its own. Results: bench/results/batch-scale-cpu.json; BENCHMARKS.md ("Batch").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import record
from .paths import ROOT


# -- at scale ---------------------------------------------------------------------------------------
def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _requests(d: Path, kind: str) -> list:
    from impasto.batch.manifest import shorthand

    if kind == "plan":
        return shorthand([str(d / "album")], [str(d / "style.png")], [], {"max_long_edge": (32,)})
    return shorthand([str(d / "photo.png")], [str(d / "style.png")], [],
                     {"iterations": (1,), "max_long_edge": (32,), "seed": tuple(range(_RUN_JOBS[0]))})


_RUN_JOBS = [0]


def part_plan(d: Path, a: argparse.Namespace) -> dict:
    """Plan the album's jobs with the cached digests (the first time: nothing cached)."""
    from impasto.batch.digests import CachedDigests
    from impasto.batch.manifest import plan

    t = time.monotonic()
    requests = _requests(d, "plan")
    walked = time.monotonic() - t
    digest = CachedDigests(d / "out" / ".impasto-batch" / "inputs.json")
    jobs = plan(requests, out_dir=d / "out", digest=digest)
    planned = time.monotonic() - t
    digest.save()
    return {"jobs": len(jobs), "files_read": digest.read, "walk_s": walked, "plan_s": planned,
            "plan_ms_per_job": 1000 * planned / len(jobs), "saved_s": time.monotonic() - t - planned,
            "peak_rss_mb": _peak_mb()}


def _noop(job, threads):  # noqa: ANN001 - a Ray task that returns a fixed small picture: Ray and the driver only
    from impasto.batch.records import Result

    return Result(job.id, "done", job.output, data=NOOP_PNG)


NOOP_PNG = b""


def part_run(d: Path, a: argparse.Namespace) -> dict:
    """The tiny jobs, end to end as run_batch does them, on the executor named by --address."""
    global NOOP_PNG
    from impasto.batch import LocalExecutor, plan, run_batch
    from impasto.batch.rayexec import RayExecutor

    how = a.address.split("|")
    noop = "noop" in how
    _RUN_JOBS[0] = a.run_jobs if noop else a.painted_jobs
    NOOP_PNG = (d / "photo.png").read_bytes()
    tag = "-".join(how)[-20:].replace(":", "_")
    t = time.monotonic()
    jobs = plan(_requests(d, "run"), out_dir=d / f"run-{tag}")
    plan_s = time.monotonic() - t
    if how[0] == "local":
        ex = NoopLocal() if noop else LocalExecutor(threads=2)
    else:
        from impasto.batch.worker import run_job

        ex = RayExecutor(how[0], threads=2, task=_noop if noop else run_job)
    warm = plan(_requests(d, "run")[:2], out_dir=d / f"warm-{tag}")
    run_batch(warm, ex, d / f"warm-{tag}.jsonl")  # the worker started and its network loaded
    t = time.monotonic()
    s = run_batch(jobs, ex, d / f"run-{tag}.jsonl")
    secs = time.monotonic() - t
    painted = [json.loads(line)["seconds"] for line in (d / f"run-{tag}.jsonl").read_text().splitlines()]
    return {"jobs": len(jobs), "done": s.done, "failed": len(s.failed), "plan_s": plan_s, "run_s": secs,
            "ms_per_job": 1000 * secs / len(jobs), "in_worker_ms_per_job": 1000 * statistics.mean(painted),
            "window": getattr(ex, "window", None), "in_ray_at_most": getattr(ex, "submitted_at_most", None),
            "peak_rss_mb": _peak_mb()}


class NoopLocal:
    """In process, with the no-op painter: impasto's driver cost per job alone."""

    name = "local"

    def run(self, jobs):  # noqa: ANN001, ANN201
        for job in jobs:
            yield _noop(job, None)

    def close(self) -> None:
        pass


PARTS = {"plan": part_plan, "run": part_run}


def _part(name: str, d: Path, a: argparse.Namespace, address: str = "") -> dict:
    cmd = [sys.executable, "-m", "bench.batch_scale", "--part", name, "--dir", str(d), "--run-jobs",
           str(a.run_jobs), "--painted-jobs", str(a.painted_jobs), "--address", address or "local"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode:
        raise SystemExit(f"part {name} failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def cmd_scale(a: argparse.Namespace) -> None:
    from PIL import Image

    from tests.ray_cluster import LocalCluster

    out: dict = {"loadavg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmpdir:
        d = Path(tmpdir)
        album = d / "album"
        rng = __import__("random").Random(0)
        for i in range(a.plan_jobs):  # distinct contents; only hashed, never decoded, by a plan
            sub = album / f"{i // 1000:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"IMG_{i:05d}.png").write_bytes(rng.randbytes(256 * 1024))
        src = Image.open(ROOT / "examples" / "tubingen.jpg").convert("RGB")
        src.thumbnail((64, 64))
        src.save(d / "photo.png")
        Image.open(ROOT / "examples" / "starry_night.jpg").convert("RGB").resize((64, 48)).save(d / "style.png")
        out["plan_first"] = _part("plan", d, a)
        out["plan_rerun"] = _part("plan", d, a)
        out["plan_input_mb"] = a.plan_jobs * 256 / 1024
        shutil.rmtree(album)
        out["noop_local"] = _part("run", d, a, "local|noop")
        out["painted_local"] = _part("run", d, a, "local")
        with LocalCluster(nodes=1, cpus=2) as cl:
            out["noop_ray"] = _part("run", d, a, f"{cl.address}|noop")
            out["painted_ray"] = _part("run", d, a, cl.address)
    import ray

    out.update(loadavg_after=os.getloadavg(), ray=ray.__version__, )
    print(record.save("batch-scale-cpu", out))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch-scale", help="a 10,000-job plan and 2,000 tiny jobs: impasto's and Ray's cost per job")
    p.add_argument("--plan-jobs", type=int, default=10_000)
    p.add_argument("--run-jobs", type=int, default=2_000)
    p.add_argument("--painted-jobs", type=int, default=40)
    p.set_defaults(func=cmd_scale)


def main() -> None:
    """One part in its own process: ``python -m bench.batch_scale --part NAME --dir D ...``."""
    ap = argparse.ArgumentParser()
    for name in ("--part", "--dir", "--address"):
        ap.add_argument(name, required=True)
    ap.add_argument("--run-jobs", type=int, default=2_000)
    ap.add_argument("--painted-jobs", type=int, default=40)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    print(json.dumps(PARTS[a.part](Path(a.dir), a)))


if __name__ == "__main__":
    main()
