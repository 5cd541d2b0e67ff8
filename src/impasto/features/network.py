"""The loaded feature network: VGG with its weights, preprocessing and device, ready to reuse.

Loading costs a memory map and a copy; a server or a batch keeps one Network and runs many
images through it (``engine.prepare(..., network=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .devices import prefers_channels_last, resolve_device
from .layers import deepest, layer_names
from .vgg import VGGFeatures
from .weights import Preprocess, load_weights

if TYPE_CHECKING:  # options imports features.layers: at run time this package needs nothing of options
    from ..options import Resolved


@dataclass
class Network:
    net: VGGFeatures
    preprocess: Preprocess
    device: torch.device
    source: str
    channels_last: bool = False  # the layout inputs should come in (the weights' layout)

    def serves(self, o: Resolved) -> bool:
        """Whether this network computes what ``o`` asks for (same weights, pooling, device, layout)."""
        return (self.net.arch == o.arch and self.net.pooling == o.pooling and self.source == _source(o)
                and self.device == resolve_device(o.device)
                and self.channels_last == prefers_channels_last(self.device, o.precision)
                and all(name in self.net.names for name in o.layers))


def _source(o: Resolved) -> str:
    return o.weights if o.weights in ("caffe", "torchvision") else str(o.weights)


def load_network(o: Resolved, layers: tuple[str, ...] | None = None) -> Network:
    """VGG for ``o`` on its device, cut after the deepest of ``layers`` (default: all ``o`` uses;
    ``layer_names(arch)`` keeps every layer, for a network shared by runs with other layers)."""
    device = resolve_device(o.device)
    w = load_weights(o.weights, o.arch, o.preprocess)
    net = VGGFeatures(w.arch, w.convs, o.pooling, deepest(w.arch, layers or o.layers)).to(device)
    nhwc = prefers_channels_last(device, o.precision)
    if nhwc:
        net = net.to(memory_format=torch.channels_last)
    return Network(net, w.preprocess, device, _source(o), nhwc)


def full_depth(arch: str) -> tuple[str, ...]:
    """Every layer of ``arch``: pass as ``layers`` to load a network any run can share."""
    return tuple(layer_names(arch))
