"""What the GPU command measures at which size: the full call and its tiny CPU rehearsal."""

from __future__ import annotations

from dataclasses import dataclass, field

PARTS = ("floor", "speed", "tests", "fast", "sizes", "video", "big")  # the headline figures first
WARM_STEPS = 3  # steps before a run's memory is measured (the first ones autotune cuDNN)


@dataclass(frozen=True)
class Plan:
    """Sizes, step counts and time estimates (seconds on an H100) of one mode."""

    size: int = 512
    steps: int = 500
    floor_skip: int = 60  # steps before timing: the graphed loop records its last L-BFGS graph at step 53
    floor_timed: int = 20
    fast_side: int = 1024
    fast_repeat: int = 50
    sizes: tuple[int, ...] = (512, 1024, 2048)
    big_side: int = 4096
    big_steps: int = 5  # WARM_STEPS, then the steady state
    probe_sides: tuple[int, int] = (6144, 8192)
    video_height: int = 1080
    video_frames: int = 100
    equal_time_cap: int = 20000
    estimate: dict = field(default_factory=lambda: {"tests": 60, "floor": 30, "speed": 150, "fast": 15,
                                                     "video": 45, "sizes": 70, "big": 60})


FULL = Plan()
TINY = Plan(size=64, steps=8, floor_skip=6, floor_timed=3, fast_side=64, fast_repeat=3, sizes=(96, 128),
            big_side=160, big_steps=5, probe_sides=(96, 128), video_height=72, video_frames=6, equal_time_cap=40,
            estimate={k: 0 for k in PARTS})
