"""VGG-16 / VGG-19 as a feature extractor: the network Gatys et al. read images with.

Layer names and their meaning are in ``layers.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .layers import layer_names


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

    def layer(self, name: str, x: torch.Tensor, wanted: set[str]) -> torch.Tensor:
        """Apply one layer. ReLUs run in place unless the raw conv output was asked for."""
        if name.startswith("conv"):
            return self.convs[name](x)
        if name.startswith("relu"):
            return F.relu(x, inplace="conv" + name[4:] not in wanted)
        return (F.max_pool2d if self.pooling == "max" else F.avg_pool2d)(x, 2, 2)

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Run the net and return the activations of ``layers`` (stops at the deepest)."""
        wanted = set(layers)
        out: dict[str, torch.Tensor] = {}
        for name in self.names:
            x = self.layer(name, x, wanted)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out
