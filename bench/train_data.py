"""The photos and paintings the GPU call's training phases read, packed to travel and unpacked there.

The device tool carries 64 MiB in all, the checkout included, and shared/ stays behind. The 300
BSDS500 photos (train + val) and the WikiArt paintings do not fit as they are (about 22 and 40
MiB), so they travel as two tar files of WebP pictures (quality 80 for the photos, 70 for the
paintings, which move the features' means and spreads far less than training noise does), and
only as many training paintings as the space left allows, taken evenly from the movements. Each
member keeps the file's original path, extension included, because the arbitrary-style
training holds out one image in ten by a hash of that path: the GPU run then trains on exactly
the paintings and photos a CPU run would, and its held-out images are never carried at all.
Pillow recognises a WebP picture by its content, whatever the name says.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from PIL import Image

from .paths import SHARED
PHOTO_QUALITY, PAINTING_QUALITY = 80, 70
TARS = {"bsds500": ("train", "val"), "wikiart": ("train",)}


def _webp(path: Path, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, "WEBP", quality=quality, method=6)
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _interleaved(files: list[Path]) -> list[Path]:
    """One file of each movement in turn, so that any first N cover the movements evenly."""
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(f.parent.name, []).append(f)
    queues = [sorted(g) for _, g in sorted(groups.items())]
    out: list[Path] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def pack(carry: Path, budget: int, datasets: Path | None = None) -> dict:
    """Write ``carry``/data/bsds500.tar (every photo) and wikiart.tar (training paintings until
    the two files reach ``budget`` bytes). Returns what went in."""
    from .impasto_api import held_out  # the split the decoder's training uses

    datasets = datasets or SHARED / "datasets"
    dest = carry / "data"
    dest.mkdir(parents=True, exist_ok=True)
    used, counts = 0, {}
    with tarfile.open(dest / "bsds500.tar", "w") as tar:
        root = datasets / "bsds500"
        files = [f for split in TARS["bsds500"] for f in sorted((root / split).glob("*.jpg"))]
        for f in files:
            data = _webp(f, PHOTO_QUALITY)
            _add(tar, f.relative_to(root).as_posix(), data)
            used += len(data) + 1024  # each member's header and padding
        counts["photos"] = len(files)
    root = datasets / "wikiart/train"
    paintings = [f for f in sorted(root.rglob("*.jpg")) if not held_out(f, root)]
    with tarfile.open(dest / "wikiart.tar", "w") as tar:
        n = 0
        for f in _interleaved(paintings):
            data = _webp(f, PAINTING_QUALITY)
            if used + len(data) + 1024 > budget:
                break
            _add(tar, "train/" + f.relative_to(root).as_posix(), data)
            used += len(data) + 1024
            n += 1
        counts.update(paintings=n, paintings_available=len(paintings))
    counts["bytes"] = sum((dest / f"{name}.tar").stat().st_size for name in TARS)
    return counts


def unpack(carry: Path, dest: Path) -> Path:
    """The datasets folder to train from: ``carry``'s tars unpacked under ``dest`` when they were
    carried, else shared/datasets (a run on the machine that holds them)."""
    tars = [carry / "data" / f"{name}.tar" for name in TARS]
    if not all(t.is_file() for t in tars):
        return SHARED / "datasets"
    for name, t in zip(TARS, tars):
        if not (dest / name).is_dir():
            with tarfile.open(t) as tar:
                tar.extractall(dest / name, filter="data")
    return dest


def photo_folders(datasets: Path) -> list[Path]:
    return [datasets / "bsds500" / split for split in TARS["bsds500"]]


def painting_folders(datasets: Path) -> list[Path]:
    return [datasets / "wikiart/train"]


def sample(datasets: Path, dest: Path, count: int) -> Path:
    """A datasets folder of links to the first ``count`` images of each folder, names kept: what
    a rehearsal trains on, so that decoding the data does not take longer than its steps."""
    for folder in [*photo_folders(datasets), *painting_folders(datasets)]:
        rel = folder.relative_to(datasets)
        for f in sorted(p for p in folder.rglob("*") if p.is_file())[:count]:
            link = dest / rel / f.relative_to(folder)
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(f.resolve())
    return dest
