"""The perceptual loss a transformation network is trained on: the optimisation engine's own.

Johnson et al. train on the content and style losses of Gatys et al.; here they are literally
those of :mod:`impasto.losses`, computed by the same VGG (``impasto.network``), with the same
layers and weights as the optimisation engine's defaults, so a trained model and an optimised
image can be scored against each other with ``Run.loss`` and compared number for number.

The only difference is the batch: ``style_loss`` sums over the batch, so it is divided by the
batch size here to keep the loss per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from .. import losses as L
from ..images import fit_long_edge, to_tensor
from ..network import Network, load_network
from ..options import Options, layer_weights


@dataclass
class StyleTarget:
    """The style's Gram matrices at each style layer, computed once before training."""

    grams: dict[str, torch.Tensor]


class PerceptualLoss:
    """Content + style + TV of a batch of outputs against their input photos."""

    def __init__(self, style: Image.Image, style_size: int, options: Options | None = None,
                 network: Network | None = None) -> None:
        o = (options or Options()).validated()
        self.options = o
        self.network = network or load_network(o)
        self.device = self.network.device
        self.pre = self.network.preprocess
        self.content_w = layer_weights(o.content_layer_weights, o.content_layers)
        self.style_w = layer_weights(o.style_layer_weights, o.style_layers)
        self.layers = tuple(dict.fromkeys(o.content_layers + o.style_layers))
        self.pixel_units = self.pre.pixel_units(self.device)
        with torch.no_grad():
            sx = self.pre.to_net(to_tensor(fit_long_edge(style, style_size)).to(self.device))
            feats = self.network.net(sx, o.style_layers)
            self.target = StyleTarget({k: L.gram(feats[k]) for k in o.style_layers})

    def __call__(self, out_rgb: torch.Tensor, photo_rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted terms and their total for outputs ``out_rgb`` of photos ``photo_rgb`` (both [0, 1])."""
        o = self.options
        with torch.no_grad():
            content = self.network.net(self.pre.to_net(photo_rgb), o.content_layers)
        x = self.pre.to_net(out_rgb)
        feats = self.network.net(x, self.layers)
        zero = x.new_zeros((), dtype=torch.float32)
        c = sum((w * L.content_loss(feats[k], content[k].float(), L.layer_stride(k))
                 for k, w in zip(o.content_layers, self.content_w)), zero)
        s = sum((w * L.style_loss(feats[k], self.target.grams[k])
                 for k, w in zip(o.style_layers, self.style_w)), zero) / x.shape[0]
        tv = L.tv_loss(x, self.pixel_units, o.tv_beta) if o.tv_weight > 0 else zero
        parts = {"content": o.content_weight * c, "style": o.style_weight * s, "tv": o.tv_weight * tv}
        parts["total"] = parts["content"] + parts["style"] + parts["tv"]
        return parts
