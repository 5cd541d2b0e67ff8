"""The optimisation of Gatys et al.: targets from the content and style images, then a loop
that moves the pixels of one image until its features match both.

``Run`` is the whole procedure as an iterable: each step yields a :class:`Step` (losses and
the current image, both computed only when asked for, so the loop itself never waits for the
GPU). ``stylize`` runs it to the end; ``stylize_iter`` hands it to a UI.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from . import losses as L
from .denoise import tv_denoise
from .devices import precision_context
from .errors import ImpastoError
from .lbfgs import LBFGS
from .images import fit_long_edge, load_image, to_pil, to_tensor
from .network import Network, load_network
from .objective import lbfgs_history, make_objective, style_statistics
from . import color as C
from .options import Options, layer_weights
from .presets import resolve_options

ImageInput = "str | os.PathLike[str] | Image.Image"
LOSS_NAMES = ("content", "style", "tv", "total")


@dataclass
class Targets:
    """What the image is pulled towards: content features and (blended) style Grams."""

    content: dict[str, torch.Tensor]
    style: dict[str, torch.Tensor]


class Step:
    """One optimiser step: ``step``, ``losses`` (weighted terms and their total) and ``image``.

    Unpacks as ``step, losses, image``. Losses and image are read from the device on first use.
    """

    def __init__(self, run: "Run", step: int, parts: torch.Tensor, x: torch.Tensor | None) -> None:
        self.run, self.step, self._parts, self._x = run, step, parts, x
        self._losses: dict[str, float] | None = None

    @property
    def losses(self) -> dict[str, float]:
        if self._losses is None:
            self._losses = dict(zip(LOSS_NAMES, self._parts.tolist()))
        return self._losses

    @property
    def image(self) -> Image.Image:
        return self.run.to_image(self._x)

    def __iter__(self) -> Iterator[object]:
        return iter((self.step, self.losses, self.image))


def _as_list(style: object) -> list:
    return list(style) if isinstance(style, (list, tuple)) else [style]


class Run:
    """One style transfer, set up and ready to iterate. See the module docstring."""

    def __init__(
        self,
        content: ImageInput,
        style: ImageInput | Sequence[ImageInput],
        options: Options | None = None,
        network: Network | None = None,
        **overrides: object,
    ) -> None:
        o = resolve_options(options, **overrides).validated()
        self.options = o
        styles = _as_list(style)
        if not styles:
            raise ImpastoError("at least one style image is needed")
        blend = o.style_blend or tuple(1.0 for _ in styles)
        if len(blend) != len(styles):
            raise ImpastoError(f"--style-blend has {len(blend)} weights for {len(styles)} style images")
        content_img = fit_long_edge(load_image(content, o.max_pixels), o.max_long_edge)
        style_imgs = [load_image(s, o.max_pixels) for s in styles]
        init_img = None
        if o.init not in ("noise", "content", "style"):
            init_img = load_image(o.init, o.max_pixels).resize(content_img.size, Image.LANCZOS)
        self.content_image = content_img
        # --color (color.py): what the optimiser sees, and how its output becomes the picture.
        content_img, style_imgs, init_img, self._finish = C.prepare(o.color, content_img, style_imgs, init_img, blend)
        if o.color == "only":  # the style's palette alone: nothing to optimise
            self.options = o = o.replace(iterations=0, init="content", init_noise=0.0)
        self.content_size = content_img.size

        if network is None or not network.covers(o.content_layers + o.style_layers):
            network = load_network(o)
        self.network = network
        self.device, pre = network.device, network.preprocess
        self.layers = tuple(dict.fromkeys(o.content_layers + o.style_layers))
        self.content_w = layer_weights(o.content_layer_weights, o.content_layers)
        self.style_w = layer_weights(o.style_layer_weights, o.style_layers)
        self.pixel_units = pre.pixel_units(self.device)
        self.bounds = pre.bounds(self.device)  # the image is optimised inside the valid pixel box

        # The deepest layer must still see at least one position.
        need = max(L.layer_stride(k) for k in self.layers)
        if min(content_img.size) < need:
            raise ImpastoError(f"the image is {content_img.width}x{content_img.height} px: layer "
                               f"{max(self.layers, key=L.layer_stride)} needs at least {need} px a side; "
                               "raise --max-long-edge")
        long_edge = max(1, round(max(content_img.size) * o.style_scale))
        total = float(sum(blend))
        with torch.no_grad(), precision_context(self.device, o.precision):
            content_x = self._net_input(to_tensor(content_img))
            feats = network.net(content_x, o.content_layers)
            content_t = {k: feats[k].float() for k in o.content_layers}
            style_t: dict[str, torch.Tensor] = {}
            grams_each: list[dict[str, torch.Tensor]] = []  # per style, for masks
            for img, w in zip(style_imgs, blend):
                edge = max(long_edge, math.ceil(need * max(img.size) / min(img.size)))
                sx = self._net_input(to_tensor(fit_long_edge(img, edge)))
                grams = style_statistics(network, sx, o.style_layers, o)  # tiled when large
                grams_each.append(grams)
                for k in o.style_layers:
                    g = grams[k] * (w / total)
                    style_t[k] = style_t[k] + g if k in style_t else g
                del sx
        self.targets = Targets(content_t, style_t)
        # Checkpointed, tiled or masked terms (objective.py); None = the plain loss below.
        self.objective = make_objective(self, grams_each, content_x.shape[-2] * content_x.shape[-1])
        self.x0 = self._initial(content_x, style_imgs[0], init_img)
        self.best_x = self.x0.detach().clone()
        self.best_loss = torch.tensor(math.inf, device=self.device)
        self.steps_done = 0
        self.stopped_early = False

    # -- set-up helpers ---------------------------------------------------------------------
    def _net_input(self, rgb: torch.Tensor) -> torch.Tensor:
        x = self.network.preprocess.to_net(rgb.to(self.device))
        if self.network.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _initial(self, content_x: torch.Tensor, style_img: Image.Image, init_img: Image.Image | None) -> torch.Tensor:
        o = self.options
        h, w = content_x.shape[-2:]
        seed = o.seed if o.seed is not None else int.from_bytes(os.urandom(4), "little")
        gen = torch.Generator().manual_seed(seed)
        noise = self._net_input(torch.rand(1, 3, h, w, generator=gen))
        if o.init == "noise":
            return noise
        if o.init == "content":
            x = content_x.clone()
        elif o.init == "style":
            x = self._net_input(to_tensor(style_img.resize((w, h), Image.LANCZOS)))
        else:
            x = self._net_input(to_tensor(init_img))
        return x if o.init_noise == 0 else (1 - o.init_noise) * x + o.init_noise * noise

    # -- the objective ----------------------------------------------------------------------
    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Total loss and the stacked weighted terms (content, style, tv, total), all fp32."""
        o, t = self.options, self.targets
        zero = x.new_zeros((), dtype=torch.float32)
        if self.objective is not None:
            c, s = self.objective(x)
        else:
            with precision_context(self.device, o.precision):
                feats = self.network.net(x, self.layers)
            c = sum((w * L.content_loss(feats[k], t.content[k], L.layer_stride(k))
                     for k, w in zip(o.content_layers, self.content_w)), zero)
            s = sum((w * L.style_loss(feats[k], t.style[k]) for k, w in zip(o.style_layers, self.style_w)), zero)
        tv = L.tv_loss(x, self.pixel_units, o.tv_beta) if o.tv_weight > 0 else zero
        parts = torch.stack([o.content_weight * c, o.style_weight * s, o.tv_weight * tv])
        total = parts.sum()
        return total, torch.cat([parts, total[None]]).detach()

    def _track_best(self, x: torch.Tensor, total: torch.Tensor) -> None:
        """Keep the lowest-loss image without asking the device for a number."""
        better = total.detach() < self.best_loss
        self.best_loss = torch.where(better, total.detach(), self.best_loss)
        self.best_x.copy_(torch.where(better, x.detach(), self.best_x))

    def _optimizer(self, x: torch.Tensor) -> LBFGS | _Projected:
        """An optimiser whose every step ends inside the valid pixel box (``self.bounds``)."""
        o = self.options
        # Step sizes are given in 0-255 pixel levels; convert to net-space units.
        lr = o.learning_rate / float(self.pixel_units.mean())
        if o.optimizer == "lbfgs":  # projects inside, so its curvature pairs match the steps taken
            return LBFGS(x, history=lbfgs_history(x, 50), first_step=lr, bounds=self.bounds)
        if o.optimizer == "adam":
            return _Projected(torch.optim.Adam([x], lr=lr), x, self.bounds)
        return _Projected(torch.optim.SGD([x], lr=lr, momentum=0.9, nesterov=True), x, self.bounds)

    # -- the loop ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Step]:
        o = self.options
        x = self.x0.detach().clone().requires_grad_(True)
        opt = self._optimizer(x)
        window: list[torch.Tensor] = []
        parts_box: list[torch.Tensor] = []
        grad0: list[torch.Tensor] = []

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            total, parts = self.loss(x)
            total.backward()
            if o.optimizer == "sgd":
                # Gradients in units of the first one, so lr is in pixel levels whatever the loss scale.
                if not grad0:
                    grad0.append(x.grad.pow(2).mean().sqrt().clamp_min(1e-30))
                x.grad.div_(grad0[0])
            self._track_best(x, total)
            parts_box.append(parts)
            return total

        for i in range(1, o.iterations + 1):
            parts_box.clear()
            opt.step(closure)
            parts = parts_box[0]
            self.steps_done = i
            yield Step(self, i, parts, x.detach())
            if o.stop_eps > 0:
                window.append(parts[3])
                if len(window) > o.stop_window:
                    old = window.pop(0)
                    rel = (old - parts[3]).abs() / parts[3].abs().clamp_min(1e-12)
                    if i % o.stop_window == 0 and float(rel) < o.stop_eps:
                        self.stopped_early = True
                        break
        with torch.no_grad():  # the last update has not been scored yet
            total, _ = self.loss(x)
            self._track_best(x, total)

    # -- results ----------------------------------------------------------------------------
    def to_image(self, x: torch.Tensor | None = None) -> Image.Image:
        x = self.best_x if x is None else x
        rgb = self._finish(self.network.preprocess.from_net(x.detach().float()).clamp(0, 1))
        return to_pil(rgb)

    def best_image(self) -> Image.Image:
        """The lowest-loss image so far, clamped to valid pixels, denoised if asked."""
        rgb = self._finish(self.network.preprocess.from_net(self.best_x.float()).clamp(0, 1))
        if self.options.denoise > 0:
            rgb = tv_denoise(rgb, self.options.denoise)
        return to_pil(rgb)


class _Projected:
    """A torch optimiser followed by projection onto the pixel box: projected (stochastic) gradient."""

    def __init__(self, opt: torch.optim.Optimizer, x: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor]) -> None:
        self.opt, self.x, self.bounds = opt, x, bounds

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.opt.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        loss = self.opt.step(closure)
        with torch.no_grad():
            self.x.clamp_(*self.bounds)
        return loss


def stylize_iter(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    options: Options | None = None,
    **overrides: object,
) -> Run:
    """A :class:`Run` to iterate: yields ``Step(step, losses, image)``; ``best_image()`` at any time."""
    from .multiscale import make_run  # a Run, or one per size with --scales

    return make_run(content, style, options, **overrides)  # type: ignore[return-value]


def stylize(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    options: Options | None = None,
    **overrides: object,
) -> Image.Image:
    """Paint ``content`` in the manner of ``style`` (a path, a PIL image, or a list of them)."""
    from .multiscale import make_run  # a Run, or one per size with --scales

    run = make_run(content, style, options, **overrides)
    for _ in run:
        pass
    return run.best_image()
