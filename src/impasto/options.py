"""Every knob of a style-transfer run, in one typed dataclass shared by the CLI and the API.

Defaults follow Gatys et al. where the paper is clear (VGG-19, Caffe weights, average pooling,
conv4_2 content, conv1_1..conv5_1 style with equal weights, alpha/beta = 1e-3, L-BFGS) and were
chosen by measurement where it is not (content init, iteration count; see BENCHMARKS.md).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

from .errors import ImpastoError
from .vgg import ARCHS, canonical_layer

PAPER_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam", "sgd")
PRECISIONS = ("auto", "fp32", "tf32", "bf16")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 2.0, "sgd": 0.1}


@dataclass
class Options:
    # The network and its weights.
    arch: str = "vgg19"
    weights: str = "caffe"  # 'caffe', 'torchvision' or a path to a state dict
    preprocess: str | None = None  # for a weights file: 'caffe' or 'torchvision' (guessed if None)
    pooling: str = "avg"

    # What is matched where.
    content_layers: tuple[str, ...] = ("relu4_2",)
    content_layer_weights: tuple[float, ...] | None = None  # default: equal, summing to 1
    style_layers: tuple[str, ...] = PAPER_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None  # default: equal, summing to 1 (w_l = 1/5)
    style_blend: tuple[float, ...] | None = None  # one weight per style image; default equal

    # alpha, beta and the smoother.
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 1e-3
    tv_beta: float = 2.0

    # The optimiser.
    optimizer: str = "lbfgs"
    lr: float | None = None  # default per optimiser (DEFAULT_LR); Adam/SGD steps in pixel levels
    iterations: int = 500
    stop_eps: float = 0.0  # stop when |L(t-w) - L(t)| / L(t) < stop_eps over stop_window steps
    stop_window: int = 10
    init: str = "content"  # 'noise', 'content', 'style' or an image path
    init_noise: float = 0.0  # blend this much noise into a content/style/file init
    seed: int | None = 0

    # Images.
    max_long_edge: int = 512
    style_scale: float = 1.0
    denoise: float = 0.0
    max_pixels: int = 89_478_485
    save_every: int = 0  # write an intermediate image every N steps (CLI); 0 = never

    # Hardware.
    device: str = "auto"
    precision: str = "auto"

    # Beyond the paper (validated by beyond.check_options; see docs/beyond.md).
    color: str = "style"  # 'style', 'luminance', 'histogram' or 'only'
    masks: tuple[object, ...] | None = None  # one mask (path or PIL image) per style image
    scales: tuple[int, ...] = ()  # (N,) for N sizes, or the long edges coarse to fine
    memory: str = "auto"  # 'auto', 'full' (plain autograd), 'checkpoint' or 'tiled'
    tile: int = 1024  # tile side for tiled statistics and tiled optimisation

    def replace(self, **changes: object) -> "Options":
        return dataclasses.replace(self, **changes)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def validated(self) -> "Options":
        """A copy with layer names made canonical, or an ImpastoError naming the bad value."""
        if self.arch not in ARCHS:
            raise ImpastoError(f"unknown network {self.arch!r}; choose vgg19 or vgg16")
        if self.pooling not in ("max", "avg"):
            raise ImpastoError(f"unknown pooling {self.pooling!r}; choose max or avg")
        if self.optimizer not in OPTIMIZERS:
            raise ImpastoError(f"unknown optimizer {self.optimizer!r}; choose {', '.join(OPTIMIZERS)}")
        if self.precision not in PRECISIONS:
            raise ImpastoError(f"unknown precision {self.precision!r}; choose {', '.join(PRECISIONS)}")
        for name in ("content_weight", "style_weight", "tv_weight", "denoise", "stop_eps", "init_noise"):
            _finite(name, getattr(self, name), lower=0.0)
        for name in ("style_scale", "tv_beta"):
            _finite(name, getattr(self, name), lower=0.0, strict=True)
        if self.lr is not None:
            _finite("lr", self.lr, lower=0.0, strict=True)
        if not isinstance(self.save_every, int) or self.save_every < 0:
            raise ImpastoError(f"--save-every must be a whole number of at least 0, not {self.save_every!r}")
        for name in ("iterations", "max_long_edge", "stop_window", "max_pixels"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ImpastoError(f"{_flag(name)} must be a whole number of at least 1, not {v!r}")
        if self.max_long_edge < 16:
            raise ImpastoError(f"--max-long-edge must be at least 16 pixels, not {self.max_long_edge}")
        if not self.content_layers and self.content_weight > 0:
            raise ImpastoError("no content layers given")
        if not self.style_layers and self.style_weight > 0:
            raise ImpastoError("no style layers given")
        content = tuple(canonical_layer(n, self.arch) for n in self.content_layers)
        style = tuple(canonical_layer(n, self.arch) for n in self.style_layers)
        _layer_weights("content_layer_weights", self.content_layer_weights, content)
        _layer_weights("style_layer_weights", self.style_layer_weights, style)
        if self.style_blend is not None:
            for w in self.style_blend:
                _finite("style_blend", w, lower=0.0)
            if sum(self.style_blend) <= 0:
                raise ImpastoError("--style-blend weights must not all be zero")
        from .beyond import check_options

        check_options(self)
        return self.replace(content_layers=content, style_layers=style)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _finite(name: str, v: object, lower: float, strict: bool = False) -> None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if not ok or v < lower or (strict and v == lower):
        bound = "greater than" if strict else "at least"
        raise ImpastoError(f"{_flag(name)} must be a number {bound} {lower:g}, not {v!r}")


def _layer_weights(name: str, weights: tuple[float, ...] | None, layers: tuple[str, ...]) -> None:
    if weights is None:
        return
    if len(weights) != len(layers):
        raise ImpastoError(f"{_flag(name)} needs {len(layers)} values, one per layer, not {len(weights)}")
    for w in weights:
        _finite(name, w, lower=0.0)


def layer_weights(weights: tuple[float, ...] | None, layers: tuple[str, ...]) -> tuple[float, ...]:
    """Explicit per-layer weights, or equal ones summing to 1 (the paper's w_l = 1/|L|)."""
    return tuple(weights) if weights is not None else tuple(1.0 / len(layers) for _ in layers)


def option_names() -> list[str]:
    return [f.name for f in fields(Options)]
