"""VGG's layer names and what each one sees, without loading the network.

Layers are named as in the papers (``conv1_1``, ``relu1_1``, ``pool1`` ...). ``convX_Y`` is the
convolution's raw output; ``reluX_Y`` is that output rectified. Keras names (``block1_conv1``)
are accepted as aliases of the *rectified* layer, because a Keras conv layer includes its
ReLU; for the same reason the Caffe blob the paper calls ``conv4_2`` (ReLUs run in place in
Caffe) is ``relu4_2`` here, which is what the presets use.

Pure Python, so options can be checked (and ``impasto --help`` answered) without torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import ImpastoError

# Convolutions per block, and their widths.
ARCHS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)
PAPER_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def conv_names(arch: str) -> list[str]:
    """The conv layers of ``arch`` in order (each owns one weight and one bias)."""
    return [f"conv{b + 1}_{c + 1}" for b, n in enumerate(ARCHS[arch]) for c in range(n)]


def layer_names(arch: str) -> list[str]:
    """Every addressable layer of ``arch``, in forward order."""
    names = []
    for b, n in enumerate(ARCHS[arch]):
        for c in range(n):
            names += [f"conv{b + 1}_{c + 1}", f"relu{b + 1}_{c + 1}"]
        names.append(f"pool{b + 1}")
    return names


def conv_shapes(arch: str) -> dict[str, tuple[int, int, int, int]]:
    """The weight shape (out, in, 3, 3) each conv layer must have."""
    shapes, cin = {}, 3
    for b, n in enumerate(ARCHS[arch]):
        for c in range(n):
            shapes[f"conv{b + 1}_{c + 1}"] = (WIDTHS[b], cin, 3, 3)
            cin = WIDTHS[b]
    return shapes


_KERAS = re.compile(r"^block(\d)_(conv|relu|pool)(\d*)$")


def canonical_layer(name: str, arch: str) -> str:
    """Map a user's layer name (ours or Keras') to ours, or explain why it is not one."""
    key = name.strip().lower()
    m = _KERAS.match(key)
    if m:
        block, kind, idx = m.groups()
        key = f"pool{block}" if kind == "pool" else f"relu{block}_{idx}"
    if key not in layer_names(arch):
        raise ImpastoError(f"unknown layer {name!r} for {arch}; `impasto layers --arch {arch}` lists them")
    return key


def layer_stride(name: str) -> int:
    """How much a layer's feature map is downsampled relative to the image (block b -> 2^(b-1))."""
    block = int(name[4]) if not name.startswith("pool") else int(name[4]) + 1
    return 2 ** (block - 1)


def deepest_stride(names: Iterable[str]) -> int:
    """The stride of the deepest of these layers: the fewest pixels an image needs a side for
    every one of them to see at least one position."""
    return max(layer_stride(k) for k in names)


def layer_width(name: str) -> int:
    """The channel count (N in the paper) of a layer's feature map."""
    return WIDTHS[int(name[4]) - 1]


def deepest(arch: str, layers: tuple[str, ...]) -> str:
    """The last of ``layers`` in forward order: where the network may be cut."""
    order = layer_names(arch)
    return max(layers, key=order.index)
