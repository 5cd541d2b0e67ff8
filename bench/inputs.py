"""The one pair of input files per size that every tool is given, on the CPU and on the GPU.

Each tool resizes its inputs its own way (pastiche bilinear, neural-style-pt through
torchvision, impasto Lanczos), and different targets are different problems: a tool given the
JPEGs and scored against another's resized targets loses about 15 % of its score to the resize
alone. So the photo and the painting are resized once, here, with impasto's ``fit_long_edge``
(Lanczos), to PNGs whose long edge is the size asked for (the style at the same long edge as the
content: style scale 1, every tool's default), and every tool gets these files at their native
size so that none resamples. The files' SHA-256 go into each result.

    python -m bench inputs [--sizes 128,256,512]    # also writes and checks neural-style-pt's weights
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from . import ns_weights, paths
from .impasto_api import fit_long_edge, load_image

CONTENT = paths.image("content", "tubingen.jpg")
STYLE = paths.image("style", "starry_night.jpg")
RESIZE = "impasto.images.fit_long_edge (PIL Lanczos), PNG"


@dataclass(frozen=True)
class Inputs:
    size: int  # long edge of both files, in pixels
    content: Path
    style: Path
    sources: tuple[str, str] = (CONTENT.name, STYLE.name)  # the photo and painting they were made from

    def record(self) -> dict:
        return {"long_edge": self.size, "resize": RESIZE,
                "content": {"source": self.sources[0], "file": str(self.content), "sha256": sha256(self.content)},
                "style": {"source": self.sources[1], "file": str(self.style), "sha256": sha256(self.style)}}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resized_inputs(size: int, content: Path = CONTENT, style: Path = STYLE, work: Path = paths.WORK) -> Inputs:
    """Write (once) and return the content and style PNGs at long edge ``size`` (the default pair
    in WORK/inputs/SIZE, any other in WORK/inputs/SIZE-PHOTO-PAINTING)."""
    pair = (content, style) == (CONTENT, STYLE)
    folder = work / "inputs" / (str(size) if pair else f"{size}-{content.stem}-{style.stem}")
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, src in (("content", content), ("style", style)):
        out = folder / f"{name}.png"
        if not out.is_file():
            tmp = out.with_suffix(".tmp.png")
            fit_long_edge(load_image(src), size).save(tmp, "PNG")
            tmp.replace(out)
        files.append(out)
    return Inputs(size, *files, (content.name, style.name))


def cmd_inputs(a: argparse.Namespace) -> None:
    for size in a.sizes:
        print(json.dumps(resized_inputs(size).record(), indent=1))
    ns_weights.check(ns_weights.convert())


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("inputs", help="write the shared input files (and neural-style-pt's weights file)")
    s.add_argument("--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[128, 256, 512])
    s.set_defaults(func=cmd_inputs)
