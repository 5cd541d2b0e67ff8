"""Fast styles (docs/fast.md) on the CPU: their speed, and their quality against the engine's.

    python -m bench fast [--speed] [--quality] [--threads N] [--json OUT]

* speed: median seconds to paint one 512x512 image, shipped net size and Johnson's full size,
  in PyTorch (fp32, and 'auto': bf16 on CPUs with AMX/AVX512-BF16) and in onnxruntime.
* quality: on BSDS500 *val* photos (the models trained on *train*), the optimisation engine's
  loss (``Run.loss``: content, style, TV with the default options) of the model's painting
  and of the engine's own default run (500 L-BFGS steps) at the same size. The style image
  is taken at the size the models were trained with (256 px long edge).
All numbers are from the machine it runs on; compare only numbers from one run. Video flicker
is ``python -m bench flicker`` (measured independently of the smoother, on a real clip).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from . import record
from .impasto_api import (NetSize, TransformerNet, export_onnx, fit_long_edge, load_image, load_model, model_record,
                          paint, prepare, resolve_precision, run_onnx, save_model, to_tensor)
from .paths import ROOT, SHARED
from .timing import median_call


def speed(repeat: int) -> dict:
    x = torch.rand(1, 3, 512, 512)
    out = {}
    for label, size in (("shipped (width 16, 3 blocks)", NetSize(16, 3)), ("Johnson (width 32, 5 blocks)", NetSize(32, 5))):
        torch.manual_seed(0)
        net = TransformerNet(size).eval()
        t_fp32 = median_call(lambda: paint(net, x, "fp32"), repeat)
        t_auto = median_call(lambda: paint(net, x), repeat)  # bf16 where the CPU has it
        with tempfile.TemporaryDirectory() as d:
            model = Path(d) / "m.pt"
            save_model(model, model_record(net, "bench", {}))
            onnx_path = export_onnx(model, Path(d) / "m.onnx")
            t_onnx = median_call(lambda: run_onnx(onnx_path, x.numpy()), repeat)
        auto = resolve_precision(x.device, "auto")
        out[label] = {"torch_fp32_s": round(t_fp32, 4), f"torch_auto_{auto}_s": round(t_auto, 4),
                      "onnxruntime_s": round(t_onnx, 4)}
        print(f"512x512 {label}: torch fp32 {t_fp32:.3f} s, torch auto ({auto}) {t_auto:.3f} s, "
              f"onnxruntime {t_onnx:.3f} s", flush=True)
    return out


def _losses(t: torch.Tensor) -> dict[str, float]:
    return dict(zip(("content", "style", "tv", "total"), (float(f"{v:.4g}") for v in t.tolist())))


def engine_baseline(style_path: Path, photo: Path, side: int, style_scale: float, iterations: int,
                    cache: Path | None) -> dict:
    """The optimisation engine's default run on ``photo`` (cached: it is the slow part)."""
    key = f"{style_path.name}|{photo.name}|{side}|{style_scale}|{iterations}|{resolve_precision(torch.device('cpu'), 'auto')}"
    known = json.loads(cache.read_text()) if cache and cache.is_file() else {}
    if key in known:
        return known[key]
    img = fit_long_edge(load_image(photo), side)
    run = prepare(img, style_path, max_long_edge=side, style_scale=style_scale, iterations=iterations)
    t = time.time()
    for _ in run:
        pass
    seconds = time.time() - t
    judge = prepare(img, style_path, max_long_edge=side, style_scale=style_scale, iterations=1, precision="fp32").run
    with torch.no_grad():
        _, g = judge.loss(run.run.best_x.float())
    res = {"losses": _losses(g), "seconds": round(seconds, 1)}
    if cache:
        known = json.loads(cache.read_text()) if cache.is_file() else {}
        known[key] = res
        cache.write_text(json.dumps(known, indent=1))
    return res


def quality(styles: list[str], photos: list[Path], side: int, style_scale: float, iterations: int,
            cache: Path | None, engine_only: bool = False) -> dict:
    """Model vs engine under the engine's own loss (``Run.loss``, default weights and layers)."""
    res = {}
    for name in styles:
        style_path = SHARED / "images/style" / f"{name}.jpg"
        for photo in photos:
            base = engine_baseline(style_path, photo, side, style_scale, iterations, cache)
            key = f"{name} / {photo.name}"
            if engine_only:
                print(key, json.dumps(base), flush=True)
                continue
            model = load_model(name)
            img = fit_long_edge(load_image(photo), side)
            run = prepare(img, style_path, max_long_edge=side, style_scale=style_scale, iterations=1,
                          precision="fp32").run  # the yardstick, whatever precision painted
            y = paint(model.net, to_tensor(img))
            with torch.no_grad():
                _, m = run.loss(run.network.preprocess.to_net(y))
                _, c = run.loss(run.x0)  # the photo itself, for scale
            res[key] = {"model": _losses(m), "engine": base["losses"], "photo": _losses(c),
                        "ratio_total": round(float(m[3]) / base["losses"]["total"], 3),
                        "engine_seconds": base["seconds"]}
            print(key, json.dumps(res[key]), flush=True)
    return res


def cmd_fast(a: argparse.Namespace) -> None:
    if a.threads:
        torch.set_num_threads(a.threads)
    everything = not (a.speed or a.quality)
    styles = a.styles.split(",")
    out: dict = {"machine": record.machine(), "command": record.command(), "threads": torch.get_num_threads(),
                 "cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}
    if a.speed or everything:
        out["speed_512"] = speed(a.repeat)
    if a.quality or everything:
        photos = [SHARED / "datasets/bsds500/val" / n for n in a.photos.split(",")]
        out["quality"] = quality(styles, photos, a.side, a.style_scale, a.iterations,
                                 Path(a.cache) if a.cache else None, a.engine_only)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fast", help="fast styles on the CPU: speed, and quality against the engine")
    p.add_argument("--speed", action="store_true")
    p.add_argument("--quality", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--styles", default="starry_night,the_scream,mosaic,candy")
    p.add_argument("--photos", default="3096.jpg,42049.jpg", help="BSDS500 val photos")
    p.add_argument("--side", type=int, default=128, help="photo long edge for the quality test")
    p.add_argument("--style-scale", type=float, default=2.0,
                   help="style image size relative to the photo (2 at 128 px = the 256 px the models trained with)")
    p.add_argument("--cache", default=str(ROOT / "bench/fast_engine_cache.json"),
                   help="engine results are cached here (they take minutes each)")
    p.add_argument("--engine-only", action="store_true", help="only compute the engine baselines")
    p.add_argument("--iterations", type=int, default=500, help="engine steps (its default is 500)")
    p.add_argument("--json")
    p.set_defaults(func=cmd_fast)
