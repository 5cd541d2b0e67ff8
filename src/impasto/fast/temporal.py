"""Temporal consistency of a painted video: a flicker measure and a flicker reducer.

Both rest on optical flow computed on the *input* frames (OpenCV's DIS flow, fast and robust):
the painting of frame t should look like the painting of frame t-1 moved along that flow.

* :func:`flicker` is the mean absolute difference, in 0-255 levels, between each output frame
  and the previous output warped onto it, counted only where the flow is trustworthy (the
  input frames themselves agree after warping), so occlusions and scene cuts do not count.
* :class:`Smoother` blends each new painting with the warped previous *smoothed* painting,
  again only where the flow is trustworthy. Feeding back the smoothed frame makes the blend
  an exponential average along motion paths, which is what removes the frame-to-frame jitter.
"""

from __future__ import annotations

import numpy as np

TRUST_LEVELS = 12.0  # input-frame warp error (0-255) above which a pixel is treated as occluded


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


class Flow:
    """Backward flow (frame t -> t-1) between consecutive input frames, with a trust mask."""

    def __init__(self) -> None:
        import cv2

        self.cv2 = cv2
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def between(self, prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(map_x, map_y, trust) that warp an image aligned with ``prev`` onto ``cur``."""
        flow = self.dis.calc(_gray(cur), _gray(prev), None)
        h, w = flow.shape[:2]
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        warped = self.warp(prev, mx, my)
        err = np.abs(warped.astype(np.float32) - cur.astype(np.float32)).mean(axis=2)
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        trust = ((err < TRUST_LEVELS) & inside).astype(np.float32)
        return mx, my, trust

    def warp(self, img: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
        return self.cv2.remap(img, mx, my, self.cv2.INTER_LINEAR, borderMode=self.cv2.BORDER_REPLICATE)


class FlickerMeter:
    """Accumulates the flicker of an output sequence given its input frames (see module doc)."""

    def __init__(self) -> None:
        self.flow = Flow()
        self.prev_in: np.ndarray | None = None
        self.prev_out: np.ndarray | None = None
        self.total, self.count = 0.0, 0

    def add(self, frame_in: np.ndarray, frame_out: np.ndarray) -> None:
        if self.prev_in is not None and self.prev_in.shape == frame_in.shape:
            mx, my, trust = self.flow.between(self.prev_in, frame_in)
            warped = self.flow.warp(self.prev_out, mx, my).astype(np.float32)
            diff = np.abs(frame_out.astype(np.float32) - warped).mean(axis=2)
            if trust.sum() > 0:
                self.total += float((diff * trust).sum() / trust.sum())
                self.count += 1
        self.prev_in, self.prev_out = frame_in, frame_out

    @property
    def value(self) -> float:
        """Mean flicker over frame pairs in 0-255 levels (0 for fewer than two frames)."""
        return self.total / self.count if self.count else 0.0


def flicker(frames_in: list[np.ndarray], frames_out: list[np.ndarray]) -> float:
    """Mean flow-compensated difference between consecutive output frames (0-255 levels)."""
    meter = FlickerMeter()
    for a, b in zip(frames_in, frames_out):
        meter.add(a, b)
    return meter.value


class Smoother:
    """Flow-guided blending of the previous output into the current one (``strength`` 0-1)."""

    def __init__(self, strength: float) -> None:
        self.strength = float(strength)
        self.flow = Flow() if self.strength > 0 else None
        self.prev_in: np.ndarray | None = None
        self.prev_out: np.ndarray | None = None

    def __call__(self, frame_in: np.ndarray, frame_out: np.ndarray) -> np.ndarray:
        """The smoothed output for this frame (uint8 RGB, the shape of ``frame_out``)."""
        if self.flow is None:
            return frame_out
        out = frame_out
        if self.prev_in is not None and self.prev_in.shape == frame_in.shape:
            mx, my, trust = self.flow.between(self.prev_in, frame_in)
            warped = self.flow.warp(self.prev_out, mx, my).astype(np.float32)
            a = (self.strength * trust)[..., None]
            out = np.clip(a * warped + (1 - a) * frame_out.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
        self.prev_in, self.prev_out = frame_in, out
        return out
