"""The loaded feature network: VGG with its weights, preprocessing and device, ready to reuse.

Loading costs a memory map and a copy; a server or a batch keeps one Network and runs many
images through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .devices import prefers_channels_last, resolve_device
from .options import Options
from .vgg import VGGFeatures, layer_names
from .weights import Preprocess, load_weights


@dataclass
class Network:
    net: VGGFeatures
    preprocess: Preprocess
    device: torch.device
    source: str
    channels_last: bool = False  # the layout inputs should come in (the weights' layout)

    def covers(self, layers: tuple[str, ...]) -> bool:
        return all(name in self.net.names for name in layers)


def deepest(arch: str, layers: tuple[str, ...]) -> str:
    order = layer_names(arch)
    return max(layers, key=order.index)


def load_network(options: Options, layers: tuple[str, ...] | None = None) -> Network:
    """VGG for ``options`` on its device, cut after the deepest of ``layers`` (default: all in use)."""
    o = options.validated()
    device = resolve_device(o.device)
    w = load_weights(o.weights, o.arch, o.preprocess)
    used = layers or (o.content_layers + o.style_layers)
    net = VGGFeatures(w.arch, w.convs, o.pooling, deepest(w.arch, used)).to(device)
    nhwc = prefers_channels_last(device, o.precision)
    if nhwc:
        net = net.to(memory_format=torch.channels_last)
    return Network(net, w.preprocess, device, w.source, nhwc)
