"""The feed-forward models that come with impasto, and which file a name paints with.

One rule for every shell (the painter, batch planning and its resume key, the web's instant
styles): ``--model NAME`` is a shipped style in the size that fits the device, ``NAME:small`` or
``NAME:large`` asks for one, and ``any`` is the arbitrary-style network, which takes the
painting from the request. A path to a file is that file.

Pure Python, so a batch of ten thousand jobs is planned, and ``impasto --help`` answered,
without loading torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ImpastoError

DATA = Path(__file__).resolve().parent / "data"
FAST_DIR = DATA / "fast"
SUFFIX = ".pt"
SIZES = ("small", "large")  # small: data/fast/NAME.pt; large: data/fast/large/NAME.pt
# The large networks paint 512x512 in 0.29 s (bf16) / 0.42 s (fp32) on the 2-core AMD EPYC CPU,
# inside the CPU target of half a second (docs/fast.md), so every device gets them.
LARGE_ON_CPU = True
ANY = "any"  # the arbitrary-style network (impasto.arbitrary)
ANY_DECODER = DATA / "arbitrary" / "decoder.pt"


@dataclass(frozen=True)
class ModelFile:
    """What a ``--model`` value paints with: the file, and a note of the size taken and why
    ("" for a path; ``{}`` in it is where the loader puts the network's shape)."""

    path: Path
    note: str = ""
    arbitrary: bool = False


def shipped_names() -> list[str]:
    """The shipped styles, sorted (each has at least one size)."""
    names = {p.stem for p in FAST_DIR.glob("*" + SUFFIX)} | {p.stem for p in (FAST_DIR / "large").glob("*" + SUFFIX)}
    return sorted(names)


def shipped_sizes(name: str) -> dict[str, Path]:
    """The sizes a shipped style comes in, and their files."""
    files = {"small": FAST_DIR / f"{name}{SUFFIX}", "large": FAST_DIR / "large" / f"{name}{SUFFIX}"}
    return {size: p for size, p in files.items() if p.is_file()}


def pick_size(device_type: str) -> str:
    """The size of network that fits a device type ('cpu', 'cuda', 'mps', or 'auto' when the
    device is chosen where the job runs): large on a GPU, and on a CPU while LARGE_ON_CPU. For
    'auto' that is exact while LARGE_ON_CPU holds (every device paints with the large file);
    otherwise 'auto' is taken to be a GPU, and a CPU batch should say --device cpu."""
    return "large" if device_type != "cpu" or LARGE_ON_CPU else "small"


def model_file(name: str | os.PathLike[str], device_kind: str = "cpu") -> ModelFile:
    """The file ``--model name`` paints with on a device of ``device_kind`` (see the module
    docstring), or an ImpastoError naming what exists. ``device_kind``: as :func:`device_type` says."""
    p = Path(name)
    if str(name) == ANY:
        return ModelFile(ANY_DECODER, "--model any: the arbitrary-style network", True)
    if p.is_file():
        return ModelFile(p)
    style, _, asked = str(name).partition(":")
    sizes = shipped_sizes(style)
    if sizes and (not asked or asked in SIZES):
        want = asked or pick_size(device_kind)
        if want in sizes:
            why = "asked for" if asked else f"the size for {device_kind}"
        elif asked:
            raise ImpastoError(f"--model {name}: {style} is shipped in {' and '.join(sizes)} only")
        else:
            want = next(iter(sizes))
            why = "the only size shipped"
        return ModelFile(sizes[want], f"--model {style}: the {want} network{{}}, {why}")
    if p.exists():
        raise ImpastoError(f"{p} is a folder, not a model file")
    known = ", ".join(shipped_names()) or "none installed"
    raise ImpastoError(f"no model file {p} and no shipped style of that name (shipped: {known}; "
                       f"add :small or :large for a size; {ANY} paints with any painting)")


def device_type(device: str) -> str:
    """The type of a device setting without asking torch: 'cpu', 'cuda', 'mps' or 'auto'."""
    d = str(device).strip().lower()
    if d.lstrip("-").isdigit():
        return "cpu" if int(d) < 0 else "cuda"
    return d.split(":")[0]
