"""Flicker of ``impasto video``, measured independently of the smoother that reduces it.

impasto's smoother and its own ``--flicker`` figure use the same DIS flow and the same trust
mask, so smoothing with strength s lowers that figure by about (1 - s) by construction. Here
neither is used:

* ``static_change`` (no flow at all): the mean absolute change of the output between
  consecutive frames, in 0-255 levels, at the pixels where the *input* did not change (every
  channel within ``threshold`` levels). A painting of a still scene should not move there.
* ``warp_error``: the mean absolute difference between each output frame and the previous one
  warped onto it by Farneback flow of the input frames (not DIS), counted where the flow passes
  a forward-backward consistency check (|b(x) + f(x + b(x))|^2 <= 0.01 (|b|^2 + |f|^2) + 0.5,
  Sundaram et al. 2010), so occlusions do not count.

The input video itself is scored the same way, as the floor: its own warp error is the flow's
and the codec's error, and its static change is below the threshold by definition. Output
frames are read back from the files ``impasto video`` wrote (H.264, as a user gets them).

    python -m bench flicker [--video CLIP] [--model candy] [--smooth 0,default]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import record
from .paths import WORK, clip


def frames(path: Path) -> Iterator[np.ndarray]:
    """Decoded RGB frames (H, W, 3) uint8 of a video file, through imageio-ffmpeg."""
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    for raw in gen:
        yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)


class PairFlow:
    """Farneback flow both ways between consecutive input frames, and the consistent pixels."""

    def __init__(self, prev: np.ndarray, cur: np.ndarray) -> None:
        import cv2

        self.cv2 = cv2
        g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (prev, cur))
        args = (None, 0.5, 4, 15, 3, 5, 1.2, 0)
        back = cv2.calcOpticalFlowFarneback(g1, g0, *args)  # for each pixel of cur: where it was in prev
        fwd = cv2.calcOpticalFlowFarneback(g0, g1, *args)
        h, w = g1.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        self.mx, self.my = gx + back[..., 0], gy + back[..., 1]
        fwd_there = cv2.remap(fwd, self.mx, self.my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        gap = ((back + fwd_there) ** 2).sum(-1)
        scale = (back**2).sum(-1) + (fwd_there**2).sum(-1)
        inside = (self.mx >= 0) & (self.mx <= w - 1) & (self.my >= 0) & (self.my <= h - 1)
        self.valid = (gap <= 0.01 * scale + 0.5) & inside

    def warp(self, img: np.ndarray) -> np.ndarray:
        """``img`` (aligned with the previous frame) moved onto the current one."""
        cv2 = self.cv2
        return cv2.remap(img, self.mx, self.my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class Meter:
    """Sums of both measures over frame pairs, pixel-weighted."""

    def __init__(self) -> None:
        self.static_sum = self.static_n = self.warp_sum = self.warp_n = 0.0

    def add(self, prev: np.ndarray, cur: np.ndarray, static: np.ndarray, flow: PairFlow) -> None:
        change = np.abs(cur.astype(np.float32) - prev.astype(np.float32)).mean(-1)
        self.static_sum += float(change[static].sum())
        self.static_n += int(static.sum())
        err = np.abs(cur.astype(np.float32) - flow.warp(prev).astype(np.float32)).mean(-1)
        self.warp_sum += float(err[flow.valid].sum())
        self.warp_n += int(flow.valid.sum())

    def result(self) -> dict[str, float]:
        return {"static_change": self.static_sum / max(self.static_n, 1),
                "warp_error": self.warp_sum / max(self.warp_n, 1)}


def measure(video: Path, outputs: dict[str, Path], threshold: float) -> dict:
    """Both measures for the input and each output, over every consecutive pair of frames."""
    names = ["input", *outputs]
    meters = {n: Meter() for n in names}
    streams = [frames(video), *(frames(p) for p in outputs.values())]
    prev = None
    pairs = static_px = valid_px = total_px = 0
    for cur in zip(*streams):
        if prev is not None:
            static = (np.abs(cur[0].astype(np.int16) - prev[0].astype(np.int16)) <= threshold).all(-1)
            flow = PairFlow(prev[0], cur[0])
            for n, a, b in zip(names, prev, cur):
                meters[n].add(a, b, static, flow)
            pairs += 1
            static_px += int(static.sum())
            valid_px += int(flow.valid.sum())
            total_px += static.size
        prev = cur
    return {"pairs": pairs, "static_fraction": static_px / max(total_px, 1),
            "consistent_fraction": valid_px / max(total_px, 1),
            "videos": {n: m.result() for n, m in meters.items()}}


def paint(video: Path, model: str, smooth: str) -> tuple[Path, float | None]:
    """``impasto video`` as a user runs it ('default': no --smooth flag); its own flicker figure too."""
    out = WORK / "flicker" / f"{model}-smooth-{smooth}.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "impasto", "video", str(video), "--model", model, "-o", str(out), "--flicker"]
    if smooth != "default":
        cmd += ["--smooth", smooth]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    own = re.search(r"flicker ([\d.]+)", r.stderr)
    return out, float(own.group(1)) if own else None


def cmd_flicker(a: argparse.Namespace) -> None:
    outputs, own = {}, {}
    for s in a.smooth.split(","):
        label = f"smooth {s}"
        outputs[label], own[label] = paint(a.video, a.model, s)
        print(f"  painted {label}", file=sys.stderr)
    res = measure(a.video, outputs, a.threshold)
    for label, v in own.items():
        res["videos"][label]["impasto_own_flicker"] = v
    path = record.save(f"flicker-{a.model}", {"video": str(a.video), "model": a.model, "threshold": a.threshold, **res})
    print(f"{a.video.name}, {res['pairs']} frame pairs, model {a.model}; {record.describe(record.machine())}")
    print(f"static pixels (input within {a.threshold:g} levels): {res['static_fraction']:.0%}; "
          f"flow-consistent pixels: {res['consistent_fraction']:.0%}\n")
    print("| video | change at static pixels | Farneback warp error | impasto's own flicker (DIS, its trust mask) |")
    print("|---|---|---|---|")
    for label, v in res["videos"].items():
        o = v.get("impasto_own_flicker")
        print(f"| {label} | {v['static_change']:.2f} | {v['warp_error']:.2f} | {'-' if o is None else f'{o:.2f}'} |")
    print(f"\n{path}")


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("flicker", help="video flicker, independent of the smoother")
    s.add_argument("--video", type=Path, default=clip())
    s.add_argument("--model", default="candy")
    s.add_argument("--smooth", default="0,default", help="comma-separated strengths; 'default' passes no --smooth")
    s.add_argument("--threshold", type=float, default=2.0, help="input change (0-255 levels) still counted as static")
    s.set_defaults(func=cmd_flicker)
