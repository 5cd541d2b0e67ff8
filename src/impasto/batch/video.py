"""A long video painted on a Ray cluster: overlapping chunks of frames, one Ray task each.

The machine running ``impasto video --ray`` decodes the video once and sends chunks of frames
to the cluster; each task paints its chunk with the feed-forward model, smooths it along the
optical flow (``fast.temporal.Smoother``) and returns it encoded as an H.264 segment; the
segments are joined in order without re-encoding, the source's audio is added, and the file is
renamed into place. Frame order, count and rate are the source's.

**Seamless borders.** The smoother blends each frame with the flow-warped previous *smoothed*
frame, an exponential average along motion paths; a chunk that started cold would show a jump
at its first frame. So each task first paints the ``overlap`` frames before its chunk, only to
warm the smoother, and drops them. Their influence decays as ``smooth ** n``: after
:func:`overlap_for` frames the cold start is below half a grey level, so a chunked video and a
sequential one differ by less than rounding (``tests/test_batch_ray.py`` checks it).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImpastoError

MAX_OVERLAP = 120  # smooth near 1 never forgets; past this many frames the chunks are mostly warm-up
DEFAULT_CHUNK = 240


def overlap_for(smooth: float) -> int:
    """Warm-up frames after which a cold smoother differs from a warm one by < 0.5 level."""
    if smooth <= 0:
        return 0
    if smooth >= 1:
        return MAX_OVERLAP
    return min(MAX_OVERLAP, math.ceil(math.log(0.5 / 255) / math.log(smooth)))


def paint_run(model: str, device: str, frames: np.ndarray, warm: int, smooth: float, precision: str,
              batch: int = 4) -> list[np.ndarray]:
    """Paint and smooth ``frames`` in order; the painted frames after the first ``warm``."""
    from ..fast.temporal import Smoother
    from ..fast.video import paint_frames
    from .worker import painter

    m = painter().model(model, device)
    dev = next(m.net.parameters()).device
    smoother, out = Smoother(smooth), []
    for i in range(0, len(frames), batch):
        chunk = list(frames[i:i + batch])
        for k, (fin, fout) in enumerate(zip(chunk, paint_frames(m, chunk, dev, precision))):
            smoothed = smoother(fin, fout)
            if i + k >= warm:
                out.append(np.ascontiguousarray(smoothed))
    return out


def encode(frames: list[np.ndarray], fps: Fraction, path: str | os.PathLike[str]) -> None:
    """A raw H.264 stream (``.h264``: no container, no timestamps), the quality ``fast.video``
    uses. Raw streams join by plain concatenation, and the container made around the joined
    stream numbers the frames at the source's rate: so the frame count and rate are exact,
    which joining containers (ffmpeg's concat demuxer) does not promise."""
    import imageio_ffmpeg

    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, quality=8, macro_block_size=2,
                                         ffmpeg_log_level="error", output_params=["-f", "h264", "-bf", "0"])
    writer.send(None)
    for f in frames:
        writer.send(f)
    writer.close()


def paint_chunk(model: str, device: str, frames: np.ndarray, warm: int, smooth: float, fps: Fraction,
                precision: str, threads: int | None) -> bytes:
    """One Ray task: a chunk (after ``warm`` warm-up frames) painted, smoothed and encoded."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    painted = paint_run(model, device, frames, warm, smooth, precision)
    with tempfile.TemporaryDirectory() as d:
        seg = Path(d) / "seg.h264"
        encode(painted, fps, seg)
        return seg.read_bytes()


def join(segments: list[Path], fps: Fraction, src: Path, audio: bool, out: Path) -> None:
    """The segments' streams end to end in ``out``'s container at ``fps``, with the source's
    audio (as AAC); the video is copied, not encoded again."""
    import imageio_ffmpeg

    stream = out.with_suffix(".h264")
    with open(stream, "wb") as f:
        for seg in segments:
            f.write(seg.read_bytes())
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-framerate", str(fps), "-i", str(stream)]
    if audio:
        cmd += ["-i", str(src), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac"]
    cmd += ["-c:v", "copy", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ImpastoError(f"cannot join the painted chunks: ffmpeg says {last[:150]}")


def stylize_video_ray(model: str, src: str | os.PathLike[str], dst: str | os.PathLike[str], address: str = "auto",
                      smooth: float = 0.5, device: str = "auto", precision: str = "auto",
                      chunk: int = DEFAULT_CHUNK, overlap: int | None = None, threads: int | None = None,
                      retries: int = 3, quiet: bool = True) -> Any:
    """``impasto video --ray``: see the module docstring. Returns ``fast.video.VideoStats``."""
    from ..fast.video import VideoStats, check_output, decoded_frames, exact_fps, open_video
    from .manifest import model_ref
    from .rayexec import RayExecutor, first_line

    src, dst = Path(src), Path(dst)
    check_output(dst, smooth)
    if chunk < 1:
        raise ImpastoError(f"--chunk-frames must be at least 1, not {chunk}")
    warm = overlap_for(smooth) if overlap is None else overlap
    if warm < 0:
        raise ImpastoError(f"--overlap must be at least 0, not {warm}")
    model = model_ref(Path.cwd(), str(model))
    info = open_video(src)
    ex = RayExecutor(address, threads, retries)
    ray, fps = ex.ray, exact_fps(info.fps)
    dev, resources = ex.where(device)
    gpu = "num_gpus" in resources
    remote = ray.remote(max_calls=0, max_retries=retries)(paint_chunk).options(**resources)
    work = Path(tempfile.mkdtemp(dir=dst.parent if str(dst.parent) else ".", prefix=f".{dst.stem}.chunks"))
    pending: deque = deque()
    segments: list[Path] = []
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(unit="frame", file=sys.stderr, dynamic_ncols=True)
    n = 0

    def collect() -> None:
        ref, count = pending.popleft()
        seg = work / f"{len(segments):06d}.h264"
        seg.write_bytes(ray.get(ref))
        segments.append(seg)
        if bar is not None:
            bar.update(count)

    try:
        tail: list[np.ndarray] = []
        part: list[np.ndarray] = []

        def submit() -> None:
            pending.append((remote.remote(model, dev, np.stack(tail + part), len(tail), smooth, fps, precision,
                                          None if gpu else ex.threads), len(part)))

        for frame in decoded_frames(info, src):
            part.append(frame)
            n += 1
            if len(part) == chunk:
                submit()
                tail, part = ((tail + part)[-warm:] if warm else []), []  # the frames just before the next chunk
                while len(pending) > 2 * ex.slots:  # bounded: a film is never all in memory
                    collect()
        if part:
            submit()
        if n == 0:
            raise ImpastoError(f"{src} has no frames")
        while pending:
            collect()
        out = work / f"joined{dst.suffix}"
        join(segments, fps, src, info.audio, out)
        os.chmod(out, 0o644)
        os.replace(out, dst)
    except ray.exceptions.RayError as e:
        raise ImpastoError(f"a chunk failed on the cluster: {first_line(e)}") from None
    finally:
        for ref, _ in pending:
            ray.cancel(ref, force=True)
        if bar is not None:
            bar.close()
        info.frames.close()
        shutil.rmtree(work, ignore_errors=True)
    return VideoStats(n, info.fps)
