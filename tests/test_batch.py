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
    assert main(argv) == 1  # some jobs failed: broken.jpg, once per weight
    made = sorted(p.name for p in out.glob("*.png"))
    assert made == ["a__s__style_weight-100.png", "a__s__style_weight-10000.png",
                    "b__s__style_weight-100.png", "b__s__style_weight-10000.png"]
    assert sorted(p.name for p in (out / SIDECAR_DIR).glob("*.png.json")) == [n + ".json" for n in made]
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
    assert main(argv) == 1
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


# -- exit statuses, output folders, leftovers, bad inputs, folders walked, cached hashes ------------

def test_every_ending_has_its_own_exit_status_and_help_lists_them(tmp_path, small, capsys, monkeypatch):
    content, style = small
    from impasto.cli.batch import EXIT_STATUSES

    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    shown = capsys.readouterr().out
    for status in ("0", "1", "2", "3", "130"):
        assert f"\n  {status} " in "\n" + EXIT_STATUSES and f"  {status} " in shown
    argv = ["batch", "--content", str(content), "--style", str(style), "-o", str(tmp_path / "o"), "--quiet", *TINY]
    assert main([*argv, "--iterations", "0"]) == 2  # usage: nothing ran
    one_line(capsys)

    import impasto.batch.runner as runner

    def broken(*a, **k):
        raise RuntimeError("something impasto did not expect\nsecond line")

    monkeypatch.setattr(runner, "run_batch", broken)
    assert main(argv) == 3
    assert "unexpected error" in one_line(capsys)
    assert main([*argv, "--verbose"]) == 3
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.undo()

    import impasto.batch.worker as worker

    def interrupted(job, threads=None):
        raise KeyboardInterrupt

    monkeypatch.setattr("impasto.batch.local.run_job", interrupted)
    assert main(argv) == 130 and "interrupted" in capsys.readouterr().err
    assert worker.run_job is not interrupted


@pytest.mark.parametrize("out, message", [
    ("/sys/kernel", "cannot write to /sys/kernel"),          # exists, takes no files (even as root)
    ("/proc/impasto-nope", "cannot create the folder /proc/impasto-nope"),
    ("{tmp}/no/such/parent", "does not exist"),
])
def test_an_output_folder_that_cannot_be_written_fails_before_any_work(tmp_path, small, capsys, monkeypatch, out,
                                                                      message):
    content, style = small
    import impasto.batch.worker as worker

    monkeypatch.setattr(worker, "paint", lambda job: pytest.fail("painted before checking the output folder"))
    argv = ["batch", "--content", str(content), "--style", str(style), "-o", out.format(tmp=tmp_path), "--quiet",
            *TINY]
    assert main(argv) == 2
    assert message in one_line(capsys)


def test_manifest_outputs_make_folders_only_inside_the_folder_asked_for(tmp_path, small, capsys):
    content, style = small
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    elsewhere = tmp_path / "elsewhere" / "deep"  # outside the manifest's folder: a typo must not grow a tree
    (jobs / "jobs.csv").write_text(f"content,style,output\n{content},{style},made/here/a.png\n"
                                   f"{content},{style},{elsewhere}/b.png\n")
    assert main(["batch", str(jobs / "jobs.csv"), "--quiet", *TINY]) == 2
    assert f"folder {elsewhere} does not exist" in one_line(capsys)
    assert not (jobs / "made").exists() and not (tmp_path / "elsewhere").exists()
    (jobs / "jobs.csv").write_text(f"content,style,output\n{content},{style},made/here/a.png\n")
    assert main(["batch", str(jobs / "jobs.csv"), "--quiet", *TINY]) == 0
    assert (jobs / "made" / "here" / "a.png").is_file()
    assert main(["batch", str(jobs / "jobs.csv"), "-o", str(tmp_path / "o"), "--quiet", *TINY]) == 0
    assert (tmp_path / "o" / "made" / "here" / "a.png").is_file()  # relative outputs go below -o, made there


def test_a_killed_runs_temporary_files_are_removed_by_the_next_run(tmp_path, small):
    content, style = small
    out = tmp_path / "o"
    argv = ["batch", "--content", str(content), "--style", str(style), "-o", str(out), "--quiet", *TINY]
    assert main([*argv, "--dry-run"]) == 0
    (out / SIDECAR_DIR).mkdir(parents=True)
    # what a kill -9 between mkstemp and rename leaves: a partial picture, an empty record
    partial = out / ".c__s.png1a2b_c3d.tmp"
    partial.write_bytes(b"\x89PNG half")
    empty = out / SIDECAR_DIR / ".c__s.png.jsonzz9y8x7w.tmp"
    empty.write_bytes(b"")
    others = [out / ".notes.txt.tmp", out / ".c__s.png.tmp", out / "c__s.png1a2b_c3d.tmp"]
    for p in others:
        p.write_text("not ours")
    assert main(argv) == 0
    assert not partial.exists() and not empty.exists()
    assert all(p.exists() for p in others)
    assert Image.open(out / "c__s.png").size == (32, 24)


def test_skip_bad_leaves_out_missing_and_duplicate_inputs_reports_and_counts_them(tmp_path, small, capsys):
    content, style = small
    (tmp_path / "jobs.csv").write_text("content,style,output\n"
                                       f"{content},{style},a.png\n"
                                       f"{tmp_path}/gone.jpg,{style},b.png\n"
                                       f"{content},{style},a.png\n"
                                       f"{content},{style},c.png\n"
                                       f"{content},{style},d.png\n")
    argv = ["batch", str(tmp_path / "jobs.csv"), "-o", str(tmp_path / "o"), "--quiet", *TINY]
    assert main(argv) == 2
    err = one_line(capsys)
    assert "jobs.csv line 3: no such content file" in err and "(and 1 more problem(s); nothing was run)" in err
    assert not (tmp_path / "o").exists()
    assert main([*argv, "--skip-bad"]) == 1
    err = capsys.readouterr().err
    assert "jobs.csv line 3: left out: no such content file" in err and "jobs.csv line 4: left out: writes" in err
    assert sorted(p.name for p in (tmp_path / "o").glob("*.png")) == ["a.png", "c.png", "d.png"]
    recs = results(tmp_path / "o" / "results.jsonl")
    assert sorted(r["status"] for r in recs) == ["done"] * 3 + ["rejected"] * 2
    assert {r["where"] for r in recs if r["status"] == "rejected"} == {"jobs.csv line 3", "jobs.csv line 4"}
    assert main([*argv, "--skip-bad"]) == 1  # still left out, still counted; the rest is skipped as done
    assert sorted(r["status"] for r in results(tmp_path / "o" / "results.jsonl")) == ["rejected"] * 2 + ["skipped"] * 3


def test_content_folders_are_walked_and_outputs_keep_the_subfolder(tmp_path, small):
    content, style = small
    album = tmp_path / "album"
    for sub in ("2019", "2020", "2020/summer", ".hidden"):
        (album / sub).mkdir(parents=True)
        Image.open(content).save(album / sub / "IMG_0001.png")
    Image.open(content).save(album / "top.png")
    out = album / "painted"  # inside the album: a rerun must not paint its own pictures
    argv = ["batch", "--content", str(album), "--style", str(style), "-o", str(out), "--quiet", *TINY]
    assert main(argv) == 0
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert made == ["2019/IMG_0001__s.png", "2020/IMG_0001__s.png", "2020/summer/IMG_0001__s.png", "top__s.png"]
    assert main(argv) == 0
    assert sorted(r["status"] for r in results(out / "results.jsonl")) == ["skipped"] * 4


def test_a_rerun_reads_only_the_inputs_that_changed(tmp_path, small, monkeypatch):
    from impasto.batch.digests import CachedDigests

    content, style = small
    photos = []
    for i in range(3):
        photos.append(tmp_path / f"p{i}.png")
        Image.open(content).rotate(90 * i, expand=True).save(photos[-1])
    cache = tmp_path / SIDECAR_DIR / "inputs.json"
    requests = shorthand([str(p) for p in photos], [str(style)], [], {"max_long_edge": (32,)})

    def planned() -> tuple[list, CachedDigests]:
        d = CachedDigests(cache)
        jobs = plan(requests, out_dir=tmp_path / "o", digest=d)
        d.save()
        return jobs, d

    first, d = planned()
    assert d.read == 4  # three photos and the style, each once
    again, d = planned()
    assert d.read == 0 and [j.key for j in again] == [j.key for j in first]
    Image.open(content).transpose(Image.FLIP_LEFT_RIGHT).save(photos[1])  # changed: read again, new key
    third, d = planned()
    assert d.read == 1
    assert [j.key != k.key for j, k in zip(third, first)] == [False, True, False]
