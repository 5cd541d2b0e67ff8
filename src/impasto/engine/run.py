"""The optimisation of Gatys et al. at one size: targets from the content and style images, then
a loop that moves the pixels of one image until its features match both.

Read top to bottom: ``Run.__init__`` sizes the images, computes the targets and the start;
``Run.loss`` is the weighted objective; ``Run.__iter__`` is the loop (one optimiser step, the
best image kept, the stop rule); ``best_image`` turns the best pixels back into a picture.
Each step yields a :class:`Step` whose losses and image are read from the device only when
asked for, so the loop itself never waits for the GPU.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from PIL import Image

from ..errors import ImpastoError
from ..features.devices import cuda_flags, precision_context
from ..features.layers import deepest_stride, layer_stride
from ..features.network import Network
from ..images import color as C
from ..images.denoise import tv_denoise
from ..images.io import fit_long_edge, to_pil, to_tensor
from ..losses.objective import Objective, StyleGroup, describe_style, make_style_loss, resolve_memory
from ..losses.terms import PART_NAMES, tv_loss, weighted
from ..optim import make_optimizer
from ..options import Resolved
from .graphed import GraphedSteps, blocker
from .inputs import Inputs


@dataclass
class Step:
    """One optimiser step: ``step``, ``losses`` (weighted terms and their total) and ``image``.

    Unpacks as ``step, losses, image``. Losses and image are read from the device on first use."""

    run: "Run"
    step: int
    parts: torch.Tensor  # the four values of PART_NAMES, on the device
    x: torch.Tensor
    _losses: dict[str, float] | None = field(default=None, repr=False)

    @property
    def losses(self) -> dict[str, float]:
        if self._losses is None:
            self._losses = dict(zip(PART_NAMES, self.parts.tolist()))
        return self._losses

    @property
    def image(self) -> Image.Image:
        return self.run.to_image(self.x)

    def __iter__(self) -> Iterator[object]:
        return iter((self.step, self.losses, self.image))


class StopRule:
    """Stop when the total changed by less than ``eps`` (relative) over the last ``window`` steps,
    checked every ``window`` steps; ``eps`` = 0 never stops."""

    def __init__(self, eps: float, window: int) -> None:
        self.eps, self.window = eps, window
        self.totals: list[torch.Tensor] = []

    def __call__(self, step: int, total: torch.Tensor) -> bool:
        """``total``: the run's best loss so far, a tensor it updates in place (kept as a copy)."""
        if self.eps <= 0:
            return False
        self.totals.append(total.clone())
        if len(self.totals) <= self.window:
            return False
        old = self.totals.pop(0)
        if step % self.window:
            return False
        return float((old - total).abs() / total.abs().clamp_min(1e-12)) < self.eps


class Run:
    """One size of a transfer, set up and ready to iterate (see the module docstring).

    ``start``: the image to start from instead of what ``o.init`` names (a coarser size's result)."""

    def __init__(self, o: Resolved, inputs: Inputs, network: Network, start: Image.Image | None = None) -> None:
        self.options, self.network = o, network
        self.device, pre = network.device, network.preprocess
        photo = fit_long_edge(inputs.content, o.max_long_edge)
        init_img = start if start is not None else inputs.init
        if init_img is not None:
            init_img = init_img.resize(photo.size, Image.LANCZOS)
        self.content_image = photo
        # --color (images/color.py): what the optimiser sees, and how its output becomes the picture.
        content_img, style_imgs, init_img, self._finish = C.optimiser_images(o.color, photo, inputs.styles, init_img,
                                                                   inputs.blend)
        self.content_size = content_img.size
        need = deepest_stride(o.layers)  # the deepest layer must still see a position
        if min(content_img.size) < need:
            raise ImpastoError(f"the image is {content_img.width}x{content_img.height} px: layer "
                               f"{max(o.layers, key=layer_stride)} needs at least {need} px a side; "
                               "make the output larger (--max-long-edge)")
        self.pixel_units = pre.pixel_units(self.device)
        self.bounds = pre.bounds(self.device)  # the image is optimised inside the valid pixel box

        # Targets: the photo's features, and each painting's style summary at the photo's scale.
        style_loss = make_style_loss(o)
        long_edge = max(1, round(max(content_img.size) * o.style_scale))
        with torch.no_grad(), precision_context(self.device, o.precision):
            content_x = self._net_input(to_tensor(content_img))
            feats = network.net(content_x, o.content_layers)
            content = {k: feats[k].float() for k in o.content_layers}
            described = []
            for img in style_imgs:
                edge = max(long_edge, math.ceil(need * max(img.size) / min(img.size)))
                described.append(describe_style(network, self._net_input(to_tensor(fit_long_edge(img, edge))), o,
                                                style_loss))
        self.objective = Objective(o, network, style_loss, content, self._groups(style_loss, described, inputs),
                                   resolve_memory(o, content_x.shape[-2] * content_x.shape[-1]))
        # --cuda-graph: whether the steps are replayed from CUDA graphs, and if not, why not
        self.graph_note = "off" if o.cuda_graph == "off" else blocker(o, self.device, self.objective.mode)
        self.graphed = self.graph_note is None
        self.x0 = self._initial(content_x, style_imgs[0], init_img)
        self.best_x = self.x0.detach().clone()
        self.best_loss = torch.tensor(math.inf, device=self.device)
        self.steps_done = 0
        self.stopped_early = False

    def _groups(self, style_loss, described: list[dict], inputs: Inputs) -> list[StyleGroup]:
        """Without masks, one target blending every painting; with masks, one per painting."""
        layers = self.options.style_layers
        masks = inputs.mask_tensors(self.content_size)
        if masks is None:
            parts = list(zip(described, inputs.blend))
            return [StyleGroup(1.0, {k: style_loss.target([(d[k], w) for d, w in parts]) for k in layers}, None)]
        total = float(sum(inputs.blend))
        return [StyleGroup(w / total, {k: style_loss.target([(d[k], 1.0)]) for k in layers}, m.to(self.device))
                for d, w, m in zip(described, inputs.blend, masks)]

    def _net_input(self, rgb: torch.Tensor) -> torch.Tensor:
        x = self.network.preprocess.to_net(rgb.to(self.device))
        if self.network.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _initial(self, content_x: torch.Tensor, style_img: Image.Image, init_img: Image.Image | None) -> torch.Tensor:
        o = self.options
        h, w = content_x.shape[-2:]
        seed = o.seed if o.seed is not None else int.from_bytes(os.urandom(4), "little")
        noise = self._net_input(torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed)))
        if init_img is not None:
            x = self._net_input(to_tensor(init_img))
        elif o.init == "noise":
            return noise
        elif o.init == "content":
            x = content_x.clone()
        else:  # style
            x = self._net_input(to_tensor(style_img.resize((w, h), Image.LANCZOS)))
        return x if o.init_noise == 0 else (1 - o.init_noise) * x + o.init_noise * noise

    # -- the objective ----------------------------------------------------------------------------
    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Total loss and the four weighted values of PART_NAMES (detached), all fp32."""
        c, s = self.objective(x)
        tv = tv_loss(x, self.pixel_units, self.options.tv_beta) if self.options.tv_weight > 0 else c.new_zeros(())
        parts = weighted(self.options, c, s, tv)
        return parts[3], parts.detach()

    def loss_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`loss`, with its gradient added to ``x.grad``; the backward pass (and a
        checkpointed objective's recompute) under the same convolution flags as the forward."""
        with cuda_flags(self.device, self.options.precision):
            total, parts = self.loss(x)
            total.backward()
        return total, parts

    def _track_best(self, x: torch.Tensor, total: torch.Tensor) -> None:
        """Keep the lowest-loss image without asking the device for a number (in place: a
        replayed step writes where the recorded one did)."""
        better = total.detach() < self.best_loss
        self.best_loss.copy_(torch.where(better, total.detach(), self.best_loss))
        self.best_x.copy_(torch.where(better, x.detach(), self.best_x))

    # -- the loop ---------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Step]:
        o = self.options
        x = self.x0.detach().clone().requires_grad_(True)
        opt = make_optimizer(o, x, self.bounds, self.pixel_units)
        stop = StopRule(o.stop_eps, o.stop_window)
        last: list[torch.Tensor] = []  # the loss terms the closure made last

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            total, parts = self.loss_and_grad(x)
            self._track_best(x, total)
            last[:] = [parts]
            return total

        graphed = GraphedSteps(closure, opt, self.device) if self.graphed else None
        for i in range(1, o.iterations + 1):
            if graphed is not None:
                graphed()
                parts = last[0].clone()  # a replay writes the recorded step's tensor again
            else:
                opt.step(closure)
                parts = last[0]
            self.steps_done = i
            yield Step(self, i, parts, x.detach())
            if stop(i, self.best_loss):  # the best so far: L-BFGS totals wobble
                self.stopped_early = True
                break
        with torch.no_grad():  # the last update has not been scored yet
            total, _ = self.loss(x)
            self._track_best(x, total)

    # -- results ----------------------------------------------------------------------------------
    def to_image(self, x: torch.Tensor | None = None) -> Image.Image:
        """An image (default: the best so far) as a picture, undenoised."""
        x = self.best_x if x is None else x
        return to_pil(self._finish(self.network.preprocess.from_net(x.detach().float()).clamp(0, 1)))

    def best_image(self) -> Image.Image:
        """The lowest-loss image so far, clamped to valid pixels, denoised if asked."""
        rgb = self._finish(self.network.preprocess.from_net(self.best_x.float()).clamp(0, 1))
        if self.options.denoise > 0:
            rgb = tv_denoise(rgb, self.options.denoise)
        return to_pil(rgb)
