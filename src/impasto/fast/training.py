"""Training a transformation network for one style (Johnson et al. 2016, section 3).

Adam on the perceptual loss of :mod:`impasto.fast.loss` over random crops of a photo folder.
Every ``preview_every`` steps the network paints one fixed photo so progress can be seen;
every ``checkpoint_every`` steps (and on Ctrl-C) the network and optimiser are saved next to
the output so ``resume`` continues where a run stopped. The finished model is written
atomically as fp16.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import ImpastoError
from ..features.devices import precision_context, resolve_device
from ..images.io import fit_long_edge, load_image, save_image, to_pil, to_tensor
from .loss import PerceptualLoss
from .model import FastModel, load_model, model_record, save_model
from .options import NetSize, TrainOptions
from .photos import Photos
from .transformer import TransformerNet, paint


def checkpoint_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def preview_path(out: str | Path, step: int) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}_preview_{step:05d}.png")


Callback = Callable[[int, dict[str, float]], None]


def train(style: str | Path, photos: str | Path, out: str | Path, opts: TrainOptions | None = None,
          resume: str | Path | None = None, preview: str | Path | None = None, credit: str = "",
          on_step: Callback | None = None) -> FastModel:
    """Train a model for ``style`` on the photos in ``photos`` and write it to ``out``.

    ``resume``: a checkpoint to continue from (its network size and loss weights win; ``steps``
    from ``opts`` may extend the run). ``preview``: the photo painted every ``preview_every``
    steps (default: the folder's first). ``on_step(step, losses)`` is called after each step.
    On Ctrl-C a checkpoint is written before the KeyboardInterrupt propagates.
    """
    opts = (opts or TrainOptions()).validated()
    start, ckpt = 0, None
    if resume is not None:
        ckpt = load_model(resume)
        if "step" not in ckpt.extra:
            raise ImpastoError(f"{resume} is a finished model, not a checkpoint (no optimiser state)")
        saved = {k: v for k, v in ckpt.train.items() if k in TrainOptions.__dataclass_fields__}
        opts = dataclasses.replace(opts, **{**saved, "steps": opts.steps, "device": opts.device,
                                            "preview_every": opts.preview_every,
                                            "checkpoint_every": opts.checkpoint_every}).validated()
        start = int(ckpt.extra["step"])
    device = resolve_device(opts.device)
    style_img = load_image(style)
    data = Photos(photos, opts.crop, seed=opts.seed + start)
    preview_img = fit_long_edge(load_image(preview or data.files[0]), 256)
    loss = PerceptualLoss(style_img, opts.style_size, opts.loss_options())

    torch.manual_seed(opts.seed)
    net = TransformerNet(NetSize(opts.width, opts.blocks, opts.skip))
    if ckpt is not None:
        net.load_state_dict(ckpt.net.state_dict())
    net.to(device).train().requires_grad_(True)
    optim = torch.optim.Adam(net.parameters(), lr=opts.lr)
    # The network starts as the identity (transformer.py); Adam's first steps move every weight
    # of the last convolution by about lr at once, which throws the output far off. A short
    # linear warm-up keeps those first steps small.
    warm = max(1, opts.warmup)
    if ckpt is not None and ckpt.extra.get("optimizer"):
        optim.load_state_dict(ckpt.extra["optimizer"])
    style_name = Path(style).name

    def record(step: int, checkpoint: bool) -> dict:
        rec = model_record(net, style_name, {**opts.record(), "steps_done": step}, credit,
                           torch.float32 if checkpoint else torch.float16)
        if checkpoint:
            rec.update(optimizer=optim.state_dict(), step=step)
        return rec

    step = start
    try:
        while step < opts.steps:
            batch = data.batch(opts.batch).to(device)
            for group in optim.param_groups:
                group["lr"] = opts.lr * min(1.0, (step + 1) / warm)
            optim.zero_grad(set_to_none=True)
            with precision_context(device, opts.precision):
                parts = loss(net(batch), batch)
            parts["total"].backward()
            optim.step()
            step += 1
            if on_step:
                on_step(step, {k: float(v.detach()) for k, v in parts.items()})
            if opts.preview_every and step % opts.preview_every == 0:
                net.eval()
                save_image(to_pil(paint(net, to_tensor(preview_img).to(device), opts.precision)),
                           preview_path(out, step))
                net.train()
            if opts.checkpoint_every and step % opts.checkpoint_every == 0:
                save_model(checkpoint_path(out), record(step, True))
    except KeyboardInterrupt:
        save_model(checkpoint_path(out), record(step, True))
        raise
    save_model(out, record(step, False))
    return load_model(out, device)
