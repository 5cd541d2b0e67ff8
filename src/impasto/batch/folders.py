"""Where a batch writes: every output folder checked before any work, created only where the
user asked for it, and the leftovers of a killed run removed.

The rule for folders that do not exist yet: impasto creates them inside the folder the user
named for outputs (``-o OUTDIR``, itself created when its parent exists) or, without ``-o``,
inside the manifest's own folder (a relative ``output`` column such as ``out/a.png``). An
output anywhere else (an absolute path, or ``../`` out of those folders) must go to a folder
that exists: a mistyped path then fails at once instead of growing a tree somewhere.

A folder that exists is tried by creating (and removing) a hidden file in it, not by its mode
bits: as root every mode bit says yes, and only the write itself tells that ``/sys/kernel``
or a read-only mount takes no files.

A run killed with ``kill -9`` (or a lost machine) can leave the hidden temporary files of the
write-then-rename (``.NAME.XXXXXXXX.tmp``, beside a picture or in ``.impasto-batch/``); the
next run over the same outputs removes those of its own outputs and no other file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import ImpastoError
from .jobs import Job
from .records import SIDECAR_DIR

TEMP_SUFFIX = ".tmp"
RANDOM_CHARS = 8  # what tempfile.mkstemp puts between the prefix and the suffix


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _try_write(folder: Path, what: str) -> None:
    """A file can be created in ``folder`` (which exists), or a one-line ImpastoError saying ``what`` fails."""
    if not folder.is_dir():
        raise ImpastoError(f"{what}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".impasto-probe-")
    except OSError as e:
        raise ImpastoError(f"{what}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(probe)


def check_folders(outputs: Iterable[str | os.PathLike[str]], roots: Sequence[str | os.PathLike[str]],
                  create: bool) -> list[Path]:
    """Check that every output's folder can be written, before any work; ``roots``: the folders
    inside which missing folders may be made (see the module docstring). With ``create``, make
    them now; without (a dry run), only check that they could be. Returns the folders to make."""
    rootset = [Path(r).resolve() for r in roots]
    folders = sorted({Path(o).resolve().parent for o in outputs})
    missing = []
    for folder in folders:
        if folder.is_dir():
            _try_write(folder, f"cannot write to {folder}")
            continue
        if folder.exists():
            raise ImpastoError(f"cannot write to {folder}: it is a file, not a folder")
        if not _inside(folder, rootset):
            raise ImpastoError(f"folder {folder} does not exist (impasto makes folders only inside -o OUTDIR "
                               "or the manifest's folder; create it, or give outputs inside one of those)")
        missing.append(folder)
    for top, folder in sorted({_existing_ancestor(f): f for f in missing}.items()):
        _try_write(top, f"cannot create the folder {folder}")
    if create:
        for folder in missing:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ImpastoError(f"cannot create the folder {folder}: {e.strerror or e}") from None
    return missing


def _leftover_of(name: str, wanted: set[str]) -> bool:
    """``name`` is a temporary file that atomic_path made for one of ``wanted``."""
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return False
    stem = name[1:-len(TEMP_SUFFIX)]
    return len(stem) > RANDOM_CHARS and stem[:-RANDOM_CHARS] in wanted


def remove_leftovers(jobs: Sequence[Job]) -> int:
    """Remove the temporary files a killed run left for these jobs' pictures and records;
    returns how many. One directory listing per output folder, however many jobs."""
    by_folder: dict[Path, set[str]] = {}
    for job in jobs:
        out = Path(job.output)
        by_folder.setdefault(out.parent, set()).add(out.name)
        by_folder.setdefault(out.parent / SIDECAR_DIR, set()).add(out.name + ".json")
    removed = 0
    for folder, names in by_folder.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # not made yet: nothing left over
        for entry in entries:
            if _leftover_of(entry.name, names) and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                    removed += 1
                except OSError:
                    pass  # the write that replaces it reports a folder that takes no changes
    return removed
