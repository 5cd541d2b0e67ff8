"""The perceptual loss a transformation network is trained on: the optimisation engine's own.

Johnson et al. train on the content and style losses of Gatys et al.; here they are literally
the engine's (:class:`impasto.losses.objective.Objective`, ``terms.weighted``), computed by the
same VGG with the same layers, weights and style loss, so a trained model and an optimised image
can be scored against each other and compared number for number. The only differences: the
content target is the batch of photos of each step, and every term is a mean over the batch.
"""

from __future__ import annotations

import torch
from PIL import Image

from ..features.devices import precision_context
from ..features.network import Network, load_network
from ..images.io import fit_long_edge, to_tensor
from ..losses.objective import Objective, StyleGroup, describe_style, make_style_loss
from ..losses.terms import PART_NAMES, tv_loss, weighted
from ..options import Resolved


class PerceptualLoss:
    """Content + style + TV of a batch of outputs against their input photos."""

    def __init__(self, style: Image.Image, style_size: int, options: Resolved, network: Network | None = None) -> None:
        o = self.options = options
        self.network = network or load_network(o)
        self.pre = self.network.preprocess
        self.pixel_units = self.pre.pixel_units(self.network.device)
        style_loss = make_style_loss(o)
        with torch.no_grad():
            sx = self.pre.to_net(to_tensor(fit_long_edge(style, style_size)).to(self.network.device))
            described = describe_style(self.network, sx, o, style_loss)
        group = StyleGroup(1.0, {k: style_loss.target([(described[k], 1.0)]) for k in o.style_layers}, None)
        self.objective = Objective(o, self.network, style_loss, None, [group], "full")

    @torch.no_grad()
    def content_targets(self, photo_rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        """The photos' features at the content layers (several styles trained on one batch share them)."""
        o = self.options
        with precision_context(self.network.device, o.precision):
            feats = self.network.net(self.pre.to_net(photo_rgb), o.content_layers)
        return {k: feats[k].float() for k in o.content_layers}

    def __call__(self, out_rgb: torch.Tensor, photo_rgb: torch.Tensor,
                 content: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Weighted terms and their total for outputs ``out_rgb`` of photos ``photo_rgb`` (both [0, 1]).
        ``content``: the photos' :meth:`content_targets`, when already computed."""
        o = self.options
        if content is None:
            content = self.content_targets(photo_rgb)
        x = self.pre.to_net(out_rgb)
        c, s = self.objective(x, content)
        tv = tv_loss(x, self.pixel_units, o.tv_beta) if o.tv_weight > 0 else c.new_zeros(())
        return dict(zip(PART_NAMES, weighted(o, c, s, tv)))
