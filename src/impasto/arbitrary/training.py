"""Training the decoder (Huang & Belongie 2017, section 6): photos and paintings, the encoder fixed.

Each step takes a batch of photo crops and a batch of painting crops, moves each photo's relu4_1
features to its painting's statistics (AdaIN), decodes them, and encodes the decoded picture
again. The loss: the re-encoded relu4_1 against the AdaIN target (content), and the per-channel
means and spreads at relu1_1 .. relu4_1 against the painting's (style), weighted by lambda.

Built to run for days on a CPU as well as minutes on a GPU: data decoded once onto the device
(:class:`impasto.fast.photos.Photos`), losses read every ``log_every`` steps only, a checkpoint
every ``checkpoint_every`` steps and on Ctrl-C, and a rerun with the same output resumes from
its checkpoint. One in ten images of each folder (by a hash of its path within the folder) is
never trained on, so there are unseen photos and paintings to judge the decoder on.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import ImpastoError
from ..features.devices import precision_context, resolve_device
from ..fast.photos import Photos, photo_files
from ..images.io import save_image, to_pil
from .model import decoder_record, load_decoder, save_decoder
from .network import STAT_LAYERS, TRANSFER_LAYER, Decoder, DecoderSize, adain, encode, load_encoder, mean_std
from .options import ArbitraryTrainOptions

HELD_OUT = 10  # one image in this many is kept for judging


def held_out(path: Path, root: Path) -> bool:
    """Whether an image is in the validation split: a stable hash of its path inside its folder."""
    return zlib.crc32(path.relative_to(root).as_posix().encode()) % HELD_OUT == 0


def split(folders: Sequence[str | Path], flag: str = "--photos") -> tuple[list[Path], list[Path]]:
    """(training files, held-out files) of the images under ``folders`` (``flag`` names them in errors)."""
    train, held = [], []
    for folder in folders:
        root = Path(folder)
        try:
            found = photo_files(root)
        except ImpastoError:
            raise ImpastoError(f"{flag} {root}: not a folder with images (jpg, png, webp ...)") from None
        for f in found:
            (held if held_out(f, root) else train).append(f)
    return train, held


def checkpoint_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def style_loss(feats: dict[str, torch.Tensor], targets: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Sum over layers of the squared errors of per-channel means and spreads (AdaIN's eq. 13)."""
    total = 0.0
    for name in STAT_LAYERS:
        m, s = mean_std(feats[name])
        tm, ts = targets[name]
        total = total + F.mse_loss(m, tm) + F.mse_loss(s, ts)
    return total


Report = Callable[[int, dict[str, float]], None]


def train_decoder(photos: Sequence[str | Path], paintings: Sequence[str | Path], out: str | Path,
                  opts: ArbitraryTrainOptions | None = None, on_report: Report | None = None,
                  deadline: float | None = None) -> Path:
    """Train (or resume, when ``out``.ckpt or ``out`` itself exists) a decoder and write it to
    ``out`` (fp16).

    On resuming, the checkpoint's decoder widths win; the other options are taken as given.

    ``on_report(step, {"content", "style", "total", "seconds_per_step"})`` every ``log_every``
    steps. ``deadline``: a ``time.monotonic()`` after which it stops and writes what it has.
    On Ctrl-C the checkpoint is written before the KeyboardInterrupt propagates."""
    opts = (opts or ArbitraryTrainOptions()).validated()
    out = Path(out)
    if out.is_dir() or not out.parent.is_dir():
        raise ImpastoError(f"cannot write {out}: not a file in an existing folder")
    device = resolve_device(opts.device)
    photo_train, photo_held = split(photos)
    art_train, art_held = split(paintings, "--paintings")
    if not photo_train or not art_train:
        raise ImpastoError("need at least one training photo and one training painting (after the held-out split)")

    ckpt = checkpoint_path(out)
    start, state = 0, None
    if ckpt.is_file() or out.is_file():
        # a checkpoint, or else a finished decoder (a shipped one travels in git where a checkpoint
        # does not): its weights and step count; Adam's moments only a checkpoint has
        state = load_decoder(ckpt if ckpt.is_file() else out)
        start = int(state.extra.get("step", state.train.get("steps_done", 0)))
        # the network cannot change size mid-training: the checkpoint's widths win
        opts = dataclasses.replace(opts, widths=tuple(state.net.size.widths))
    torch.manual_seed(opts.seed)
    decoder = Decoder(DecoderSize(tuple(opts.widths)))
    if state is not None:
        decoder.load_state_dict(state.net.state_dict())
    decoder.to(device).train().requires_grad_(True)
    encoder = load_encoder(str(device), opts.precision)
    if encoder.channels_last:
        decoder.to(memory_format=torch.channels_last)
    optim = torch.optim.Adam(decoder.parameters(), lr=opts.lr, fused=device.type == "cuda" or None)
    if state is not None and state.extra.get("optimizer"):
        optim.load_state_dict(state.extra["optimizer"])
    photo_data = Photos(photo_train, opts.crop, seed=opts.seed + start, device=device)
    art_data = Photos(art_train, opts.style_crop, seed=opts.seed + 1 + start, device=device)
    data = {"photos": [str(p) for p in photos], "paintings": [str(p) for p in paintings],
            "photos_trained": len(photo_data), "paintings_trained": len(art_data),
            "held_out": f"crc32(path inside its folder) % {HELD_OUT} == 0",
            "photos_held_out": len(photo_held), "paintings_held_out": len(art_held)}
    preview_photo = photo_data.batch(1) if opts.preview_every else None
    preview_art = art_data.batch(1) if opts.preview_every else None

    def save(step: int, checkpoint: bool) -> None:
        rec = decoder_record(decoder, {**opts.record(), "data": data, "steps_done": step},
                             torch.float32 if checkpoint else torch.float16)
        if checkpoint:
            rec.update(optimizer=optim.state_dict(), step=step)
        save_decoder(ckpt if checkpoint else out, rec)

    sums = torch.zeros(2, device=device)
    step, since, clock = start, 0, time.perf_counter()
    try:
        while step < opts.steps:
            for group in optim.param_groups:
                group["lr"] = opts.lr / (1 + opts.lr_decay * step)
            photo, art = photo_data.batch(opts.batch), art_data.batch(opts.batch)
            with precision_context(device, opts.precision):
                with torch.no_grad():
                    fc = encode(encoder, photo)[TRANSFER_LAYER]
                    fs = encode(encoder, art, STAT_LAYERS)
                    targets = {k: mean_std(v) for k, v in fs.items()}
                    t = adain(fc, *targets[TRANSFER_LAYER])
                    if encoder.channels_last:
                        t = t.contiguous(memory_format=torch.channels_last)
                g = decoder(t)
                feats = encode(encoder, g, STAT_LAYERS)
            content = F.mse_loss(feats[TRANSFER_LAYER].float(), t)
            style = style_loss(feats, targets)
            optim.zero_grad(set_to_none=True)
            (content + opts.style_weight * style).backward()
            optim.step()
            sums += torch.stack([content.detach(), style.detach()])
            step += 1
            since += 1
            late = deadline is not None and time.monotonic() > deadline
            if step % opts.log_every == 0 or step == opts.steps or late:
                c, s = (sums / since).tolist()
                now = time.perf_counter()
                if on_report is not None:
                    on_report(step, {"content": c, "style": s, "total": c + opts.style_weight * s,
                                     "seconds_per_step": (now - clock) / since})
                sums.zero_()
                since, clock = 0, now
            if opts.preview_every and step % opts.preview_every == 0:
                _preview(decoder, encoder, preview_photo, preview_art, out, step, opts.precision)
            if step % opts.checkpoint_every == 0:
                save(step, True)
            if late:
                break
    except KeyboardInterrupt:
        save(step, True)
        raise
    save(step, True)
    save(step, False)
    return out


@torch.no_grad()
def _preview(decoder: Decoder, encoder, photo: torch.Tensor, art: torch.Tensor, out: Path, step: int,
             precision: str) -> None:
    """Photo, painting and the decoder's picture side by side."""
    decoder.eval()
    with precision_context(photo.device, precision):
        fc = encode(encoder, photo)[TRANSFER_LAYER]
        fs = encode(encoder, art)[TRANSFER_LAYER]
        g = decoder(adain(fc, *mean_std(fs)).to(fc.dtype)).float().clamp(0, 1)
    decoder.train()
    save_image(to_pil(torch.cat([photo, art, g], dim=3)[0]), out.with_name(f"{out.stem}_preview_{step:06d}.png"))
