"""The shipped feed-forward styles: train all four in one GPU call, check them on the CPU, ship them.

    bash bench/device.sh train-shipped --device cuda --out DIR          # on the GPU machine (the device call)
    python -m bench train-shipped --tiny --device cpu --out DIR          # its CPU rehearsal: same code, tiny sizes
    python -m bench train-shipped --step-cost                            # one step's FLOPs, operator calls, seconds
    python -m bench train-shipped --pack-data                            # photos and paintings into .gpu-carry/data
    python -m bench train-shipped --evaluate DIR                         # afterwards, on the CPU: quality vs the engine
    python -m bench train-shipped --install DIR                          # DIR/NAME.pt -> data/fast/large/NAME.pt
    python -m bench train-shipped --preset cpu --device cpu --out DIR    # the small CPU-sized networks (data/fast/NAME.pt)

Training (``impasto.fast.training.train_many``): the four styles side by side on the same crops,
one shared VGG pass for all of them, the photos decoded once and cropped on the device, bf16
autocast and channels-last on the GPU, the whole step replayed from one CUDA graph there, losses
read from the device every ``log_every`` steps only. The loss is the engine's default look
(``TrainOptions.look``). A step budget (``GPU['steps']``) and a wall-clock guard (``--budget``)
that stops early, writing what it has. DIR receives the four ``NAME.pt`` (fp16, their training
options inside), ``preview.jpg`` (each style on unseen photos) and ``train.json`` (losses,
timings).

Photos: the 300 BSDS500 train and val photos less the two the evaluation scores on (``UNSEEN``).
They and the style images come from ``.gpu-carry/`` when it holds them (``--pack-data`` and
``python -m bench gpu-carry`` fill it; shared/ does not travel), else from ``../shared``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import warnings
from pathlib import Path

import torch

from . import train_arbitrary, train_data, train_step
from .gpu.carry import LIMIT, checkout_bytes
from .impasto_api import FAST_DIR, TrainOptions, load_model, train_many
from .paths import CARRY, ROOT, SHARED
from .record import machine
from .yardstick import Yardstick

STYLES = {
    "starry_night": "Vincent van Gogh, The Starry Night (1889), public domain",
    "the_scream": "Edvard Munch, The Scream (1893), public domain",
    "mosaic": "mosaic.jpg, the stained-glass mosaic used by PyTorch's fast_neural_style example",
    "candy": "candy.jpg, the abstract painting used by PyTorch's fast_neural_style example",
}
UNSEEN = ("3096.jpg", "42049.jpg")  # BSDS500 val photos: never trained on

# Johnson's network at Johnson's crop size, on the engine's default look. The style image at 1024
# px: a Gram is blind to position, so a model paints strokes at the pixel size they have in the
# style image it learnt from, and the engine's default run of a 1024 px output takes the style
# image at 1024 px. The recipe otherwise (bounded output, rate 1e-3, warm-up) is TrainOptions'
# default, set from the CPU study in docs/fast.md. Steps: an H200 took 91.6 ms a step for the four
# with a VGG pass per style and no graph; the step budget assumes the stacked, graphed step at a
# third of that, and the --budget guard stops earlier (models written) if it is slower.
GPU = dict(width=32, blocks=5, crop=256, batch=4, style_size=1024, steps=12000, precision="bf16", log_every=200,
           preview_every=0, checkpoint_every=0, look="default", cuda_graph=True)
# The rehearsal: the same network and code, tiny crops and a handful of steps.
TINY = dict(GPU, crop=32, batch=1, style_size=64, steps=4, log_every=2)
TINY_PHOTOS = 16
# The small networks of data/fast/NAME.pt (what their files record: the classic look).
CPU = dict(width=16, blocks=3, crop=96, batch=2, style_size=256, steps=1500, precision="bf16", log_every=50,
           preview_every=100, checkpoint_every=100, look="classic")
PRESETS = {"gpu": GPU, "cpu": CPU}
ASSUMED_TFLOPS = 90.0  # effective rate assumed: the 29 TFLOP/s measured per style and ungraphed, times three


def source(*parts: str) -> Path:
    """A carried input when .gpu-carry has it, else the shared one."""
    carried = CARRY.joinpath(*parts)
    return carried if carried.exists() else SHARED.joinpath(*parts)


def datasets() -> Path:
    return train_data.unpack(CARRY, train_arbitrary.UNPACKED)


def training_photos() -> list[Path]:
    """BSDS500 train + val, less the photos the evaluation scores on."""
    from .impasto_api import photo_files

    return [f for folder in train_data.photo_folders(datasets()) for f in photo_files(folder) if f.name not in UNSEEN]


def unseen_photos() -> list[Path]:
    folder = datasets() / "bsds500/val"
    return [folder / n for n in UNSEEN if (folder / n).is_file()]


def style_image(name: str) -> Path:
    return source("images", "style", f"{name}.jpg")


def step_flops(opts: TrainOptions, styles: list[str]) -> float:
    """FLOPs of one training step of ``opts`` for ``styles`` together (forward and backward, the
    stacked loss), counted by torch at a small crop and batch and scaled to ``opts``'
    (convolutions dominate and scale with the pixels)."""
    crop, batch = 32, 1
    small = TrainOptions(**{**opts.record(), "crop": crop, "batch": batch, "style_size": 64, "device": "cpu",
                            "precision": "fp32", "cuda_graph": False})
    steps = train_step.build_steps(small, [style_image(n) for n in styles])
    return train_step.flops(steps["stacked"]) * (opts.crop / crop) ** 2 * opts.batch / batch


def preview_sheet(models: dict, photos: list[Path], out: Path, side: int = 320) -> None:
    """Rows: styles; columns: the photos (unseen), painted at ``side`` px long edge."""
    from PIL import Image, ImageDraw

    from .impasto_api import fit_long_edge, load_image, stylize_tensors, to_tensor

    imgs = [fit_long_edge(load_image(p), side) for p in photos]
    w, h = max(i.width for i in imgs), max(i.height for i in imgs)
    label = 100  # the style names' column
    sheet = Image.new("RGB", (label + w * len(imgs), h * (1 + len(models))), "white")
    for c, img in enumerate(imgs):
        sheet.paste(img, (label + c * w, 0))
    draw = ImageDraw.Draw(sheet)
    for r, (name, model) in enumerate(models.items(), 1):
        draw.text((4, r * h + 4), name, fill="black")
        for c, painted in enumerate(stylize_tensors(model, [to_tensor(i) for i in imgs])):
            sheet.paste(painted, (label + c * w, r * h))
    sheet.save(out, quality=88)


def cmd_train(a: argparse.Namespace) -> int:
    preset = TINY if a.tiny else PRESETS[a.preset]
    overrides = {k: v for k, v in (("steps", a.steps), ("lr", a.lr)) if v is not None}
    opts = TrainOptions(**{**preset, "device": a.device, **overrides}).validated()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    names = a.styles or list(STYLES)
    if a.threads:
        torch.set_num_threads(a.threads)
    photos = training_photos()[:TINY_PHOTOS] if a.tiny else training_photos()
    record: dict = {"machine": machine(a.device), "command": " ".join(["python -m bench", *sys.argv[1:]]),
                    "options": opts.record(), "styles": names, "photos": f"{len(photos)} from {datasets()}"}
    if a.tiny:  # what the GPU step will cost, counted here
        flops = step_flops(TrainOptions(**{**GPU, "device": "cpu"}), names)
        per_step = flops / (ASSUMED_TFLOPS * 1e12)
        record["gpu_step_estimate"] = {"tflop_per_step": flops / 1e12, "assumed_tflops": ASSUMED_TFLOPS,
                                       "seconds_per_step": per_step, "steps": GPU["steps"],
                                       "training_seconds": per_step * GPU["steps"]}
        print(f"GPU recipe: {flops / 1e12:.2f} TFLOP per step for {len(names)} styles; at {ASSUMED_TFLOPS:.0f} "
              f"TFLOP/s {per_step * 1000:.1f} ms a step, {GPU['steps']} steps in {per_step * GPU['steps']:.0f} s",
              flush=True)
    t0 = time.monotonic()
    curve: list[dict] = []

    def report(step: int, losses: dict[str, dict[str, float]]) -> None:
        now = time.monotonic() - t0
        curve.append({"step": step, "seconds": round(now, 2), "losses": losses})
        print(f"step {step:6d} {now:7.1f}s  " + "  ".join(
            f"{n}: c {v['content']:.3g} s {v['style']:.3g} tv {v['tv']:.3g}" for n, v in losses.items()), flush=True)

    styles = {n: (style_image(n), STYLES[n]) for n in names}
    deadline = t0 + a.budget if a.budget else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        models = train_many(styles, photos, out, opts, on_report=report, deadline=deadline)
    for w in caught:
        print(f"warning: {w.message}", flush=True)
    record["warnings"] = [str(w.message) for w in caught]
    seconds = time.monotonic() - t0
    done = curve[-1]["step"] if curve else 0
    record.update(seconds=round(seconds, 1), steps_done=done, curve=curve,
                  seconds_per_step=(curve[-1]["seconds"] - curve[0]["seconds"]) / max(1, done - curve[0]["step"])
                  if len(curve) > 1 else seconds / max(1, done),
                  stopped_early=done < opts.steps)
    if a.device.startswith("cuda"):
        record["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    preview_sheet(models, unseen_photos() or [ROOT / "examples/tubingen.jpg"], out / "preview.jpg",
                  96 if a.tiny else 320)
    (out / "train.json").write_text(json.dumps(record, indent=1))
    print(f"trained {', '.join(names)}: {done} steps in {seconds:.0f} s "
          f"({record['seconds_per_step'] * 1000:.1f} ms a step{', stopped by the time guard' if record['stopped_early'] else ''}); "
          f"models, preview.jpg and train.json in {out}", flush=True)
    for n, v in (curve[-1]["losses"] if curve else {}).items():
        print(f"  {n}: content {v['content']:.4g}, style {v['style']:.4g}, tv {v['tv']:.4g}, total {v['total']:.4g}")
    return 0


def cmd_install(a: argparse.Namespace) -> int:
    """Copy trained models into the package as the large size of each shipped style."""
    src = Path(a.install)
    dest = FAST_DIR / "large"
    dest.mkdir(parents=True, exist_ok=True)
    for name in STYLES:
        f = src / f"{name}.pt"
        if f.is_file():
            m = load_model(f)  # refuses anything that is not a model
            shutil.copyfile(f, dest / f.name)
            print(f"{dest / f.name}: width {m.size.width}, {m.size.blocks} blocks, {m.train.get('steps_done')} steps")
    return 0


def sheet_1024(folder: Path, out: Path, side: int = 1024) -> None:
    """Each model of ``folder`` on two photos it never saw (tubingen, golden_gate) painted at
    ``side`` px: per photo the whole painting at half size and a crop at full size (the strokes
    at the scale they are printed). Rows: styles."""
    from PIL import Image, ImageDraw

    from .impasto_api import fit_long_edge, load_image, stylize_tensors, to_tensor

    photos = [fit_long_edge(load_image(source("images", "content", f"{n}.jpg")), side)
              for n in ("tubingen", "golden_gate")]
    names = [n for n in STYLES if (folder / f"{n}.pt").is_file()]
    cw, ch = side // 2, side * 3 // 8
    sheet = Image.new("RGB", (4 * cw, len(names) * ch), "white")
    draw = ImageDraw.Draw(sheet)
    for r, name in enumerate(names):
        model = load_model(folder / f"{name}.pt")
        for c, (photo, painted) in enumerate(zip(photos, stylize_tensors(model, [to_tensor(p) for p in photos]))):
            half = painted.resize((cw, round(painted.height * cw / painted.width)), Image.LANCZOS)
            sheet.paste(half.crop((0, 0, cw, ch)), (2 * c * cw, r * ch))
            x0, y0 = (painted.width - cw) // 2, (painted.height - ch) // 2
            sheet.paste(painted.crop((x0, y0, x0 + cw, y0 + ch)), ((2 * c + 1) * cw, r * ch))
        draw.text((4, r * ch + 4), name, fill="white")
    sheet.save(out, quality=85)
    print(f"wrote {out}: rows {', '.join(names)}; per photo the painting at half size, then a 1:1 crop")


def cmd_evaluate(a: argparse.Namespace) -> int:
    """Each model against the optimisation engine's default run on unseen photos (CPU): both
    pictures scored by the yardstick (relative content and Gram errors, fp32) and by the engine's
    own loss terms; the target is the model within 1.5x of the engine on both yardstick errors."""
    from .impasto_api import fit_long_edge, load_image, paint, prepare, save_image, to_pil, to_tensor

    folder = Path(a.evaluate)
    side = a.side
    rows = {}
    work = Path("/tmp/impasto-fast-eval")
    work.mkdir(exist_ok=True)
    for name in STYLES:
        f = folder / f"{name}.pt"
        if not f.is_file():
            continue
        model = load_model(f)
        style_scale = float(model.train.get("style_size", 256)) / side  # the strokes the model learnt
        style_file = work / f"style-{name}-{side}.png"
        fit_long_edge(load_image(style_image(name)), round(side * style_scale)).save(style_file)
        for photo in unseen_photos():
            img = fit_long_edge(load_image(photo), side)
            content_file = work / f"photo-{photo.stem}-{side}.png"
            img.save(content_file)
            engine_file, painted = work / f"engine-{name}-{photo.stem}.png", work / f"{name}-{photo.stem}.png"
            t = time.perf_counter()
            engine = prepare(content_file, style_file, max_long_edge=side, style_scale=style_scale)  # defaults
            for _ in engine:
                pass
            engine_s = time.perf_counter() - t
            save_image(engine.best_image(), engine_file)
            t = time.perf_counter()
            save_image(to_pil(paint(model.net, to_tensor(img))), painted)
            model_s = time.perf_counter() - t
            judge = Yardstick(content_file, style_file, "cpu")
            row = {"engine": {"seconds": engine_s, "steps": engine.steps_done, **judge.score(engine_file)},
                   "model": {"seconds": model_s, **judge.score(painted)}}
            for k in ("content_error", "style_error"):
                row[k.replace("error", "ratio")] = row["model"][k] / row["engine"][k]
            rows[f"{name} / {photo.name}"] = row
            print(f"{name} / {photo.name}: content x{row['content_ratio']:.2f}, style x{row['style_ratio']:.2f} "
                  f"of the engine's on the yardstick (target 1.5)", flush=True)
    out = ROOT / "bench/results" / f"fast-quality-{folder.name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"side": side, "models": str(folder), "machine": machine("cpu"), "rows": rows},
                              indent=1))
    if a.sheet:
        sheet_1024(folder, Path(a.sheet))
    print("| style / photo | content error: model / engine | style error: model / engine | both within 1.5x |")
    print("|---|---|---|---|")
    for k, r in rows.items():
        ok = r["content_ratio"] <= 1.5 and r["style_ratio"] <= 1.5
        print(f"| {k} | {r['model']['content_error']:.3f} / {r['engine']['content_error']:.3f} = "
              f"{r['content_ratio']:.2f}x | {r['model']['style_error']:.3f} / {r['engine']['style_error']:.3f} = "
              f"{r['style_ratio']:.2f}x | {'yes' if ok else 'no'} |")
    return 0


def cmd_step_cost(a: argparse.Namespace) -> int:
    """One step's cost both ways (bench/train_step.py), on this machine, into bench/results."""
    if a.threads:
        torch.set_num_threads(a.threads)
    opts = TrainOptions(**{**GPU, "crop": a.crop, "batch": a.batch, "style_size": 128, "device": a.device,
                           "precision": a.precision, "cuda_graph": False})
    names = a.styles or list(STYLES)
    cost = train_step.step_cost(opts, [style_image(n) for n in names])
    record = {"machine": machine(a.device), "styles": names, "crop": a.crop, "batch": a.batch,
              "look": opts.look, "precision": a.precision, "threads": torch.get_num_threads(), "ways": cost}
    out = ROOT / "bench/results" / f"train-step-cost-{a.crop}px.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    for way, c in cost.items():
        print(f"{way}: {c['gflop']:.1f} GFLOP, {c['operator_calls']} operator calls, {c['seconds']:.2f} s a step")
    print(f"written {out}")
    return 0


def cmd_pack_data(a: argparse.Namespace) -> int:
    """Photos and paintings into .gpu-carry/data, as many paintings as the carry limit leaves room for."""
    data = CARRY / "data"
    old = CARRY / "bsds"  # the photos as they travelled before data/bsds500.tar: nothing reads them now
    if old.is_dir():
        shutil.rmtree(old)
        print(f"removed {old} (the photos travel in {data / 'bsds500.tar'})")
    others = sum(f.stat().st_size for f in CARRY.rglob("*") if f.is_file() and data not in f.parents)
    budget = LIMIT - checkout_bytes() - others - a.margin * 2**20
    counts = train_data.pack(CARRY, budget)
    total = checkout_bytes() + others + counts["bytes"]
    print(f"{CARRY / 'data'}: {counts['photos']} photos, {counts['paintings']} of {counts['paintings_available']} "
          f"training paintings, {counts['bytes'] / 2**20:.1f} MiB; with the checkout and the rest of .gpu-carry "
          f"{total / 2**20:.1f} MiB of {LIMIT / 2**20:.0f} MiB")
    return 0 if total <= LIMIT else 1


def register(sub: argparse._SubParsersAction) -> None:
    train_arbitrary.register(sub)
    t = sub.add_parser("train-shipped", help="train, check or install the shipped feed-forward styles")
    t.add_argument("--out", help="folder for the models, preview.jpg and train.json")
    t.add_argument("--device", default="cuda")
    t.add_argument("--tiny", action="store_true", help="the CPU rehearsal: tiny crops, a few steps")
    t.add_argument("--preset", choices=list(PRESETS), default="gpu")
    t.add_argument("--styles", nargs="*", choices=list(STYLES))
    t.add_argument("--steps", type=int, help="override the preset's step budget")
    t.add_argument("--lr", type=float, help="override the recipe's learning rate")
    t.add_argument("--budget", type=float, default=450.0,
                   help="seconds of training after which it stops and writes what it has (0 = none)")
    t.add_argument("--threads", type=int)
    t.add_argument("--evaluate", metavar="DIR", help="score DIR/NAME.pt against the engine on unseen photos")
    t.add_argument("--side", type=int, default=256, help="--evaluate: photo long edge")
    t.add_argument("--sheet", help="--evaluate: also write this picture of every style at 1024 px (docs/fast/)")
    t.add_argument("--install", metavar="DIR", help="copy DIR/NAME.pt into data/fast/large/")
    t.add_argument("--step-cost", action="store_true", help="one step's FLOPs, operator calls and seconds, "
                   "the styles through VGG one by one and stacked (--crop, --batch, --precision)")
    t.add_argument("--crop", type=int, default=64, help="--step-cost: crop side")
    t.add_argument("--batch", type=int, default=2, help="--step-cost: photos a step")
    t.add_argument("--precision", default="auto", help="--step-cost: precision")
    t.add_argument("--pack-data", action="store_true",
                   help="pack the BSDS500 photos and as many WikiArt paintings as fit into .gpu-carry/data")
    t.add_argument("--margin", type=float, default=1.0, help="--pack-data: MiB to leave free under the limit")
    t.set_defaults(func=main)


def main(a: argparse.Namespace) -> int:
    if a.step_cost:
        return cmd_step_cost(a)
    if a.pack_data:
        return cmd_pack_data(a)
    if a.install:
        return cmd_install(a)
    if a.evaluate:
        return cmd_evaluate(a)
    if not a.out:
        raise SystemExit("train-shipped: give --out DIR (or --evaluate DIR / --install DIR)")
    return cmd_train(a)
