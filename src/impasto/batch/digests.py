"""Input hashes remembered between runs, so a rerun of ten thousand jobs does not read every
photo again to find that nothing changed.

A file's SHA-256 is reused while its size and modification time (in nanoseconds) are those it
had when it was read; any write changes the time, so a changed photo is read again. (A file
rewritten with the same size and its old time put back, as ``touch -d`` can, is not noticed:
remove the cache file to make a rerun read everything.) The cache is one JSON file in the
batch's ``.impasto-batch/`` folder, rewritten whole (atomically) after each plan with the
files that plan used, so it never outgrows one batch's inputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..images.atomic import atomic_path
from .jobs import Digests

CACHE_VERSION = 1


class CachedDigests(Digests):
    """Digests that trust ``cache`` for files whose size and modification time have not changed."""

    def __init__(self, cache: str | os.PathLike[str]) -> None:
        super().__init__()
        self.cache = Path(cache)
        self.known: dict[str, list] = {}
        self.used: dict[str, list] = {}
        self.read = 0  # files actually read this time
        try:
            data = json.loads(self.cache.read_text())
            if isinstance(data, dict) and data.get("v") == CACHE_VERSION and isinstance(data.get("files"), dict):
                self.known = data["files"]
        except (OSError, ValueError):
            pass  # no cache yet, or a damaged one: read the files

    def __call__(self, path: str | os.PathLike[str]) -> str:
        p = str(path)
        if p in self._seen:
            return self._seen[p]
        st = os.stat(p)
        stamp = [st.st_size, st.st_mtime_ns]
        entry = self.known.get(p)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stamp:
            self._seen[p] = entry[2]
        else:
            super().__call__(p)
            self.read += 1
        self.used[p] = [*stamp, self._seen[p]]
        return self._seen[p]

    def save(self) -> None:
        """Write what this plan used; a cache that cannot be written only costs the next run time."""
        try:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.cache) as tmp:
                tmp.write_text(json.dumps({"v": CACHE_VERSION, "files": self.used}, separators=(",", ":")))
        except Exception:  # noqa: BLE001 - ImpastoError or OSError alike: the batch does not need it
            pass
