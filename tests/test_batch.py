"""impasto batch, in process: manifests and the shorthand become checked jobs; every job runs on
one loaded network; a bad job is reported while the others finish; a rerun skips what is done
and redoes what changed; Ctrl-C keeps what ended. (The Ray engine: test_batch_ray.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from impasto.batch import LocalExecutor, plan, read_manifest, run_batch, shorthand
from impasto.batch.records import SIDECAR_DIR, sidecar_path
from impasto.batch.video import overlap_for, paint_run
from impasto.cli import main

TINY = ["--iterations", "2", "--max-long-edge", "32"]


@pytest.fixture
def album(tmp_path, small):
    """Two photos and a damaged file in a folder, and a style."""
    content, style = small
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(content).save(photos / "a.png")
    Image.open(content).transpose(Image.FLIP_LEFT_RIGHT).save(photos / "b.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return photos, style


def results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_shorthand_runs_every_combination_reports_the_bad_file_and_a_rerun_skips(tmp_path, album, capsys):
    photos, style = album
    out = tmp_path / "out"
    argv = ["batch", "--content", str(photos), "--style", str(style), "-o", str(out), "--style-weight", "1e2,1e4",
            "--quiet", *TINY]
    assert main(argv) == 2  # the exit status counts the failed jobs: broken.jpg, once per weight
    made = sorted(p.name for p in out.glob("*.png"))
    assert made == ["a__s__style_weight-100.png", "a__s__style_weight-10000.png",
                    "b__s__style_weight-100.png", "b__s__style_weight-10000.png"]
    assert sorted(p.name for p in (out / SIDECAR_DIR).iterdir()) == [n + ".json" for n in made]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    recs = results(out / "results.jsonl")
    assert sorted(r["status"] for r in recs) == ["done"] * 4 + ["failed"] * 2
    for r in recs:
        assert set(r) >= {"job", "status", "output", "losses", "seconds", "worker"}
        if r["status"] == "failed":
            assert r["content"].endswith("broken.jpg") and "broken.jpg" in r["error"]
        else:
            assert r["losses"]["total"] > 0 and r["steps"] == 2
    err = capsys.readouterr().err
    assert err.count("failed:") == 2 and "broken.jpg" in err and "Traceback" not in err

    # The weights reached the jobs: a higher style weight gives a higher weighted style loss.
    by_name = {Path(r["output"]).name: r for r in recs if r["status"] == "done"}
    assert by_name["a__s__style_weight-10000.png"]["losses"]["style"] > by_name["a__s__style_weight-100.png"]["losses"]["style"]

    stamps = {n: (out / n).stat().st_mtime_ns for n in made}
    assert main(argv) == 2
    assert {n: (out / n).stat().st_mtime_ns for n in made} == stamps  # nothing done twice
    again = results(out / "results.jsonl")
    assert sorted(r["status"] for r in again) == ["failed"] * 2 + ["skipped"] * 4
    assert all(r["losses"] for r in again if r["status"] == "skipped")  # what was recorded when done


def test_manifests_carry_per_job_options_and_paths_relative_to_them(tmp_path, small, capsys):
    content, style = small
    sub = tmp_path / "jobs"
    sub.mkdir()
    Image.open(content).save(sub / "photo.png")
    Image.open(style).save(sub / "paint.png")
    (sub / "jobs.csv").write_text("content,style,output,style_weight,iterations,style_layers\n"
                                  "photo.png,paint.png,out/one.png,10,2,\"relu1_1,relu2_1\"\n"
                                  "photo.png,paint.png;paint.png,out/two.jpg,1e4,1,\n")
    assert main(["batch", str(sub / "jobs.csv"), "--max-long-edge", "32", "--quiet"]) == 0
    assert Image.open(sub / "out" / "one.png").size == (32, 24)
    assert Image.open(sub / "out" / "two.jpg").format == "JPEG"
    recs = {Path(r["output"]).name: r for r in results(sub / "jobs.results.jsonl")}
    assert recs["one.png"]["steps"] == 2 and recs["two.jpg"]["steps"] == 1
    assert recs["two.jpg"]["styles"] == [str(sub / "paint.png")] * 2
    side = json.loads(sidecar_path(sub / "out" / "one.png").read_text())
    assert side["options"]["style_weight"] == 10 and side["options"]["style_layers"] == ["relu1_1", "relu2_1"]
    assert side["options"]["max_long_edge"] == 32  # the command line's options are every line's defaults

    jl = sub / "more.jsonl"
    jl.write_text(json.dumps({"content": "photo.png", "style": ["paint.png"], "output": "out/three.png",
                              "--style-weight": 100, "content-layers": "relu3_1", "iterations": 1}) + "\n"
                  + json.dumps({"content": "photo.png", "model": "candy", "output": "out/candy.png",
                                "max_long_edge": 40}) + "\n")
    assert main(["batch", str(jl), "--quiet"]) == 0
    assert Image.open(sub / "out" / "candy.png").size == (40, 30)
    side = json.loads(sidecar_path(sub / "out" / "three.png").read_text())
    assert side["options"]["content_layers"] == ["relu3_1"] and side["options"]["style_weight"] == 100


@pytest.mark.parametrize("text, message", [
    ("content,style,output,style_weight\nc.png,s.png,o1.png,1e3\nc.png,s.png,o2.png,lots\n",
     "jobs.csv line 3: --style-weight: expected a number, not 'lots'"),
    ("content,style,output,style_wieght\nc.png,s.png,o1.png,1\n", "jobs.csv line 2: unknown column(s) 'style_wieght'"),
    ("content,style,output\nc.png,missing.png,o1.png\n", "jobs.csv line 2: no such style file: missing.png"),
    ("content,style,output\nc.png,s.png,o.png\nc.png,s.png,o.png\n", "jobs.csv line 3: writes"),
    ("content,model,output,iterations\nc.png,candy,o.png,5\n", "--iterations does not apply to --model"),
    ("content,style,output,mask\nc.png,s.png,o.png,c.png;c.png\n", "2 mask(s) for 1 style image(s)"),
    ("content,style,output\nc.png,s.png,o.gif\n", "cannot tell the format of"),
    ("content,style,output,iterations\nc.png,s.png,o1.png,0\nc.png,s.png,o2.png,-1\n",
     "line 2: --iterations must be a whole number of at least 1, not 0 (and 1 more problem(s); nothing was run)"),
])
def test_a_bad_manifest_is_one_line_before_any_work(tmp_path, small, capsys, text, message):
    content, style = small
    for name, src in (("c.png", content), ("s.png", style)):
        Image.open(src).save(tmp_path / name)
    (tmp_path / "jobs.csv").write_text(text)
    assert main(["batch", str(tmp_path / "jobs.csv")]) == 2
    assert message in one_line(capsys)
    assert not list(tmp_path.glob("o*.png")) and not (tmp_path / "jobs.results.jsonl").exists()


def test_shorthand_mistakes_are_one_line(tmp_path, album, capsys):
    photos, style = album
    for argv, message in (
        (["--content", str(photos), "-o", str(tmp_path / "o")], "needs at least one --style or --model"),
        (["--content", str(photos), "--style", str(style)], "needs -o OUTDIR"),
        (["--content", str(photos), "--style", str(style), "-o", str(tmp_path / "o"), "--style-weight", "1,x"],
         "expected a number"),
        (["--content", str(photos), "--model", "no_such_style", "-o", str(tmp_path / "o")], "no shipped style"),
        ([str(tmp_path / "none.csv")], "no such manifest"),
    ):
        assert main(["batch", *argv]) == 2
        assert message in one_line(capsys), argv


def test_one_network_load_for_the_batch_and_changed_inputs_are_redone(tmp_path, small, monkeypatch):
    import impasto.painter.painter as network

    content, style = small
    loads = []
    real = network.load_network
    monkeypatch.setattr(network, "load_network", lambda *a, **k: loads.append(1) or real(*a, **k))
    import impasto.batch.worker as worker

    monkeypatch.setattr(worker, "_PAINTER", None)
    sweeps = {"iterations": (1,), "max_long_edge": (32,), "content_weight": (1.0, 2.0, 4.0)}
    jobs = plan(shorthand([str(content)], [str(style)], [], sweeps), out_dir=tmp_path / "o")
    s = run_batch(jobs, LocalExecutor(), tmp_path / "r.jsonl")
    assert (s.done, s.skipped, s.failed) == (3, 0, []) and len(loads) == 1

    Image.open(style).rotate(90, expand=True).save(style)  # same name, new picture: its jobs are redone
    jobs = plan(shorthand([str(content)], [str(style)], [], sweeps), out_dir=tmp_path / "o")
    s = run_batch(jobs, LocalExecutor(), tmp_path / "r.jsonl")
    assert (s.done, s.skipped) == (3, 0)
    s = run_batch(jobs, LocalExecutor(), tmp_path / "r.jsonl")
    assert (s.done, s.skipped) == (0, 3) and len(loads) == 1


def test_ctrl_c_keeps_what_ended_and_a_rerun_does_the_rest(tmp_path, small):
    content, style = small
    sweeps = {"iterations": (1,), "max_long_edge": (32,), "style_weight": (1e2, 1e3, 1e4)}
    jobs = plan(shorthand([str(content)], [str(style)], [], sweeps), out_dir=tmp_path / "o")

    class Interrupted(LocalExecutor):
        def run(self, jobs):
            results = super().run(jobs)
            yield next(results)
            raise KeyboardInterrupt

    s = run_batch(jobs, Interrupted(), tmp_path / "r.jsonl")
    assert s.interrupted and s.done == 1
    assert len(list((tmp_path / "o").glob("*.png"))) == 1 and len(results(tmp_path / "r.jsonl")) == 1
    s = run_batch(jobs, LocalExecutor(), tmp_path / "r.jsonl")
    assert (s.done, s.skipped, s.interrupted) == (2, 1, False)


def test_ray_flags_without_ray_installed_are_one_line(tmp_path, album, capsys, monkeypatch):
    photos, style = album
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    argv = ["batch", "--content", str(photos), "--style", str(style), "-o", str(tmp_path / "o"), "--ray"]
    assert main(argv) == 2
    assert 'pip install "impasto[ray]"' in one_line(capsys)
    assert main(["video", "--ray", "--model", "candy", str(photos / "a.png"), "-o", str(tmp_path / "v.mp4")]) == 2
    assert 'pip install "impasto[ray]"' in one_line(capsys)


def test_batch_help_loads_neither_torch_nor_ray():
    code = ("import sys, contextlib, io\nfrom impasto.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: main(['batch', '--help'])\n    except SystemExit: pass\n"
            "print('torch' in sys.modules, 'ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_dry_run_lists_jobs_and_what_is_done(tmp_path, small, capsys):
    content, style = small
    argv = ["batch", "--content", str(content), "--style", str(style), "-o", str(tmp_path / "o"),
            "--seed", "1,2", "--quiet", *TINY]
    assert main([*argv, "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("\tto do\t" in line for line in lines)
    assert not (tmp_path / "o").exists()
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--dry-run"]) == 0
    assert all("\tdone\t" in line for line in capsys.readouterr().out.splitlines())


def test_read_manifest_formats(tmp_path):
    (tmp_path / "a.tsv").write_text("content\tstyle\toutput\tseed\nc.png\ts.png\to.png\t3\n")
    [req] = read_manifest(tmp_path / "a.tsv")
    assert (req.content, req.styles, req.options) == ("c.png", ("s.png",), {"seed": 3})
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(Exception, match="use .csv, .tsv or .jsonl"):
        read_manifest(tmp_path / "a.txt")


def test_chunked_smoothing_has_no_seams():
    """Each chunk warms the flicker smoother on the frames before it: the chunks, joined, are
    the sequential result to within rounding."""
    rng = np.random.default_rng(0)
    base = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
    frames = np.stack([np.roll(base, 2 * i, axis=1) for i in range(14)])  # a pan
    whole = paint_run("candy", "cpu", frames, 0, 0.5, "fp32")
    warm, chunk = overlap_for(0.5), 5
    assert warm == 9
    joined = []
    for s in range(0, len(frames), chunk):
        lo = max(0, s - warm)
        joined += paint_run("candy", "cpu", frames[lo:s + chunk], s - lo, 0.5, "fp32")
    assert len(joined) == len(whole)
    diff = max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(joined, whole))
    assert diff <= 1
    cold = []  # without the warm-up the borders jump
    for s in range(0, len(frames), chunk):
        cold += paint_run("candy", "cpu", frames[s:s + chunk], 0, 0.5, "fp32")
    assert max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(cold, whole)) > 5 * max(diff, 1)


def test_an_address_nobody_answers_on_is_one_line_at_once():
    from impasto.batch.rayexec import _reachable
    from impasto.errors import ImpastoError

    from .ray_cluster import free_port

    with pytest.raises(ImpastoError, match="nothing answers there"):
        _reachable(f"127.0.0.1:{free_port()}")
    _reachable("auto")  # left to Ray
