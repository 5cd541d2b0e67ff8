"""The one pair of input files per size that every tool is given.

Each tool resizes its inputs its own way (pastiche bilinear, neural-style-pt through
torchvision, impasto Lanczos), and different targets are different problems: the old benchmark
gave pastiche the JPEGs and scored it against impasto's Lanczos targets, which alone put an
image matching pastiche's own targets at ~85 % of pastiche's score. So the photo and the
painting are resized once, here, with impasto's ``fit_long_edge`` (Lanczos), to PNGs whose long
edge is the size asked for (the style at the same long edge as the content: style scale 1, every
tool's default), and every tool gets these files at their native size so that none resamples.
The files' SHA-256 go into each result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .impasto_api import fit_long_edge, load_image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "images"
CONTENT = SHARED / "content" / "tubingen.jpg"
STYLE = SHARED / "style" / "starry_night.jpg"
if not CONTENT.exists():  # a checkout without ../shared: the README's copies
    CONTENT, STYLE = ROOT / "examples" / "tubingen.jpg", ROOT / "examples" / "starry_night.jpg"
WORK = Path(__file__).resolve().parent / "work"  # git-ignored: inputs, outputs, models
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


def prepare(size: int, content: Path = CONTENT, style: Path = STYLE) -> Inputs:
    """Write (once) and return the content and style PNGs at long edge ``size`` (the default pair
    in inputs/SIZE, any other in inputs/SIZE-PHOTO-PAINTING)."""
    pair = (content, style) == (CONTENT, STYLE)
    folder = WORK / "inputs" / (str(size) if pair else f"{size}-{content.stem}-{style.stem}")
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
