"""VGG-16 / VGG-19 as a feature extractor: the network Gatys et al. read images with.

Layers are named as in the papers (``conv1_1``, ``relu1_1``, ``pool1`` ...). ``convX_Y`` is the
convolution's raw output; ``reluX_Y`` is that output rectified. Keras names (``block1_conv1``)
are accepted as aliases of the *rectified* layer, because a Keras conv layer includes its
ReLU; for the same reason the Caffe blob the paper calls ``conv4_2`` (ReLUs run in place in
Caffe) is ``relu4_2`` here, which is what the presets use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ImpastoError

# Convolutions per block, and their widths.
ARCHS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)


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
        raise ImpastoError(
            f"unknown layer {name!r} for {arch}; `impasto layers --arch {arch}` lists them"
        )
    return key


class VGGFeatures(nn.Module):
    """The convolutional part of VGG, cut after the deepest layer anyone asked for.

    Parameters are frozen: style transfer differentiates with respect to the image only, which
    also halves the backward pass (no weight gradients).
    """

    def __init__(
        self,
        arch: str,
        weights: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
        pooling: str = "max",
        last_layer: str | None = None,
    ) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ImpastoError(f"unknown network {arch!r}; choose vgg19 or vgg16")
        if pooling not in ("max", "avg"):
            raise ImpastoError(f"unknown pooling {pooling!r}; choose max or avg")
        self.arch, self.pooling = arch, pooling
        names = layer_names(arch)
        self.names = names[: names.index(last_layer) + 1] if last_layer else names
        self.convs = nn.ModuleDict()
        for name in self.names:
            if name.startswith("conv"):
                w, b = weights[name]
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
                conv.weight.data.copy_(w)
                conv.bias.data.copy_(b)
                self.convs[name] = conv
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Run the net and return the activations of ``layers`` (stops at the deepest)."""
        wanted = set(layers)
        out: dict[str, torch.Tensor] = {}
        pool = F.max_pool2d if self.pooling == "max" else F.avg_pool2d
        for name in self.names:
            if name.startswith("conv"):
                x = self.convs[name](x)
            elif name.startswith("relu"):
                # In place is safe unless the raw conv output was asked for.
                x = F.relu(x, inplace="conv" + name[4:] not in wanted)
            else:
                x = pool(x, 2, 2)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out
