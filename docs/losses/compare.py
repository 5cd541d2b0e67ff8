"""The three style losses side by side on three paintings (docs/losses.md).

    python docs/losses/compare.py 256 200

Each loss runs the same number of L-BFGS steps from the photo at one size, otherwise with the
defaults (only --style-loss differs); the time per step is measured in the run. Every output is then scored
in fp32 on the Caffe VGG-19 as trained (max pooling) by two yardsticks, each favouring a
different loss, so neither decides alone:

* Gram error: mean over relu1_1..relu5_1 of |G(x) - G(s)| / |G(s)| (the paper's statistic);
* sliced-Wasserstein distance: mean over the same layers of the 1D W2 between the projections of
  the output's and the painting's features on 256 fixed random directions, divided by the same
  distance for the photo itself (1 = as far from the painting as the photo, 0 = matched);
* and the content error at relu4_2, |F(x) - F(c)| / |F(c)|, to see what each paid for it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

import impasto
from impasto.features.network import load_network
from impasto.images.io import fit_long_edge, load_image, save_image, to_tensor
from impasto.losses.style import gram

torch.set_num_threads(2)
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "images"
PHOTO = SHARED / "content" / "tubingen.jpg"
PAINTINGS = [SHARED / "style" / n for n in ("starry_night.jpg", "the_scream.jpg", "picasso_selfport1907.jpg")]
LOSSES = ("gram", "w2", "sliced")
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def features(net, img: Image.Image) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return net.net(net.preprocess.to_net(to_tensor(img)), LAYERS + ("relu4_2",))


def sliced_w(a: torch.Tensor, b: torch.Tensor, dirs: torch.Tensor) -> float:
    """1D W2^2 averaged over directions, the sorted projections compared at equal quantiles."""
    pa = (a[0].reshape(a.shape[1], -1).T @ dirs).sort(0).values
    pb = (b[0].reshape(b.shape[1], -1).T @ dirs).sort(0).values
    n = max(pa.shape[0], pb.shape[0])
    q = (torch.arange(n) + 0.5) / n
    ra = torch.quantile(pa, q, dim=0) if pa.shape[0] != n else pa
    rb = torch.quantile(pb, q, dim=0) if pb.shape[0] != n else pb
    return float((ra - rb).pow(2).mean())


def score(net, out: Image.Image, photo: Image.Image, painting: Image.Image, dirs: dict) -> dict[str, float]:
    fx, fc, fs = features(net, out), features(net, photo), features(net, painting)
    gram_err = sum(float((gram(fx[k]) - gram(fs[k])).norm() / gram(fs[k]).norm()) for k in LAYERS) / len(LAYERS)
    sw = sum(sliced_w(fx[k], fs[k], dirs[k]) / sliced_w(fc[k], fs[k], dirs[k]) for k in LAYERS) / len(LAYERS)
    content = float((fx["relu4_2"] - fc["relu4_2"]).norm() / fc["relu4_2"].norm())
    return {"gram_error": round(gram_err, 4), "sliced_w": round(sw, 4), "content_error": round(content, 4)}


def main() -> None:
    size, steps = int(sys.argv[1]), int(sys.argv[2])
    net = load_network(impasto.resolve(weights="caffe", precision="fp32", pooling="max"))  # the network as trained: no loss here uses it
    g = torch.Generator().manual_seed(1234)
    dirs = {}
    for k in LAYERS:
        c = net.net.convs["conv" + k[4:]].out_channels
        d = torch.randn(c, 256, generator=g)
        dirs[k] = d / d.norm(dim=0, keepdim=True)
    photo = fit_long_edge(load_image(PHOTO), size)
    rows, results = [], {}
    for painting_path in PAINTINGS:
        painting = load_image(painting_path)
        judged = fit_long_edge(painting, size)  # the painting at the size the runs see it
        row = [fit_long_edge(painting, size)]
        for loss in LOSSES:
            t = impasto.prepare(photo, painting, max_long_edge=size, iterations=steps, style_loss=loss,
                                scales=(1,), stop_eps=0.0)  # one size, every step: the same work for each
            it = iter(t)
            next(it)  # the first step includes one-time set-up
            start = time.perf_counter()
            for _ in it:
                pass
            per_step = (time.perf_counter() - start) / (steps - 1)
            out = t.best_image()
            r = {**score(net, out, photo, judged, dirs), "ms_per_step": round(per_step * 1000)}
            results[f"{painting_path.stem} / {loss}"] = r
            print(painting_path.stem, loss, json.dumps(r), flush=True)
            row.append(out)
        rows.append(row)
    sheet(rows, size)
    (ROOT / "docs" / "losses" / "compare.json").write_text(json.dumps(
        {"size": size, "steps": steps, "photo": PHOTO.name, "cpu": cpu_model(), "torch": torch.__version__,
         "results": results}, indent=1))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def sheet(rows: list[list[Image.Image]], size: int) -> None:
    labels = ["painting"] + [f"--style-loss {n}" for n in LOSSES]
    h = max(im.height for row in rows for im in row)
    w = size
    top = 22
    canvas = Image.new("RGB", (len(labels) * (w + 6), top + len(rows) * (h + 6)), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=15)
    for j, text in enumerate(labels):
        draw.text((j * (w + 6) + 4, 3), text, fill="black", font=font)
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            canvas.paste(im, (j * (w + 6), top + i * (h + 6)))
    save_image(canvas, ROOT / "docs" / "losses" / "compare.jpg", quality=88)


if __name__ == "__main__":
    main()
