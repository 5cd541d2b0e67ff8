"""The arbitrary-style network in every shell: `stylize --model any`, `--init instant`, and the
web page's instant painting of any painting, refined afterwards (issue: any painting, in a second)."""

from __future__ import annotations

import warnings

import numpy as np

warnings.filterwarnings("ignore", message=".*httpx2.*")

from PIL import Image  # noqa: E402

from impasto.cli import main  # noqa: E402
from impasto.engine import prepare  # noqa: E402
from impasto.images.io import fit_long_edge, load_image  # noqa: E402
from impasto.options import resolve  # noqa: E402
from impasto.painter import Painter, Request  # noqa: E402

from .conftest import EXAMPLES
from .web_helpers import client, encode, png, submit, wait_for_state  # noqa: E402,F401


def test_stylize_model_any_paints_the_photo_with_the_painting(small, tmp_path, capsys):
    content, style = small
    out = tmp_path / "any.png"
    assert main(["stylize", str(content), str(style), "--model", "any", "-o", str(out), "--max-long-edge", "48",
                 "--device", "cpu"]) == 0
    assert Image.open(out).size == (48, 36)
    half = tmp_path / "half.png"
    assert main(["stylize", str(content), str(style), "--model", "any", "-o", str(half), "--max-long-edge", "48",
                 "--device", "cpu", "--style-weight", "6e7", "--quiet"]) == 0  # half the default beta: alpha 0.5
    photo_px = np.asarray(fit_long_edge(load_image(content), 48), float)
    full_px, half_px = (np.asarray(Image.open(p), float) for p in (out, half))
    assert np.abs(half_px - photo_px).mean() < np.abs(full_px - photo_px).mean()  # nearer the photo
    capsys.readouterr()
    for argv, says in ((["--model", "any", str(content)], "needs a photo"),
                       (["--model", "any", str(content), str(style), "--iterations", "5"], "--iterations")):
        assert main(["stylize", *argv, "-o", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1 and "Traceback" not in err


def test_init_instant_starts_the_optimisation_from_the_networks_painting(small):
    content, style = small
    o = resolve(init="instant", max_long_edge=48, iterations=1, scales=(1,), device="cpu")
    t = prepare(content, [style], o)
    start = np.asarray(t.run.to_image(t.run.x0), float)
    instant = np.asarray(Painter().paint(Request(content, o, (style,), "any",
                                                 {"long_edge": 48, "device": "cpu"})).result().image, float)
    photo_px = np.asarray(t.content_image, float)
    assert np.abs(start - instant).mean() < 2 < np.abs(start - photo_px).mean()


def test_the_page_paints_any_painting_instantly_then_refines_it(client, png):
    assert client.get("/api/capabilities").json()["instant_any"]
    gallery = wait_for_state(client.get, submit(client, png, style_id="shipwreck", quality="instant").json()["id"])
    assert gallery["state"] == "done", gallery["error"]
    assert gallery["instant"] and gallery["refinable"] and gallery["style_title"] == "The Shipwreck (instant)"
    style = encode(Image.open(EXAMPLES / "starry_night.jpg").convert("RGB").resize((40, 30)))
    uploaded = wait_for_state(client.get, submit(client, png, style_id=None, style=style, quality="instant").json()["id"])
    assert uploaded["state"] == "done" and uploaded["refinable"], uploaded["error"]
    r = client.post(uploaded["links"]["refine"], data={"quality": "fast"})
    assert r.status_code == 201, r.text
    refined = wait_for_state(client.get, r.json()["id"])
    assert refined["state"] == "done" and refined["options"]["refine_of"] == uploaded["id"]
    got = client.get(refined["links"]["style"]).content
    assert got == client.get(uploaded["links"]["style"]).content  # it refined with the painting the user uploaded


def test_batch_paints_each_style_with_the_arbitrary_network(small, tmp_path):
    from impasto.batch import LocalExecutor, plan, run_batch, shorthand
    from impasto.batch.jobs import Digests, job_key

    content, style = small
    jobs = plan(shorthand([str(content)], [str(style)], ["any"], {"max_long_edge": (48,), "device": ("cpu",)}),
                out_dir=tmp_path / "o")
    [job] = jobs
    assert job.model == "any" and job.styles == (str(style),) and "any_s" in job.output
    s = run_batch(jobs, LocalExecutor(), tmp_path / "r.jsonl")
    assert (s.done, s.failed) == (1, []) and Image.open(job.output).size == (48, 36)
    Image.open(style).rotate(180).save(style)  # another painting: another key
    [again] = plan(shorthand([str(content)], [str(style)], ["any"], {"max_long_edge": (48,), "device": ("cpu",)}),
                   out_dir=tmp_path / "o")
    assert job_key(again, Digests()) != job.key
