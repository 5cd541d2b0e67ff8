"""Write-then-rename: a file is either the whole new content or what was there before.

Every file impasto writes for a user (images, logs, plots, models, caches) goes through here, so
Ctrl-C, a full disk or a crash never leaves a half-written output; and every output path is
checked here before any slow work starts. Pure Python: the CLI checks paths without torch.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import ImpastoError
from .formats import OUTPUT_FORMATS

FORMATS = OUTPUT_FORMATS


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + p.name, suffix=".tmp")
    except OSError as e:
        raise ImpastoError(f"cannot write {p}: {e.strerror or e}") from None
    os.close(fd)
    try:
        yield Path(tmp)  # errors of the writer's own propagate unchanged
        try:
            os.chmod(tmp, mode)
            os.replace(tmp, p)
        except OSError as e:
            raise ImpastoError(f"cannot write {p}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def output_format(path: str | os.PathLike[str]) -> str:
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise ImpastoError(f"cannot tell the format of {path}: use .png, .jpg or .webp")
    return FORMATS[ext]


def check_writable(path: str | os.PathLike[str]) -> None:
    """Fail before any work is done when ``path`` could not be written later."""
    output_format(path)
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ImpastoError(f"cannot write {p}: folder {parent} does not exist")
    if p.is_dir():
        raise ImpastoError(f"cannot write {p}: it is a folder")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ImpastoError(f"cannot write {p}: permission denied")
