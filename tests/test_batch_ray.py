"""The Ray engine on a real Ray cluster of two nodes (a head and a worker, each `ray start` on
127.0.0.1 with one CPU, started for this module and stopped after): a batch runs across both
nodes, a bad job is reported while the others finish, a rerun skips what is done, a job whose
worker process dies is run again (at most --retries times, on tasks and model actors alike, with
Ray's reports kept off the terminal), jobs are submitted in a bounded window, a video is painted
in chunks (seams: test_batch.py), and the web app hands its queue to the cluster (and cancels
there)."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ray", reason='the Ray tests need pip install "impasto[ray]" (CI installs it)')

from impasto.batch import plan, run_batch, shorthand  # noqa: E402
from impasto.batch.rayexec import RayExecutor, connect  # noqa: E402
from impasto.batch.video import paint_run  # noqa: E402
from impasto.cli import main  # noqa: E402

from .ray_cluster import LocalCluster  # noqa: E402
from .test_fast import _make_clip, _probe  # noqa: E402

warnings.filterwarnings("ignore", message=".*httpx2.*")
TINY = ["--iterations", "2", "--max-long-edge", "32"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two one-CPU nodes; their workers share the tests' dequantized weight cache."""
    cache = tmp_path_factory.getbasetemp() / "impasto-cache"
    cl = LocalCluster(nodes=2, cpus=1, env={"IMPASTO_CACHE": str(cache), "OMP_NUM_THREADS": "1"})
    ray = None
    try:
        ray = connect(cl.address)
        cl.wait_for_nodes(ray)
        yield cl
    finally:
        if ray is not None:
            ray.shutdown()
        cl.stop()


@pytest.fixture
def photos(tmp_path, small):
    content, style = small
    folder = tmp_path / "photos"
    folder.mkdir()
    img = Image.open(content)
    for i in range(4):
        img.rotate(90 * i, expand=True).save(folder / f"p{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return folder, style


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batch_runs_across_both_nodes_reports_the_bad_job_and_a_rerun_skips(cluster, tmp_path, photos, capsys):
    folder, style = photos
    out = tmp_path / "out"
    argv = ["batch", "--ray", cluster.address, "--threads", "1", "--content", str(folder), "--style", str(style),
            "-o", str(out), "--quiet", *TINY]
    assert main(argv) == 1  # one job failed
    recs = records(out / "results.jsonl")
    done = [r for r in recs if r["status"] == "done"]
    [bad] = [r for r in recs if r["status"] == "failed"]
    assert len(done) == 4 and "broken.jpg" in bad["error"] and bad["content"].endswith("broken.jpg")
    assert len({r["node"] for r in done}) == 2  # both nodes painted
    assert all(Image.open(r["output"]).size in ((32, 24), (24, 32)) for r in done)
    assert "broken.jpg" in capsys.readouterr().err

    assert main(argv) == 1
    again = records(out / "results.jsonl")
    assert sorted(r["status"] for r in again) == ["failed"] + ["skipped"] * 4


def test_a_job_whose_worker_dies_is_run_again_by_ray(cluster, tmp_path, small):
    content, style = small
    marker = str(tmp_path / "died-once")

    def dies_once(job, threads):  # defined here, so Ray ships it by value to the worker
        import os

        from impasto.batch.worker import run_job

        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker process dies mid-job, as on an OOM kill or a lost node
        return run_job(job, threads)

    jobs = plan(shorthand([str(content)], [str(style)], [], {"iterations": (2,), "max_long_edge": (32,)}),
                out_dir=tmp_path / "o")
    s = run_batch(jobs, RayExecutor(cluster.address, threads=1, retries=2, task=dies_once), tmp_path / "r.jsonl")
    assert Path(marker).exists() and (s.done, s.failed) == (1, [])
    assert Image.open(jobs[0].output).size == (32, 24)


def test_feed_forward_jobs_go_through_model_actors(cluster, tmp_path, photos):
    folder, _ = photos
    out = tmp_path / "out"
    argv = ["batch", "--ray", cluster.address, "--threads", "1", "--content", str(folder), "--model", "candy",
            "--model", "mosaic", "--max-long-edge", "40", "-o", str(out), "--quiet"]
    assert main(argv) == 1  # broken.jpg, once per model
    recs = records(out / "results.jsonl")
    assert sorted(r["status"] for r in recs) == ["done"] * 8 + ["failed"] * 2
    assert all(max(Image.open(r["output"]).size) == 40 for r in recs if r["status"] == "done")


def test_video_on_the_cluster_keeps_frames_rate_and_audio(cluster, tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _make_clip(src, 14, 12, audio=True)
    argv = ["video", "--ray", cluster.address, "--model", "candy", str(src), "-o", str(dst), "--chunk-frames", "4",
            "--threads", "1", "--precision", "fp32", "--quiet"]
    assert main(argv) == 0
    assert _probe(dst) == (14, 12.0, True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the chunks are cleaned up

    from impasto.fast.video import stylize_video

    stylize_video("candy", src, tmp_path / "seq.mp4", smooth=0.5, precision="fp32")
    import imageio_ffmpeg

    def frames(p: Path) -> list[np.ndarray]:
        gen = imageio_ffmpeg.read_frames(str(p))
        w, h = next(gen)["size"]
        return [np.frombuffer(f, np.uint8).reshape(h, w, 3).astype(int) for f in gen]

    painted = paint_run("candy", "cpu", np.stack(frames(src)).astype(np.uint8), 0, 0.5, "fp32")  # never encoded

    def error(film: list[np.ndarray]) -> float:
        return max(float(np.abs(x - y).mean()) for x, y in zip(film, painted))

    # The chunked film is as close to the sequential painting as the sequential film is (H.264 loss).
    assert error(frames(dst)) < error(frames(tmp_path / "seq.mp4")) + 1.0


def test_serve_hands_its_queue_to_ray(cluster, tmp_path):
    from .web_helpers import api_client, encode, fast_config, photo, wait_for_state

    cfg = fast_config(tmp_path / "data", ray_address=cluster.address, devices=("auto", "auto"),
                      quality_iterations={"fast": 2, "balanced": 3, "best": 100_000})
    with api_client(cfg) as c:
        ids = []
        for _ in range(2):
            r = c.post("/api/jobs", files={"content": ("p.png", encode(photo((48, 36))), "image/png")},
                       data={"style_id": "starry_night", "quality": "fast", "size": "48"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        for job_id in ids:
            job = wait_for_state(c.get, job_id, timeout=180)
            assert job["state"] == "done", job.get("error")
            assert job["step"] == job["total"] == 2 and job["preview_version"] >= 1
            img = Image.open(__import__("io").BytesIO(c.get(job["links"]["result"]).content))
            assert img.size == (48, 36)
        store = c.app.state.store
        assert all(store.get(i).state == "done" for i in ids)  # the job table holds the outcome

        r = c.post("/api/jobs", files={"content": ("p.png", encode(photo((48, 36))), "image/png")},
                   data={"style_id": "starry_night", "quality": "best", "size": "48"})
        long_job = r.json()["id"]
        deadline = time.monotonic() + 120
        while c.get(f"/api/jobs/{long_job}").json()["step"] < 2:  # painting on the cluster
            assert time.monotonic() < deadline
            time.sleep(0.05)
        c.post(f"/api/jobs/{long_job}/cancel")
        assert wait_for_state(c.get, long_job, timeout=60)["state"] == "cancelled"


def test_jobs_are_submitted_in_a_bounded_window(cluster, tmp_path, small):
    content, style = small

    def instant(job, threads):  # no painting: what is measured is the submission
        from impasto.batch.records import Result

        return Result(job.id, "done", job.output, data=b"not a picture")

    jobs = plan(shorthand([str(content)], [str(style)], [], {"seed": tuple(range(10))}), out_dir=tmp_path / "o")
    ex = RayExecutor(cluster.address, threads=1, task=instant, window=3)
    s = run_batch(jobs, ex, tmp_path / "r.jsonl")
    assert s.done == 10 and ex.submitted_at_most == 3
    assert RayExecutor(cluster.address, threads=1).window == 4  # two slots: twice that, at least 4


DRIVER = '''
import os, sys
from impasto.batch import plan, run_batch, shorthand
from impasto.batch.rayexec import RayExecutor

address, content, crash, out, kind = sys.argv[1:6]

def crashes(job, threads):  # the photo named crash* kills its worker every time, as a decoder bug would
    import os
    from impasto.batch.worker import run_job
    if "crash" in job.content:
        os._exit(1)
    return run_job(job, threads)

models = ["candy"] if kind == "model" else []
styles = [] if models else [sys.argv[6]]
sweeps = {"max_long_edge": (32,), **({} if models else {"iterations": (1,)})}
jobs = plan(shorthand([content, crash], styles, models, sweeps), out_dir=out)
s = run_batch(jobs, RayExecutor(address, threads=1, retries=1, task=crashes, quiet=kind != "verbose"),
              out + "-results.jsonl")
print(s.done, "|".join(e for _, e in s.failed))
'''


@pytest.mark.parametrize("kind", ["model", "task"])
def test_retries_hold_for_model_actors_and_tasks_and_ray_stays_quiet(cluster, tmp_path, small, kind):
    """A job whose worker dies every time ends as a failure after --retries more tries (model
    actors too: no endless restarts), the other jobs finish, and Ray's own reports of the dead
    workers stay off the terminal."""
    import shutil
    import subprocess
    import sys

    content, style = small
    shutil.copy(content, tmp_path / "crash.png")
    (tmp_path / "driver.py").write_text(DRIVER)
    p = subprocess.run([sys.executable, str(tmp_path / "driver.py"), cluster.address, str(content),
                        str(tmp_path / "crash.png"), str(tmp_path / "o"), kind, str(style)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    done, error = p.stdout.strip().splitlines()[-1].split(" ", 1)
    assert done == "1" and "died 2 time(s)" in error
    assert p.stderr == "" and len(p.stdout.strip().splitlines()) == 1, p.stdout + p.stderr


def test_a_stream_whose_worker_dies_is_run_again_up_to_retries(cluster, tmp_path):
    marker = str(tmp_path / "died")

    def counts(n):
        import os

        yield {"step": 1}
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        for i in range(2, n + 1):
            yield {"step": i}

    ex = RayExecutor(cluster.address, threads=1)
    _, events = ex.stream(counts, 3, device="cpu", retries=1)
    got = list(events)
    [retry] = [i for i, e in enumerate(got) if "retry" in e]  # the lost try's first step may or may not arrive
    assert got[retry]["retry"] == 1 and [e["step"] for e in got[retry + 1:]] == [1, 2, 3]

    import os

    os.unlink(marker)
    _, events = ex.stream(counts, 3, device="cpu")
    with pytest.raises(ex.ray.exceptions.RayError):
        list(events)


def test_serve_runs_a_job_again_when_its_ray_worker_dies(cluster, tmp_path, monkeypatch):
    """serve --ray: a job whose worker dies mid-painting starts again on the cluster (as batch
    and local serve retry), and the job ends done, not failed."""
    from impasto.batch import worker

    from .web_helpers import api_client, encode, fast_config, photo, wait_for_state

    marker, real = str(tmp_path / "died"), worker.paint_events

    def dies_once(*args):
        import os

        for n, ev in enumerate(real(*args)):
            yield ev
            if n == 0 and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)

    monkeypatch.setattr(worker, "paint_events", dies_once)
    cfg = fast_config(tmp_path / "data", ray_address=cluster.address, devices=("auto",))
    with api_client(cfg) as c:
        r = c.post("/api/jobs", files={"content": ("p.png", encode(photo((48, 36))), "image/png")},
                   data={"style_id": "starry_night", "quality": "fast", "size": "48"})
        job = wait_for_state(c.get, r.json()["id"], timeout=180)
        assert job["state"] == "done", job.get("error")
        assert job["step"] == job["total"] == 2
    assert (tmp_path / "died").exists()  # the first try did die
