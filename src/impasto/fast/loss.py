"""The perceptual loss a transformation network is trained on: the optimisation engine's own.

Johnson et al. train on the content and style losses of Gatys et al.; here they are literally
the engine's (:class:`impasto.losses.objective.Objective`, ``terms.weighted``), computed by the
same VGG with the same layers, weights and style loss, so a trained model and an optimised image
can be scored against each other and compared number for number. The only differences: the
content target is the batch of photos of each step, and every term is a mean over the batch.

Several styles trained side by side (:class:`StackedLoss`) send all their outputs through VGG
as one batch: one pass instead of one per style, with the Grams of every style taken in one
batched product, so a GPU runs a few large kernels instead of many small ones. Its values are
each style's :class:`PerceptualLoss`, to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from ..features.devices import precision_context
from ..features.network import Network, load_network
from ..images.io import fit_long_edge, to_tensor
from ..features.layers import layer_stride
from ..losses.objective import Objective, StyleGroup, describe_style, make_style_loss
from ..losses.style import gram
from ..losses.terms import PART_NAMES, REFERENCE_SIDE, fp32_matmul, positions, tv_loss, weighted
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


class _StackedGram(torch.autograd.Function):
    """Each style's Gram loss at one layer, for S styles' outputs stacked as (S*B, C, H, W): an
    (S,) vector, with the gradient written out as one batched product (as the engine's Gram
    loss does for one image)."""

    @staticmethod
    def forward(ctx, f: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        s, c = targets.shape[0], f.shape[1]
        err = gram(f).view(s, -1, c, c) - targets[:, None]
        ctx.save_for_backward(f, err)
        return err.pow(2).sum((1, 2, 3)) / (4.0 * c * c * err.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        f, err = ctx.saved_tensors
        n, c, h, w = f.shape
        per = err.shape[1]
        scale = (grad / (c * c * h * w * per)).view(-1, 1, 1, 1)
        x = positions(f)
        with fp32_matmul(f.device):
            d = torch.bmm(x, (err * scale).view(n, c, c).to(f.dtype))
        if f.is_contiguous(memory_format=torch.channels_last):
            return d.reshape(n, h, w, c).permute(0, 3, 1, 2), None
        return d.transpose(1, 2).reshape(n, c, h, w), None


class StackedLoss:
    """The :class:`PerceptualLoss` of several styles at once, on one network and one set of
    options: outputs of every style in one VGG pass, values as a (4, S) tensor (``PART_NAMES``
    by style), so that one backward pass trains every style's network."""

    def __init__(self, losses: Sequence[PerceptualLoss]) -> None:
        first = losses[0]
        if any(l.network is not first.network or l.options != first.options for l in losses):
            raise ValueError("stacked styles must share one network and one set of options")
        if first.options.style_loss != "gram":
            raise ValueError("stacked styles use the Gram loss")
        self.first, self.options, self.network = first, first.options, first.network
        o = self.options
        # each style's Gram target, (1, C, C), taken once when its loss was built
        self.targets = {k: torch.cat([l.objective.groups[0].targets[k] for l in losses]).float()
                        for k in o.style_layers}
        self.count = len(losses)

    def content_targets(self, photo_rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.first.content_targets(photo_rgb)

    def __call__(self, outs_rgb: torch.Tensor, content: dict[str, torch.Tensor]) -> torch.Tensor:
        """``outs_rgb``: (S*B, 3, H, W), style s's outputs in rows s*B .. s*B+B-1, [0, 1];
        ``content``: the B photos' :meth:`content_targets`."""
        o, s = self.options, self.count
        x = self.first.pre.to_net(outs_rgb)
        with precision_context(self.network.device, o.precision):
            feats = self.network.net(x, o.layers)
            c = x.new_zeros(s, dtype=torch.float32)
            for k, w in zip(o.content_layers, o.content_layer_weights):
                f = feats[k].float()
                err = (f.view(s, -1, *f.shape[1:]) - content[k][None]).pow(2)
                ref = (REFERENCE_SIDE // layer_stride(k)) ** 2
                c = c + w * 0.5 * err.sum((1, 2, 3, 4)) / (err.shape[1] * f.shape[2] * f.shape[3]) * ref
            st = x.new_zeros(s, dtype=torch.float32)
            for k, w in zip(o.style_layers, o.style_layer_weights):
                st = st + w * _StackedGram.apply(feats[k], self.targets[k])
        tv = _stacked_tv(x, self.first.pixel_units, o.tv_beta, s) if o.tv_weight > 0 else c.new_zeros(s)
        parts = torch.stack([o.content_weight * c, o.style_weight * st, o.tv_weight * tv])
        return torch.cat([parts, parts.sum(0, keepdim=True)])


def _stacked_tv(x: torch.Tensor, pixel_units: torch.Tensor, beta: float, styles: int) -> torch.Tensor:
    """:func:`impasto.losses.terms.tv_loss` of each style's rows of ``x``: an (S,) vector."""
    x = x.float() * pixel_units
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    sq = dx.pow(2) + dy.pow(2)
    if beta != 2.0:
        sq = (sq + 1e-8).pow(beta / 2)
    return sq.sum(1).reshape(styles, -1).mean(1)
