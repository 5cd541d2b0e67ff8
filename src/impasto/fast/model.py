"""The model file: a trained transformation network and what it was trained on.

A model is a ``torch.save`` dict read back with ``weights_only=True`` (no pickled code runs):

* ``format``: ``"impasto-fast"``, ``version``: 1
* ``style``: the style image's file name; ``credit``: who painted it (may be empty)
* ``net``: the network size (``width``, ``blocks``, ``skip``, ``bounded``; the last two may be absent)
* ``train``: the training options (steps, batch, crop, loss weights ...), for reproducibility
* ``state_dict``: the weights, fp16 by default to halve the file (they run in fp32)

Training checkpoints are the same dict plus ``optimizer``, ``step`` and ``rng``, so one loader
serves both. Anything else is refused with a one-line :class:`ImpastoError`.

Shipped styles come in up to two sizes: ``data/fast/NAME.pt``, small enough to paint 512x512 in
under half a second on a 2-core CPU, and ``data/fast/large/NAME.pt``, Johnson's full network
trained on a GPU. Which file a name means is :mod:`impasto.shipped`'s rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import ImpastoError
from ..features.weights import atomic_torch_save
from ..shipped import model_file, shipped_names
from .options import NetSize
from .transformer import TransformerNet

FORMAT, VERSION = "impasto-fast", 1


@dataclass
class FastModel:
    """A loaded model: the network (eval mode, fp32) and its record."""

    net: TransformerNet
    style: str
    size: NetSize
    train: dict = field(default_factory=dict)
    credit: str = ""
    path: str = ""
    extra: dict = field(default_factory=dict)  # checkpoint state, when the file is one
    choice: str = ""  # which size of a shipped style was taken and why ("" for a file given by path)


def shipped_models() -> dict[str, Path]:
    """Names of the styles that come with impasto, and the file each paints with on a CPU."""
    return {name: model_file(name).path for name in shipped_names()}


def resolve_model(name: str | os.PathLike[str], device: torch.device | str = "cpu") -> tuple[Path, str]:
    """A model file's path, or a shipped style's file for ``device`` (``impasto.shipped``), with
    a note of the size taken and why."""
    found = model_file(name, torch.device(device).type)
    if found.arbitrary:
        raise ImpastoError("--model any is the arbitrary-style network: it needs a painting, not a model file")
    return found.path, found.note


def resolve_model_path(name: str | os.PathLike[str], device: torch.device | str = "cpu") -> Path:
    """A path to a model file, or the name of a shipped style (its file for ``device``)."""
    return resolve_model(name, device)[0]


def model_record(net: TransformerNet, style: str, train: dict, credit: str = "",
                 dtype: torch.dtype = torch.float16) -> dict:
    """The dict a model file holds (see the module docstring)."""
    state = {k: v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()
             for k, v in net.state_dict().items()}
    return {"format": FORMAT, "version": VERSION, "style": style, "credit": credit,
            "net": net.size.as_dict(), "train": dict(train), "state_dict": state}


def save_model(path: str | os.PathLike[str], record: dict) -> None:
    """Write a model or checkpoint atomically (a temporary file renamed into place)."""
    p = Path(path)
    if p.is_dir():
        raise ImpastoError(f"cannot write {p}: it is a folder")
    if not p.parent.is_dir() and str(p.parent):
        raise ImpastoError(f"cannot write {p}: folder {p.parent} does not exist")
    try:
        atomic_torch_save(record, p)
    except OSError as e:
        raise ImpastoError(f"cannot write {p}: {e.strerror or e}") from None


def _read(p: Path) -> dict:
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except PermissionError:
        raise ImpastoError(f"cannot read {p}: permission denied") from None
    except Exception as e:
        raise ImpastoError(f"{p} is not an impasto model file (unreadable: {type(e).__name__})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ImpastoError(f"{p} is not an impasto model file (train one with `impasto train`)")
    if obj.get("version") != VERSION:
        raise ImpastoError(f"{p} is model format version {obj.get('version')!r}; this impasto reads {VERSION}")
    return obj


def load_model(name: str | os.PathLike[str], device: torch.device | str = "cpu") -> FastModel:
    """Read a model file (or a shipped style by name, in the size for ``device``) and rebuild
    its network on ``device``, ready to paint."""
    p, choice = resolve_model(name, device)
    obj = _read(p)
    try:
        net_d = obj["net"]
        size = NetSize(int(net_d["width"]), int(net_d["blocks"]), bool(net_d.get("skip", False)),
                       bool(net_d.get("bounded", False)))
        state = obj["state_dict"]
    except (KeyError, TypeError, ValueError):
        raise ImpastoError(f"{p} is a damaged model file (no network size or weights)") from None
    net = TransformerNet(size)
    if not isinstance(state, dict):
        raise ImpastoError(f"{p} is a damaged model file (weights are not a state dict)")
    try:
        net.load_state_dict({k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v
                             for k, v in state.items()})
    except (RuntimeError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ImpastoError(f"{p} is a damaged model file ({first[:120]})") from None
    net.eval().requires_grad_(False).to(device)
    extra = {k: obj[k] for k in ("optimizer", "step", "rng") if k in obj}
    train = obj.get("train") if isinstance(obj.get("train"), dict) else {}
    choice = choice.format(f" (width {size.width}, {size.blocks} residual blocks)")
    return FastModel(net, str(obj.get("style", "")), size, train, str(obj.get("credit", "")), str(p), extra, choice)
