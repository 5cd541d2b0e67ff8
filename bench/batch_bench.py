"""``impasto batch`` throughput: jobs per minute against a shell loop, and what Ray adds per job.

    python -m bench.batch_bench [--size 128] [--iterations 30] [--tiny-jobs 20]

Every mode paints the same jobs (2 photos x 3 style weights, the default options otherwise) into
its own empty folder, timed end to end as a user sees it (a fresh process per command):

* ``loop``: ``for job: impasto stylize ...``, one process (and one network load) per job;
* ``local``: ``impasto batch`` in-process (torch's threads: all cores);
* ``ray-1``: ``impasto batch --ray`` on a local Ray cluster of one node (all cores, one job at a time);
* ``ray-2``: on two one-CPU nodes (``--threads 1``): two jobs side by side.

The clusters are started before their run and not counted (a cluster outlives its batches);
their workers start cold. Then, with warm workers, 20 tiny jobs (32 px, 1 step) through the
in-process engine and through Ray on one node: the difference per job is what Ray adds. The
driver's own cost per job (plan, hash, write, fsync) is timed too: it bounds a cluster's rate.
Results: bench/results/batch-cpu.json; BENCHMARKS.md ("Batch") has the figures and the model.

    python -m bench.batch_bench --scale [--plan-jobs 10000] [--run-jobs 2000]

At scale, each part in a fresh process (its peak RSS is the driver's memory): planning
``--plan-jobs`` jobs over as many distinct 256 KiB content files, first with nothing cached and
then as a rerun that finds the hashes cached; then ``--run-jobs`` jobs whose painter returns a
fixed small picture at once, in process and through a local one-node Ray (what impasto's driver
and Ray cost per job by themselves: resume check, submission, the picture back, the atomic
writes, the fsynced results line), and ``--painted-jobs`` real tiny jobs (32 px, 1 step) both
ways. Results: bench/results/batch-scale-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "images"
RESULTS = ROOT / "bench" / "results"
WEIGHTS = (6e7, 1.2e8, 2.4e8)  # half, once and twice the default beta


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")


def inputs(tmp: Path, size: int) -> tuple[list[Path], Path]:
    """Two photos and a painting, stored at twice the job's size (decoding is not what is timed)."""
    from PIL import Image

    photos = []
    for name in ("tubingen.jpg", "golden_gate.jpg"):
        src = SHARED / "content" / name
        src = src if src.is_file() else ROOT / "examples" / name
        img = Image.open(src).convert("RGB")
        img.thumbnail((2 * size, 2 * size))
        photos.append(tmp / f"{Path(name).stem}.png")
        img.save(photos[-1])
    style = tmp / "starry.png"
    img = Image.open(ROOT / "examples" / "starry_night.jpg").convert("RGB")
    img.thumbnail((2 * size, 2 * size))
    img.save(style)
    return photos, style


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.monotonic()
    subprocess.run(cmd, check=False, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - start


def job_seconds(results: Path) -> list[float]:
    return [json.loads(line)["seconds"] for line in results.read_text().splitlines()
            if json.loads(line)["status"] == "done"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--tiny-jobs", type=int, default=20)
    ap.add_argument("--scale", action="store_true", help="the 10,000-job plan and the tiny-job run instead")
    ap.add_argument("--plan-jobs", type=int, default=10_000)
    ap.add_argument("--run-jobs", type=int, default=2_000)
    ap.add_argument("--painted-jobs", type=int, default=40)
    ap.add_argument("--part", help=argparse.SUPPRESS)  # one part of --scale, in its own process
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--address", help=argparse.SUPPRESS)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if a.part:
        print(json.dumps(PARTS[a.part](Path(a.dir), a)))
        return
    if a.scale:
        scale(a)
        return
    from tests.ray_cluster import LocalCluster

    impasto = str(Path(sys.executable).with_name("impasto"))
    opts = ["--max-long-edge", str(a.size), "--iterations", str(a.iterations)]
    out: dict = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        photos, style = inputs(tmp, a.size)
        n = len(photos) * len(WEIGHTS)
        env = {**os.environ, "IMPASTO_CACHE": os.environ.get("IMPASTO_CACHE", str(Path.home() / ".cache/impasto"))}
        subprocess.run([impasto, "stylize", str(photos[0]), str(style), "-o", str(tmp / "warm.png"), "--quiet",
                        "--max-long-edge", "32", "--iterations", "1"], check=True, env=env)  # the weight cache

        start = time.monotonic()
        for p in photos:
            for w in WEIGHTS:
                subprocess.run([impasto, "stylize", str(p), str(style), "-o", str(tmp / f"loop_{p.stem}_{w:g}.png"),
                                "--quiet", "--style-weight", str(w), *opts], check=True, env=env)
        out["loop"] = {"seconds": time.monotonic() - start, "workers": 1}

        batch = [impasto, "batch", "--content", str(photos[0]), "--content", str(photos[1]), "--style", str(style),
                 "--style-weight", ",".join(f"{w:g}" for w in WEIGHTS), "--quiet", *opts]
        secs = timed([*batch, "-o", str(tmp / "local")], env)
        out["local"] = {"seconds": secs, "workers": 1, "job_seconds": job_seconds(tmp / "local" / "results.jsonl")}

        for name, nodes, cpus in (("ray-1", 1, 2), ("ray-2", 2, 1)):
            t0 = time.monotonic()
            with LocalCluster(nodes=nodes, cpus=cpus, env=env) as cl:
                import ray

                ray.init(address=cl.address, logging_level="ERROR")
                cl.wait_for_nodes(ray)
                ray.shutdown()
                started = time.monotonic() - t0
                secs = timed([*batch, "-o", str(tmp / name), "--ray", cl.address, "--threads", str(cpus)], env)
                out[name] = {"seconds": secs, "workers": nodes, "threads_per_job": cpus, "cluster_start": started,
                             "job_seconds": job_seconds(tmp / name / "results.jsonl")}
                if name == "ray-1":
                    out["overhead"] = overhead(cl.address, photos[0], style, tmp, a.tiny_jobs)
        for mode in ("loop", "local", "ray-1", "ray-2"):
            out[mode]["jobs"] = n
            out[mode]["jobs_per_minute"] = 60 * n / out[mode]["seconds"]

    import ray
    import torch

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    if subprocess.run(["git", "status", "--porcelain", "src", "bench"], capture_output=True, text=True,
                      cwd=ROOT).stdout.strip():
        commit += " + uncommitted changes"
    record = {"command": "python -m bench.batch_bench " + " ".join(sys.argv[1:]), "commit": commit,
              "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
              "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "ray": ray.__version__,
              "size": a.size, "iterations": a.iterations, "loadavg_before": load_before,
              "loadavg_after": os.getloadavg(), **out}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batch-cpu.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))


def overhead(address: str, photo: Path, style: Path, tmp: Path, n: int) -> dict:
    """Seconds per tiny job: in process vs Ray (one warm worker), and the driver's own cost."""
    from impasto.batch import LocalExecutor, plan, run_batch, shorthand
    from impasto.batch.rayexec import RayExecutor
    from impasto.batch.records import ResultsLog, write_output
    from impasto.batch.worker import run_job

    def jobs(tag: str, count: int) -> list:
        sweeps = {"iterations": (1,), "max_long_edge": (32,), "seed": tuple(range(count))}
        return plan(shorthand([str(photo)], [str(style)], [], sweeps), out_dir=tmp / tag)

    t = time.monotonic()
    planned = jobs("plan", n)
    plan_s = (time.monotonic() - t) / n
    ex = RayExecutor(address, threads=2)
    run_batch(jobs("ray-warm", 2), ex, tmp / "ray-warm.jsonl")  # worker started, network loaded
    t = time.monotonic()
    run_batch(jobs("ray-tiny", n), ex, tmp / "ray-tiny.jsonl")
    ray_s = (time.monotonic() - t) / n
    run_batch(jobs("local-warm", 2), LocalExecutor(), tmp / "local-warm.jsonl")
    t = time.monotonic()
    run_batch(jobs("local-tiny", n), LocalExecutor(), tmp / "local-tiny.jsonl")
    local_s = (time.monotonic() - t) / n
    result = run_job(planned[0])
    log = ResultsLog(tmp / "w.jsonl")
    writes = []
    for _ in range(n):
        t = time.monotonic()
        write_output(planned[0], result)
        log.write(result.record(planned[0]))
        writes.append(time.monotonic() - t)
    log.close()
    import ray

    ray.shutdown()
    return {"jobs": n, "local_s_per_job": local_s, "ray_s_per_job": ray_s, "ray_added_s_per_job": ray_s - local_s,
            "driver_plan_s_per_job": plan_s, "driver_write_s_per_job": statistics.median(writes),
            "tiny_job": "32 px, 1 L-BFGS step"}



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
    cmd = [sys.executable, "-m", "bench.batch_bench", "--part", name, "--dir", str(d), "--run-jobs",
           str(a.run_jobs), "--painted-jobs", str(a.painted_jobs), "--address", address or "local"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode:
        raise SystemExit(f"part {name} failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def scale(a: argparse.Namespace) -> None:
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

    out.update(loadavg_after=os.getloadavg(), cpu=cpu_model(), cores=os.cpu_count(), ray=ray.__version__,
               python=platform.python_version(), command="python -m bench.batch_bench " + " ".join(sys.argv[1:]),
               commit=subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     cwd=ROOT).stdout.strip())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batch-scale-cpu.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
