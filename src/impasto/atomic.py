"""Write-then-rename: a file is either the whole new content or what was there before.

Every file impasto writes for a user (images, logs, plots, models, caches) goes through here, so
Ctrl-C, a full disk or a crash never leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ImpastoError


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
