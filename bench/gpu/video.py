"""The ``video`` part: ``impasto video`` at the plan's height, with and without flicker smoothing,
and the painting alone.

The network is Johnson's size with random weights: a feed-forward network's speed depends on its
size, not on what it learnt, and the call needs no trained model to travel.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import torch

from .. import paths
from ..impasto_api import NetSize, TransformerNet, load_model, model_record, paint, save_model
from ..timing import median_call, run_timed
from .session import Session


def part_video(s: Session) -> dict:
    try:
        import imageio_ffmpeg
    except ImportError:
        return {"skipped": "imageio-ffmpeg is not installed (carry .gpu-carry/wheels/bench)"}
    plan = s.plan
    clip = paths.clip()
    if not clip.is_file():
        return {"skipped": "no car-detection.mp4 in .gpu-carry/videos or shared/videos"}
    h = plan.video_height
    w = h * 16 // 9
    src = s.work / f"car-{h}p.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    run_timed([ffmpeg, "-y", "-loglevel", "error", "-i", str(clip), "-vf", f"scale={w}:{h}", "-frames:v",
               str(plan.video_frames), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(src)])
    model = s.work / "johnson-size.pt"
    torch.manual_seed(0)
    save_model(model, model_record(TransformerNet(NetSize(32, 5)), "bench.jpg", {}))
    res: dict = {"size": [w, h], "frames": plan.video_frames, "network": "width 32, 5 blocks (Johnson's size)"}
    for smooth in (0.0, 0.5):
        dst = s.work / f"out-{smooth}.mp4"
        wall, _ = run_timed([sys.executable, "-m", "impasto", "video", str(src), "--model", str(model), "-o", str(dst),
                             "--smooth", str(smooth), "--device", s.device, "--quiet"])
        res[f"smooth {smooth}"] = {"wall": wall, "fps": plan.video_frames / wall}
        s.log(f"video {w}x{h} smooth {smooth}: {plan.video_frames} frames in {wall:.1f} s")
    net = load_model(model, s.device).net
    frames = torch.rand(4, 3, h, w, device=s.device)
    res["paint_only_fps_batch4"] = 4 / median_call(lambda: paint(net, frames), 5, s.sync)
    with contextlib.suppress(Exception):  # one painted frame to look at
        save_frame(s.work / "out-0.5.mp4", s.out / "video.jpg")
    return res


def save_frame(video: Path, out: Path) -> None:
    """The first frame of ``video`` as a JPEG."""
    import imageio_ffmpeg
    import numpy as np
    from PIL import Image

    gen = imageio_ffmpeg.read_frames(str(video))
    meta = next(gen)
    arr = np.frombuffer(next(gen), np.uint8).reshape(meta["size"][1], meta["size"][0], 3)
    gen.close()
    Image.fromarray(arr).save(out, quality=85)
