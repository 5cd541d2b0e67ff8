"""Painting a video frame by frame, through the ffmpeg binary that ``imageio-ffmpeg`` ships.

Frames are decoded as RGB, painted in small batches, optionally smoothed along optical flow
(:mod:`impasto.fast.temporal`), and encoded as H.264 at the input's frame rate; the input's
audio track, when there is one, is copied across (re-encoded as AAC). The output is written
to a temporary file beside the target and renamed into place when complete.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..errors import ImpastoError
from .painting import ModelLike, as_model
from .temporal import FlickerMeter, Smoother
from .transformer import paint

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".m4v", ".avi", ".webm"}


@dataclass
class VideoStats:
    frames: int
    fps: float
    flicker: float | None = None


@dataclass
class VideoInfo:
    fps: float
    size: tuple[int, int]
    audio: bool
    frames: Iterator[bytes]


def exact_fps(fps: float) -> Fraction:
    """ffmpeg reports 29.97; the real rate is 30000/1001. Recover NTSC rates, keep the rest."""
    for base in (24, 30, 48, 60, 120):
        if abs(fps - base * 1000 / 1001) < 0.01:
            return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def open_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Start decoding ``path``; a missing or unreadable file is a one-line ImpastoError."""
    import imageio_ffmpeg

    p = Path(path)
    if not p.is_file():
        raise ImpastoError(f"no such video file: {p}" if not p.exists() else f"{p} is not a file")
    gen = imageio_ffmpeg.read_frames(str(p))
    try:
        meta = next(gen)
    except Exception as e:
        gen.close()
        first = (str(e).strip().splitlines() or [type(e).__name__])[-1]
        raise ImpastoError(f"{p} is not a video ffmpeg can read ({first[:100]})") from None
    fps, size = meta.get("fps") or 0, meta.get("size")
    if not size or not fps or fps <= 0 or fps > 1000:
        gen.close()
        raise ImpastoError(f"{p} has no usable video stream")
    return VideoInfo(float(fps), tuple(size), bool(meta.get("audio_codec")), gen)


def decoded_frames(info: VideoInfo, path: Path) -> Iterator[np.ndarray]:
    """The frames of an opened video as (H, W, 3) uint8 arrays; a damaged stream is one line."""
    w, h = info.size
    try:
        for raw in info.frames:
            yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or ["decode error"])[-1]
        raise ImpastoError(f"{path}: damaged video ({first[:100]})") from None


def paint_frames(model, frames: list[np.ndarray], device: torch.device, precision: str) -> list[np.ndarray]:
    """Paint RGB uint8 frames of one size as one batch (what a chunk on a cluster node runs too)."""
    x = torch.from_numpy(np.stack(frames)).to(device).permute(0, 3, 1, 2).float() / 255
    y = paint(model.net, x, precision).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return list(y)


def check_output(dst: Path, smooth: float) -> None:
    """Fail before any work when ``dst`` could not be written or ``smooth`` is out of range."""
    if dst.suffix.lower() not in VIDEO_SUFFIXES:
        raise ImpastoError(f"cannot tell the video format of {dst}: use {', '.join(sorted(VIDEO_SUFFIXES))}")
    if dst.is_dir() or not (dst.parent if str(dst.parent) else Path(".")).is_dir():
        raise ImpastoError(f"cannot write {dst}: not a file in an existing folder")
    if not 0 <= smooth <= 1:
        raise ImpastoError(f"--smooth must be between 0 and 1, not {smooth}")


def stylize_video(model: ModelLike, src: str | os.PathLike[str], dst: str | os.PathLike[str],
                  smooth: float = 0.5, device: str = "auto", quiet: bool = True,
                  measure: bool = False, batch: int = 4, precision: str = "auto") -> VideoStats:
    """Paint every frame of ``src`` into ``dst``, keeping frame rate and audio; see module doc."""
    import imageio_ffmpeg

    src, dst = Path(src), Path(dst)
    check_output(dst, smooth)
    m = as_model(model, device)
    if m.choice and not quiet:
        print(f"impasto: {m.choice}", file=sys.stderr)
    dev = next(m.net.parameters()).device
    info = open_video(src)
    smoother, meter = Smoother(smooth), FlickerMeter() if measure else None
    fd, tmp = tempfile.mkstemp(dir=dst.parent if str(dst.parent) else ".", prefix="." + dst.stem,
                               suffix=dst.suffix)
    os.close(fd)
    writer = imageio_ffmpeg.write_frames(
        tmp, info.size, fps=exact_fps(info.fps), quality=8, macro_block_size=2,
        audio_path=str(src) if info.audio else None, audio_codec="aac" if info.audio else None,
        ffmpeg_log_level="error",
    )
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(unit="frame", file=sys.stderr, dynamic_ncols=True)
    n = 0
    try:
        writer.send(None)
        pending: list[np.ndarray] = []

        def flush() -> None:
            nonlocal n
            if not pending:
                return
            for fin, fout in zip(pending, paint_frames(m, pending, dev, precision)):
                fout = smoother(fin, fout)
                if meter is not None:
                    meter.add(fin, fout)
                writer.send(np.ascontiguousarray(fout))
                n += 1
                if bar is not None:
                    bar.update(1)
            pending.clear()

        for frame in decoded_frames(info, src):
            pending.append(frame)
            if len(pending) == batch:
                flush()
        flush()
        if n == 0:
            raise ImpastoError(f"{src} has no frames")
        writer.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except (BrokenPipeError, OSError) as e:
        raise ImpastoError(f"cannot write {dst}: ffmpeg failed ({e})") from None
    finally:
        if bar is not None:
            bar.close()
        info.frames.close()
        writer.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return VideoStats(n, info.fps, meter.value if meter is not None else None)
