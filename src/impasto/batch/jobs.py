"""A batch job: what to paint, how, where to write it, and the key that says whether it is done.

A :class:`Job` is planned once on the machine that runs ``impasto batch``: its options are
resolved (so a bad value is reported before any work starts), its paths made absolute (so a
worker on another node reads the same files from shared storage) and its :attr:`Job.key`
computed from the *contents* of its input files and its options. The key is written beside the
output when the job finishes; a rerun whose key matches skips the job (``records.py``).

Pure Python and no torch: planning a batch of ten thousand jobs costs file hashes, not a network.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..options import BUILTIN_INITS, Resolved
from ..shipped import device_type, model_file

KEY_VERSION = 1  # bump when what a key covers changes, so old sidecars stop matching
# Options that decide where or how fast a job runs, not what it paints.
NOT_IN_KEY = ("device", "max_pixels", "save_every")


@dataclass(frozen=True)
class Job:
    """One picture to make. ``styles`` for an optimisation (Gatys) job; ``model`` (a shipped
    style's name or a model file) for a feed-forward one, whose ``settings`` are what
    :func:`impasto.fast.options.model_run_settings` took from its options."""

    id: str  # unique in its batch: the manifest line or the position in the shorthand's product
    content: str
    output: str
    options: Resolved
    styles: tuple[str, ...] = ()
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    where: str = ""  # where it was asked for, for messages: "jobs.csv line 4"

    @property
    def kind(self) -> str:
        return "model" if self.model is not None else "optimise"

    def network_identity(self) -> tuple:
        """Jobs with the same identity run through the same loaded network (VGG or a model), so
        the planner puts them next to each other and a worker loads it once for the run."""
        if self.model is not None:
            return ("model", self.model, self.settings.get("device"))
        o = self.options
        return ("vgg", o.arch, str(o.weights), o.preprocess or "", o.pooling, o.device, o.precision)

    def describe(self) -> dict[str, Any]:
        """What the results manifest says the job was."""
        d: dict[str, Any] = {"content": self.content}
        if self.model is not None:
            d["model"] = self.model
        if self.styles:
            d["styles"] = list(self.styles)
        return d


class Digests:
    """SHA-256 of file contents, each file read once per plan (a style used by a thousand jobs)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def __call__(self, path: str | os.PathLike[str]) -> str:
        p = str(path)
        if p not in self._seen:
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            self._seen[p] = h.hexdigest()
        return self._seen[p]


def job_key(job: Job, digest: Digests) -> str:
    """The hash of everything that decides the job's picture: input file contents (not their
    names: a renamed album is still done), the model file, every option that changes pixels,
    and the output's format. Options naming files (``init``, ``masks``) count by content too."""
    o = job.options
    record = {k: v for k, v in o.record().items() if k not in NOT_IN_KEY}
    if isinstance(o.init, (str, os.PathLike)) and o.init not in BUILTIN_INITS:
        record["init"] = digest(o.init)
    if o.masks:
        record["masks"] = [digest(m) for m in o.masks]
    what: dict[str, Any] = {"v": KEY_VERSION, "content": digest(job.content),
                            "format": Path(job.output).suffix.lower().replace(".jpeg", ".jpg")}
    if job.model is not None:
        what["model"] = digest(model_file(job.model, device_type(job.settings.get("device", "auto"))).path)
        what["settings"] = {k: v for k, v in job.settings.items() if k not in NOT_IN_KEY}
        if job.styles:  # the paintings of --model any
            what["styles"] = [digest(s) for s in job.styles]
    else:
        what["styles"] = [digest(s) for s in job.styles]
        what["options"] = record
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()
