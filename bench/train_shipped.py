"""Retrain the styles shipped in ``impasto/data/fast`` (CPU-sized; see docs/fast.md).

    python bench/train_shipped.py [STYLE ...] [--out DIR] [--steps N] [--threads N]

The shipped files were made on a shared 2-core CPU with the settings below (about 10-12 minutes
per style, one thread). On a GPU use ``impasto train`` with its defaults instead: a wider net,
more steps and bigger crops give clearly better models.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from impasto.fast.model import load_model, model_record, save_model
from impasto.fast.training import TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STYLES = {
    "starry_night": "Vincent van Gogh, The Starry Night (1889), public domain",
    "the_scream": "Edvard Munch, The Scream (1893), public domain",
    "mosaic": "mosaic.jpg, the stained-glass mosaic used by PyTorch's fast_neural_style example",
    "candy": "candy.jpg, the abstract painting used by PyTorch's fast_neural_style example",
}
CPU = dict(batch=2, crop=96, style_size=256, lr=2e-3, warmup=50, width=16, blocks=3, preview_every=100,
           checkpoint_every=100, device="cpu", precision="bf16")


def harvest(ckpt: Path, out: Path, credit: str) -> None:
    """Write a training checkpoint as a shipped model: fp16 weights, no optimiser state."""
    m = load_model(ckpt)
    rec = model_record(m.net, m.style, {**m.train, "steps_done": m.extra["step"]}, credit)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_model(out, rec)
    print(f"{out}: step {m.extra['step']}, {out.stat().st_size / 1e6:.2f} MB", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("styles", nargs="*", default=list(STYLES))
    p.add_argument("--out", default=str(ROOT / "src/impasto/data/fast"))
    p.add_argument("--work", default="/tmp/impasto-fast-train", help="previews and checkpoints")
    p.add_argument("--steps", type=int, default=1500)  # what the shipped files record
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lr", type=float, default=CPU["lr"])
    p.add_argument("--skip", action="store_true", help="identity-initialised residual output")
    p.add_argument("--resume", action="store_true", help="continue from the work folder's checkpoints")
    p.add_argument("--harvest", action="store_true",
                   help="do not train: ship the work folder's latest checkpoints as fp16 models")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    if a.harvest:
        for name in a.styles:
            harvest(work / f"{name}.pt.ckpt", Path(a.out) / f"{name}.pt", STYLES[name])
        return
    for name in a.styles:
        t0 = time.time()
        opts = TrainOptions(steps=a.steps, **{**CPU, "lr": a.lr, "skip": a.skip})
        resume = work / f"{name}.pt.ckpt" if a.resume else None
        if resume is not None and a.lr != CPU["lr"]:  # a checkpoint's own options win; change its lr
            ck = torch.load(resume, weights_only=True)
            ck["train"]["lr"] = a.lr
            torch.save(ck, resume)

        def log(step: int, losses: dict[str, float]) -> None:
            if step % 50 == 0:
                print(f"{name} {step} {time.time() - t0:.0f}s "
                      + " ".join(f"{k}={v:.3g}" for k, v in losses.items()), flush=True)

        train(SHARED / "images/style" / f"{name}.jpg", SHARED / "datasets/bsds500/train",
              work / f"{name}.pt", opts, preview=SHARED / "images/content/tubingen.jpg",
              credit=STYLES[name], on_step=log, resume=resume)
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / f"{name}.pt").write_bytes((work / f"{name}.pt").read_bytes())
        print(f"{name} done in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
