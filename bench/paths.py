"""Where the bench reads its photos, paintings and clip, and where it writes.

A GPU machine gets no ``../shared``: what a device call needs travels in ``.gpu-carry/`` (filled
by ``python -m bench gpu-carry`` with byte copies of shared files), so every source is looked
up there first, then in ``../shared``, then in the checkout's ``examples/``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARRY = ROOT / ".gpu-carry"
SHARED = ROOT.parent / "shared"
EXAMPLES = ROOT / "examples"
WORK = ROOT / "bench" / "work"  # git-ignored: inputs, outputs, models
RESULTS = ROOT / "bench" / "results"


def image(kind: str, name: str) -> Path:
    """A photo (``kind`` 'content') or painting ('style'): carried, shared, else the README's copy."""
    for base in (CARRY / "images", SHARED / "images"):
        if (base / kind / name).is_file():
            return base / kind / name
    return EXAMPLES / name


def clip(name: str = "car-detection.mp4") -> Path:
    """A video: carried, else shared (the path is returned even when neither has it)."""
    carried = CARRY / "videos" / name
    return carried if carried.is_file() else SHARED / "videos" / name
