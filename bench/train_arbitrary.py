"""The arbitrary-style decoder, trained in the first phase of the GPU call.

    bash bench/device.sh train-any --device cuda --out DIR --budget 200   # on the GPU machine
    python -m bench train-any --tiny --device cpu --out DIR                # its CPU rehearsal

``impasto.arbitrary.training.train_decoder`` on the BSDS500 photos and the WikiArt paintings
(carried as :mod:`bench.train_data` packs them; its held-out split as on the CPU), in bf16 with
channels-last layout, the data decoded once onto the device, 256 px crops in batches of 8 (Huang
& Belongie's), a checkpoint every ``checkpoint_every`` steps. The step budget is the time budget
divided by a step's cost at an optimistic rate (the FLOPs of one step counted here at 32 px and
scaled), and a wall-clock guard stops it when the budget is spent, writing what it has.

DIR receives ``decoder.pt`` (fp16), ``decoder.ckpt`` (fp32 weights and the step, without
Adam's moments, so that it comes back under the tool's 16 MiB a file and a CPU run can resume
from it) and ``train.json`` (options, data, losses, seconds a step).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from . import train_data
from .impasto_api import ArbitraryTrainOptions, train_decoder
from .paths import CARRY
UNPACKED = Path("/tmp/impasto-data")
GPU = dict(batch=8, crop=256, style_crop=256, precision="bf16", log_every=100, checkpoint_every=2000,
           preview_every=0)
TINY = dict(GPU, batch=2, crop=32, style_crop=32, log_every=2, checkpoint_every=2, steps=4)
TINY_IMAGES = 24  # images of each folder the rehearsal trains on
# The rate assumed for the step budget: about what an H200's bf16 convolutions of 64-512 channels
# can reach, so that the count is an upper bound and the wall-clock guard normally ends the run
# (the learning rate's decay does not depend on the planned length).
ASSUMED_TFLOPS = 150.0
MAX_STEPS = 160_000  # Huang & Belongie's whole schedule


def step_flops(widths: tuple[int, int, int], crop: int, batch: int) -> float:
    """FLOPs of one decoder training step at ``crop`` and ``batch``, counted on the CPU at 32 px
    with a batch of 1 and scaled (convolutions dominate and scale with the pixels)."""
    from torch.utils.flop_counter import FlopCounterMode

    from .impasto_api import STAT_LAYERS, TRANSFER_LAYER, Decoder, DecoderSize, adain, encode, load_encoder, mean_std

    encoder = load_encoder("cpu", "fp32")
    decoder = Decoder(DecoderSize(tuple(widths)))
    photo, art = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            fc = encode(encoder, photo)[TRANSFER_LAYER]
            targets = {k: mean_std(v) for k, v in encode(encoder, art, STAT_LAYERS).items()}
            t = adain(fc, *targets[TRANSFER_LAYER])
        feats = encode(encoder, decoder(t), STAT_LAYERS)
        sum(f.float().square().mean() for f in feats.values()).backward()
    return counter.get_total_flops() * (crop / 32) ** 2 * batch


def strip_optimizer(ckpt: Path, dest: Path) -> None:
    """The checkpoint without Adam's moments (two thirds of its size)."""
    rec = torch.load(ckpt, map_location="cpu", weights_only=True)
    rec.pop("optimizer", None)
    torch.save(rec, dest)


def cmd_train(a: argparse.Namespace) -> int:
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.threads:
        torch.set_num_threads(a.threads)
    datasets = train_data.unpack(CARRY, UNPACKED)
    if a.tiny:
        datasets = train_data.sample(datasets, UNPACKED.with_name(UNPACKED.name + "-tiny"), TINY_IMAGES)
    preset = TINY if a.tiny else GPU
    widths = ArbitraryTrainOptions().widths
    flops = step_flops(widths, preset["crop"], preset["batch"])
    per_step = flops / (ASSUMED_TFLOPS * 1e12)
    steps = a.steps or preset.get("steps") or min(MAX_STEPS, max(1, int(a.budget / per_step)))
    opts = ArbitraryTrainOptions(**{**preset, "steps": steps, "device": a.device}).validated()
    print(f"decoder: {flops / 1e12:.3f} TFLOP a step; at {ASSUMED_TFLOPS:.0f} TFLOP/s {per_step * 1000:.1f} ms, "
          f"{steps} steps for {a.budget:.0f} s", flush=True)
    t0 = time.monotonic()
    curve: list[dict] = []

    def report(step: int, losses: dict[str, float]) -> None:
        now = time.monotonic() - t0
        curve.append({"step": step, "seconds": round(now, 2), **losses})
        print(f"step {step:7d} {now:7.1f}s  content {losses['content']:.4g} style {losses['style']:.4g} "
              f"({losses['seconds_per_step'] * 1000:.1f} ms a step)", flush=True)

    decoder = out / "decoder.pt"
    train_decoder(train_data.photo_folders(datasets), train_data.painting_folders(datasets), decoder, opts,
                  on_report=report, deadline=t0 + a.budget if a.budget else None)
    seconds = time.monotonic() - t0
    ckpt = decoder.with_name(decoder.name + ".ckpt")  # where train_decoder keeps its checkpoint
    if ckpt.is_file():
        strip_optimizer(ckpt, out / "decoder.ckpt")
        if ckpt != out / "decoder.ckpt":
            ckpt.unlink()
    done = curve[-1]["step"] if curve else 0
    record = {"command": " ".join(["python -m bench", *sys.argv[1:]]), "device": a.device,
              "torch": torch.__version__, "options": opts.record(), "datasets": str(datasets),
              "tflop_per_step": flops / 1e12, "assumed_tflops": ASSUMED_TFLOPS, "seconds": round(seconds, 1),
              "steps_done": done, "stopped_early": done < opts.steps, "curve": curve}
    if a.device.startswith("cuda"):
        record["gpu"] = torch.cuda.get_device_name()
        record["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    (out / "train.json").write_text(json.dumps(record, indent=1))
    print(f"decoder: {done} steps in {seconds:.0f} s; decoder.pt, decoder.ckpt and train.json in {out}", flush=True)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train-any", help="train the arbitrary-style decoder (the GPU call's first phase)")
    t.add_argument("--out", required=True, help="folder for decoder.pt, decoder.ckpt and train.json")
    t.add_argument("--device", default="cuda")
    t.add_argument("--tiny", action="store_true", help="the CPU rehearsal: tiny crops, a few steps")
    t.add_argument("--steps", type=int, help="override the step budget taken from --budget")
    t.add_argument("--budget", type=float, default=200.0,
                   help="seconds of training; sets the step budget and stops it early if slower")
    t.add_argument("--threads", type=int)
    t.set_defaults(func=cmd_train)
