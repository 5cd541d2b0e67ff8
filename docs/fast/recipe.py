"""Why Johnson-size networks trained on the CPU collapsed into flat colour, and the recipe that
does not (docs/fast.md, "The training recipe").

    python docs/fast/recipe.py train VARIANT STYLE [--steps N]   # one short CPU training
    python docs/fast/recipe.py report [VARIANT ...]               # table + docs/fast/recipe.jpg

Each training writes, under ``--work`` (default /tmp/impasto-recipe), the model, a preview of
one unseen photo (BSDS500 val 42049) every 100 steps and ``VARIANT-STYLE.json`` with, per
preview: the engine's content and style terms of the painting (fp32, default weights, the
style image at the size the network learnt it), how flat it is (mean spatial standard deviation
of its channels, 0-1 units; the photo has about 0.2) and how much of the photo's layout it keeps
(correlation of its brightness with the photo's); and at the end the share of dead channels
(never positive on that photo) after each ReLU of the network. Run each training under the
shared CPU lock: ``flock /tmp/impasto-cpu.lock python docs/fast/recipe.py train ...``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from impasto import prepare
from impasto.fast import TrainOptions, load_model, train
from impasto.fast.training import preview_path
from impasto.images.io import fit_long_edge, load_image, to_tensor

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
PHOTO = SHARED / "datasets/bsds500/val/42049.jpg"
SIDE = 256  # previews are painted at this long edge

BASE = dict(batch=2, crop=128, width=32, blocks=5, style_size=256, warmup=50, preview_every=100,
            checkpoint_every=0, log_every=50, device="cpu", precision="bf16", seed=0, bounded=False)
VARIANTS: dict[str, dict] = {
    # The recipe that collapsed (docs/fast.md): Johnson's size, the CPU rate of the small network.
    "old": dict(lr=2e-3, content_weight=1.0, style_weight=1e3),
    "lr5e-4": dict(lr=5e-4, content_weight=1.0, style_weight=1e3),
    "sw3e2": dict(lr=2e-3, content_weight=1.0, style_weight=3e2),
    "lr5e-4-sw3e2": dict(lr=5e-4, content_weight=1.0, style_weight=3e2),
    # A sigmoid on the output: the picture stays in range whatever the weights do.
    "bounded": dict(lr=2e-3, content_weight=1.0, style_weight=1e3, bounded=True),
    "bounded-lr1e-3": dict(lr=1e-3, content_weight=1.0, style_weight=1e3, bounded=True),
    "bounded-sw3e2": dict(lr=2e-3, content_weight=1.0, style_weight=3e2, bounded=True),
}


def options(variant: str, steps: int) -> TrainOptions:
    return TrainOptions(steps=steps, **{**BASE, **VARIANTS[variant]})


def score(photo: Image.Image, painting: Path, style: Path, style_size: int, network=None) -> dict:
    """The engine's weighted terms of a painting of ``photo`` (default options, fp32)."""
    run = prepare(photo, style, init=str(painting), max_long_edge=max(photo.size), iterations=1,
                  style_scale=style_size / max(photo.size), precision="fp32", network=network).run
    with torch.no_grad():
        _, parts = run.loss(run.x0)
    c, s, tv, total = parts.tolist()
    out = to_tensor(load_image(painting))
    src = to_tensor(photo)
    corr = torch.corrcoef(torch.stack([out.mean(1).flatten(), src.mean(1).flatten()]))[0, 1]
    return {"content": c, "style": s, "total": total, "flat": float(out.std((2, 3)).mean()),
            "layout": float(corr), "network": run.network}


def dead_channels(model_path: Path, photo: Image.Image) -> list[float]:
    """Per ReLU of the network (in order), the share of channels never positive on ``photo``."""
    net = load_model(model_path).net
    shares: list[float] = []
    hooks = [m.register_forward_hook(lambda _m, _i, y: shares.append(float((y.amax((0, 2, 3)) <= 0).float().mean())))
             for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        net(to_tensor(photo))
    for h in hooks:
        h.remove()
    return [round(s, 3) for s in shares]


def cmd_train(a: argparse.Namespace) -> None:
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    style = SHARED / "images/style" / f"{a.style}.jpg"
    out = work / f"{a.variant}-{a.style}.pt"
    opts = options(a.variant, a.steps)
    log: list[dict] = []
    t0 = time.time()
    train(style, SHARED / "datasets/bsds500/train", out, opts, preview=PHOTO,
          on_step=lambda step, losses: log.append({"step": step, **losses}))
    seconds = time.time() - t0
    photo = fit_long_edge(load_image(PHOTO), SIDE)
    rows, network = [], None
    for step in range(opts.preview_every, opts.steps + 1, opts.preview_every):
        r = score(photo, preview_path(out, step), style, opts.style_size, network)
        network = r.pop("network")
        rows.append({"step": step, **r})
        print(json.dumps(rows[-1]), flush=True)
    res = {"variant": a.variant, "style": a.style, "options": opts.record(), "seconds": round(seconds, 1),
           "previews": rows, "training": log, "dead_after_each_relu": dead_channels(out, photo)}
    (work / f"{a.variant}-{a.style}.json").write_text(json.dumps(res, indent=1))
    print(f"{a.variant} {a.style}: {seconds:.0f} s, dead channels per ReLU {res['dead_after_each_relu']}")


def cmd_report(a: argparse.Namespace) -> None:
    work = Path(a.work)
    runs = [json.loads(p.read_text()) for p in sorted(work.glob("*.json"))]
    if a.variants:
        runs = [r for r in runs if r["variant"] in a.variants]
    runs.sort(key=lambda r: (list(VARIANTS).index(r["variant"]) if r["variant"] in VARIANTS else 99, r["style"]))
    print("| variant | style | steps | content | style | flat (std) | layout (corr) | dead ReLU channels, decoder |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        last = r["previews"][-1]
        dead = r["dead_after_each_relu"][-2:]
        print(f"| {r['variant']} | {r['style']} | {last['step']} | {last['content']:.3g} | {last['style']:.3g} | "
              f"{last['flat']:.3f} | {last['layout']:.2f} | {', '.join(f'{d:.0%}' for d in dead)} |")
    if not runs:
        return
    cell = 160
    sheet = Image.new("RGB", (cell * (1 + len(runs)), cell + 14), "white")
    draw = ImageDraw.Draw(sheet)
    photo = fit_long_edge(load_image(PHOTO), cell)
    sheet.paste(photo, (0, 14))
    draw.text((2, 1), "photo (unseen)", fill="black")
    for i, r in enumerate(runs, 1):
        step = r["previews"][-1]["step"]
        img = fit_long_edge(load_image(preview_path(work / f"{r['variant']}-{r['style']}.pt", step)), cell)
        sheet.paste(img, (i * cell, 14))
        draw.text((i * cell + 2, 1), f"{r['variant']} {r['style']}"[:26], fill="black")
    out = Path(a.sheet)
    sheet.save(out, quality=85)
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--work", default="/tmp/impasto-recipe")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("variant", choices=list(VARIANTS))
    t.add_argument("style")
    t.add_argument("--steps", type=int, default=800)
    t.add_argument("--threads", type=int, default=2)
    r = sub.add_parser("report")
    r.add_argument("variants", nargs="*")
    r.add_argument("--sheet", default=str(ROOT / "docs/fast/recipe.jpg"))
    a = p.parse_args()
    if a.cmd == "train":
        torch.set_num_threads(a.threads)
        cmd_train(a)
    else:
        cmd_report(a)


if __name__ == "__main__":
    main()
