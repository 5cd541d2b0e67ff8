"""``impasto batch`` throughput: jobs per minute against a shell loop, and what Ray adds per job.

    python -m bench batch [--size 128] [--iterations 30] [--tiny-jobs 20]

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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import paths, record
from .impasto_api import LocalExecutor, RayExecutor, ResultsLog, plan, run_batch, run_job, shorthand, write_output
from .inputs import resized_inputs
from .timing import run_timed

WEIGHTS = (6e7, 1.2e8, 2.4e8)  # half, once and twice the default beta


def inputs(tmp: Path, size: int) -> tuple[list[Path], Path]:
    """Two photos and a painting at twice the job's size (decoding is not what is timed), copied
    into ``tmp`` under their own names, which name the outputs."""
    photos = []
    for name in ("tubingen", "golden_gate"):
        pair = resized_inputs(2 * size, paths.image("content", f"{name}.jpg"), paths.image("style", "starry_night.jpg"))
        photos.append(tmp / f"{name}.png")
        shutil.copyfile(pair.content, photos[-1])
    style = tmp / "starry.png"
    shutil.copyfile(pair.style, style)
    return photos, style


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """A batch command's wall time; a batch with failed jobs still ends, and its results say so."""
    return run_timed(cmd, env, check=False)[0]


def job_seconds(results: Path) -> list[float]:
    return [json.loads(line)["seconds"] for line in results.read_text().splitlines()
            if json.loads(line)["status"] == "done"]


def cmd_batch(a: argparse.Namespace) -> None:
    sys.path.insert(0, str(paths.ROOT))
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

    path = record.save("batch-cpu", {"torch_threads": torch.get_num_threads(), "ray": ray.__version__, "size": a.size,
                                     "iterations": a.iterations, "loadavg_before": load_before,
                                     "loadavg_after": os.getloadavg(), **out})
    print(path.read_text())


def overhead(address: str, photo: Path, style: Path, tmp: Path, n: int) -> dict:
    """Seconds per tiny job: in process vs Ray (one warm worker), and the driver's own cost."""
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="impasto batch's jobs per minute against a shell loop, and Ray's cost per job")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--tiny-jobs", type=int, default=20)
    p.set_defaults(func=cmd_batch)
