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
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
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


if __name__ == "__main__":
    main()
