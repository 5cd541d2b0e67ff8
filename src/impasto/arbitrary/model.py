"""The decoder file: the trained decoder and what it was trained on.

A ``torch.save`` dict read back with ``weights_only=True``:

* ``format``: ``"impasto-arbitrary"``, ``version``: 1
* ``decoder``: its size (``widths``)
* ``train``: the training options and data (folders, counts, the held-out rule, steps done)
* ``state_dict``: the weights, fp16 in a finished file (they run in fp32 or bf16)

Checkpoints are the same dict in fp32 plus ``optimizer`` and ``step``. Anything else is refused
with a one-line :class:`ImpastoError` that says how to get the shipped file back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import shipped
from ..errors import ImpastoError
from ..features.weights import atomic_torch_save
from .network import Decoder, DecoderSize

FORMAT, VERSION = "impasto-arbitrary", 1
REINSTALL = "reinstall impasto (pip install --force-reinstall impasto) to get the shipped decoder back"


@dataclass
class DecoderModel:
    """A loaded decoder (eval mode, fp32) and its record."""

    net: Decoder
    train: dict = field(default_factory=dict)
    path: str = ""
    extra: dict = field(default_factory=dict)  # optimizer and step, when the file is a checkpoint


def decoder_record(net: Decoder, train: dict, dtype: torch.dtype = torch.float16) -> dict:
    state = {k: v.detach().to("cpu", dtype) for k, v in net.state_dict().items()}
    return {"format": FORMAT, "version": VERSION, "decoder": net.size.as_dict(), "train": dict(train),
            "state_dict": state}


def save_decoder(path: str | os.PathLike[str], record: dict) -> None:
    """Write a decoder or checkpoint atomically."""
    p = Path(path)
    if p.is_dir() or not p.parent.is_dir():
        raise ImpastoError(f"cannot write {p}: not a file in an existing folder")
    try:
        atomic_torch_save(record, p)
    except OSError as e:
        raise ImpastoError(f"cannot write {p}: {e.strerror or e}") from None


def load_decoder(path: str | os.PathLike[str] | None = None, device: torch.device | str = "cpu") -> DecoderModel:
    """Read a decoder file (default: the shipped one) onto ``device``."""
    p = Path(path) if path is not None else shipped.ANY_DECODER
    hint = REINSTALL if path is None else "train one with `impasto train --arbitrary`"
    if not p.is_file():
        raise ImpastoError(f"the arbitrary-style decoder {p} is missing; {hint}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ImpastoError(f"{p} is a damaged decoder file ({type(e).__name__}); {hint}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("version") != VERSION:
        raise ImpastoError(f"{p} is not an impasto arbitrary-style decoder; {hint}")
    try:
        net = Decoder(DecoderSize(tuple(int(w) for w in obj["decoder"]["widths"])))
        net.load_state_dict({k: v.float() for k, v in obj["state_dict"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError):
        raise ImpastoError(f"{p} is a damaged decoder file (weights do not fit); {hint}") from None
    net.eval().requires_grad_(False).to(device)
    extra = {k: obj[k] for k in ("optimizer", "step") if k in obj}
    return DecoderModel(net, obj.get("train") if isinstance(obj.get("train"), dict) else {}, str(p), extra)
