"""Every knob of a style-transfer run, each defined once: its default, its flag, its help, its check.

``Options`` is what a user asks for (the CLI, the Python API, the web page and the batch manifest
all fill one in). ``resolve`` turns it, once, into a ``Resolved``: checked, layer names made
canonical, every derived value filled in (layer weights, learning rate, the sizes of a
coarse-to-fine run). The engine takes only a ``Resolved`` and never checks again. The CLI builds
its flags, their defaults and their help from the field table below, so a default lives here
and nowhere else.

Defaults follow Gatys et al. (the Caffe VGG-19 normalised as in their CVPR 2016 paper, conv4_2
content, conv1_1..conv5_1 style, L-BFGS), their code's 1/N^2 style layer weights, and measurements
where neither settles it (max pooling, beta, the photo as start, coarse to fine, the stop rule:
BENCHMARKS.md, "The default look").

Pure Python on purpose: ``impasto --help`` and argument errors answer without importing torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ImpastoError
from .features.layers import ARCHS, PAPER_STYLE_LAYERS, canonical_layer, layer_width
from .presets import PRESETS

DEFAULT_LR = {"lbfgs": 1.0, "adam": 2.0, "sgd": 0.1}
# --init values that name no file (instant: the arbitrary-style network's painting, made by engine.prepare)
BUILTIN_INITS = ("noise", "content", "style", "instant")
MAX_SCALE_COUNT = 8  # --scales N with N up to this; larger single values are long edges
MIN_COARSE = 64  # --scales N makes no size with a shorter long edge
# The default look's beta for its 1/N^2 layer weights and max pooling, per network (measured:
# BENCHMARKS.md, "The default look"). A normalised network's Grams are in other units than the
# raw one's, so one number cannot serve both; torchvision's and a user's file get the raw one's.
DEFAULT_BETA = {"caffe-normalized": 1.2e8}
DEFAULT_BETA_OTHER = 1.93e4


def default_style_weight(weights: str) -> float:
    """The beta a run on ``weights`` gets when the user gives none."""
    return DEFAULT_BETA.get(weights, DEFAULT_BETA_OTHER)


@dataclass(frozen=True)
class Knob:
    """How one option is typed, checked and offered as a flag."""

    help: str
    kind: str  # choice | number | whole | layers | weights | sizes | text | seed | masks
    lo: float = 0.0  # least allowed value (numbers and whole numbers)
    strict: bool = False  # the least value itself is not allowed
    choices: tuple[str, ...] = ()
    flag: str | None = None  # default: --field-name
    metavar: str | None = None
    with_model: tuple[str, ...] | bool = False  # honoured by `stylize --model` (True, or the values that are)
    optional: bool = False  # None is allowed (and means the documented default)


def knob(default: Any, help: str, kind: str, **kw: Any) -> Any:
    return field(default=default, metadata={"knob": Knob(help, kind, **kw)})


@dataclass(frozen=True)
class Options:
    # The network and its weights.
    arch: Any = knob("vgg19", "the network", "choice", choices=tuple(ARCHS))
    weights: Any = knob("caffe-normalized", "caffe-normalized (the paper's VGG-19 with each filter's mean "
                        "activation scaled to one, as in the CVPR 2016 paper), caffe (the same as trained), "
                        "torchvision, or a .pth file", "text")
    preprocess: Any = knob(None, "for a weights file: caffe or torchvision (default: guessed from its keys)",
                           "choice", choices=("caffe", "torchvision"), optional=True)
    pooling: Any = knob("max", "max (the network as trained) or avg (the paper's choice; --preset gatys)",
                        "choice", choices=("avg", "max"))

    # What is matched where.
    content_layers: Any = knob(("relu4_2",), "content layers, comma-separated (relu4_2 is the paper's conv4_2)",
                               "layers")
    content_layer_weights: Any = knob(None, "one weight per content layer (default: equal, summing to 1)",
                                      "weights", optional=True)
    style_layers: Any = knob(PAPER_STYLE_LAYERS, "style layers, comma-separated", "layers")
    style_layer_weights: Any = knob(None, "one weight per style layer (default: as --style-layer-weighting "
                                    "says, summing to 1)", "weights", optional=True)
    style_layer_weighting: Any = knob("inverse-square", "inverse-square: 1/N^2 for a layer of N channels, as "
                                      "in the authors' code; equal: the paper's w_l = 1/|L|", "choice",
                                      choices=("inverse-square", "equal"))
    style_loss: Any = knob("gram", "gram (the paper's), w2 (Wasserstein-2 on means and covariances) or "
                           "sliced (sliced Wasserstein, Heitz et al. 2021)", "choice",
                           choices=("gram", "w2", "sliced"))
    style_blend: Any = knob(None, "one weight per style image (default: equal)", "weights", optional=True)

    # alpha, beta and the smoother.
    content_weight: Any = knob(1.0, "alpha", "number")
    style_weight: Any = knob(None, f"beta (default: the default look's, per network: "
                             f"{DEFAULT_BETA['caffe-normalized']:.3g} on caffe-normalized, {DEFAULT_BETA_OTHER:.3g} "
                             "on the others; BENCHMARKS.md, 'The default look')", "number", optional=True)
    tv_weight: Any = knob(1e-3, "total-variation weight", "number")
    tv_beta: Any = knob(2.0, "total-variation exponent", "number", strict=True)

    # The optimiser.
    optimizer: Any = knob("lbfgs", "the optimiser", "choice", choices=tuple(DEFAULT_LR))
    lr: Any = knob(None, "step size (default: L-BFGS 1; Adam 2 and SGD 0.1, in pixel levels)", "number",
                   strict=True, optional=True)
    iterations: Any = knob(500, "optimiser steps (at the coarsest size with --scales)", "whole", lo=1)
    stop_eps: Any = knob(0.005, "stop a size when its best loss improved by less than this fraction over "
                         "the last --stop-window steps (0 = never)", "number")
    stop_window: Any = knob(10, "... over this many steps", "whole", lo=1)
    init: Any = knob("content", "noise, content, style, instant (the arbitrary-style network's painting: "
                     "--model any), or an image path", "text")
    init_noise: Any = knob(0.0, "blend this much noise into the init (0-1)", "number")
    seed: Any = knob(0, "seed for the noise and the random parts of the losses", "seed", optional=True)

    # Images.
    max_long_edge: Any = knob(512, "long edge of the output in pixels", "whole", lo=16, with_model=True)
    style_scale: Any = knob(1.0, "style image size relative to the content", "number", strict=True)
    denoise: Any = knob(0.0, "final total-variation denoise strength, e.g. 0.02", "number", with_model=True)
    max_pixels: Any = knob(89_478_485, "refuse input images with more pixels than this", "whole", lo=1,
                           with_model=True)
    save_every: Any = knob(0, "write OUT_stem_0050.png ... every N steps (0 = never)", "whole")

    # Hardware.
    device: Any = knob("auto", "auto, cpu, cuda, cuda:N or mps", "text", with_model=True)
    precision: Any = knob("auto", "auto (bf16 on CPUs with AMX/AVX512-BF16, tf32 on CUDA, else fp32), "
                          "fp32, tf32 or bf16", "choice", choices=("auto", "fp32", "tf32", "bf16"),
                          with_model=True)
    cuda_graph: Any = knob("auto", "replay each L-BFGS step from CUDA graphs: auto/on where it applies "
                           "(CUDA, --optimizer lbfgs, --style-loss gram, whole-image memory; 2.4x faster steps "
                           "at 512 px on an H200: BENCHMARKS.md), off never", "choice",
                           choices=("auto", "off", "on"))

    # Beyond the paper (docs/beyond.md).
    color: Any = knob("style", "style, luminance, histogram or only (see docs/beyond.md)", "choice",
                      choices=("style", "luminance", "histogram", "only"), with_model=("style", "luminance"))
    masks: Any = knob(None, "per style image, in order: white = where that style goes (repeat)", "masks",
                      flag="--mask", optional=True)
    scales: Any = knob((2,), "N sizes coarse to fine (each half the next), or the long edges, e.g. "
                       "512,1024,2048; 1 = one size", "sizes")
    memory: Any = knob("auto", "auto, full, checkpoint or tiled", "choice",
                       choices=("auto", "full", "checkpoint", "tiled"))
    tile: Any = knob(1024, "tile side in pixels for tiled statistics and optimisation", "whole", lo=64)

    def replace(self, **changes: object) -> "Options":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Resolved(Options):
    """Options after :func:`resolve`: checked, canonical, every default that depends on others
    filled in (``lr``, the layer weights) and ``scales`` spelled out as the long edges to
    optimise at, coarse to fine (one entry for a single-scale run; its last is ``max_long_edge``).
    Only ``resolve`` makes one; the engine never checks one again."""

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the losses read, each once."""
        return tuple(dict.fromkeys(self.content_layers + self.style_layers))

    @property
    def size_iterations(self) -> tuple[int, ...]:
        """Steps per size: ``iterations`` at the coarsest, half as many at each larger one."""
        if self.iterations == 0:
            return tuple(0 for _ in self.scales)
        return tuple(max(1, self.iterations // 2**i) for i in range(len(self.scales)))

    def request(self) -> Options:
        """These values as a plain request, to vary and resolve again (a grid's cells)."""
        return Options(**{f.name: getattr(self, f.name) for f in fields(Options)})

    def record(self) -> dict[str, Any]:
        """JSON-ready values (images given as PIL objects are named, not embedded)."""
        def plain(v: Any) -> Any:
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            return v if v is None or isinstance(v, (bool, int, float, str)) else str(v)

        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


def from_record(record: dict[str, Any]) -> Resolved:
    """A :meth:`Resolved.record` read back: resolving a resolved record gives the same options
    (layer weights, sizes and beta are already spelled out), so what was stored is what runs."""
    names = set(knobs())
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k in names}
    return resolve(Options(**values))


def knobs() -> dict[str, Knob]:
    """Every option's Knob by field name, in table order (the CLI's flags, in order)."""
    return {f.name: f.metadata["knob"] for f in fields(Options)}


def flag(name: str) -> str:
    return knobs()[name].flag or "--" + name.replace("_", "-")


def resolve(options: Options | None = None, preset: str | None = None, **typed: object) -> Resolved:
    """Defaults, then a preset, then what the user typed (which always wins); checked once."""
    if isinstance(options, Resolved):
        if preset is None and not typed:
            return options
        raise TypeError("resolve() takes the Options a user gave, not an already resolved one")
    base = options or Options()
    if preset is not None:
        if preset not in PRESETS:
            raise ImpastoError(f"unknown preset {preset!r}; choose {', '.join(PRESETS)}")
        base = base.replace(**PRESETS[preset])
    unknown = sorted(set(typed) - set(knobs()))
    if unknown:
        raise ImpastoError(f"unknown option(s): {', '.join(unknown)}")
    o = base.replace(**typed)
    values = {name: _check(name, k, getattr(o, name)) for name, k in knobs().items()}
    values.update(_derived(values))
    return Resolved(**values)


def _check(name: str, k: Knob, v: Any) -> Any:
    """One value checked against its knob; returns it in canonical form."""
    if v is None and k.optional:
        return None
    if k.kind == "choice":
        if v not in k.choices:
            raise ImpastoError(f"unknown {flag(name)} {v!r}; choose {', '.join(k.choices)}")
    elif k.kind == "number":
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or v < k.lo or (k.strict and v == k.lo):
            bound = "greater than" if k.strict else "at least"
            raise ImpastoError(f"{flag(name)} must be a number {bound} {k.lo:g}, not {v!r}")
        return float(v)
    elif k.kind in ("whole", "seed"):
        if not isinstance(v, int) or isinstance(v, bool) or v < k.lo:
            raise ImpastoError(f"{flag(name)} must be a whole number of at least {k.lo:g}, not {v!r}")
    elif k.kind == "weights":
        if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)):
            raise ImpastoError(f"{flag(name)} must be a list of numbers, not {v!r}")
        return tuple(_check(name, Knob("", "number"), w) for w in v)
    elif k.kind == "layers":
        if isinstance(v, str):
            v = tuple(n for n in v.replace(",", " ").split() if n)
        return tuple(v)  # made canonical in _derived, once the network is known
    elif k.kind == "sizes":
        if isinstance(v, int) and not isinstance(v, bool):
            v = (v,)
        if not isinstance(v, (list, tuple)) or not all(isinstance(s, int) and not isinstance(s, bool) for s in v):
            raise ImpastoError(f"--scales must be whole numbers, not {v!r}")
        return tuple(v)
    elif k.kind == "masks":
        if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)):
            raise ImpastoError("masks must be a list with one mask per style image")
        if not v:
            raise ImpastoError("masks, when given, need one mask per style image")
        return tuple(v)
    elif k.kind == "text":
        if not isinstance(v, str) and not (name == "init" and hasattr(v, "size")):  # init may be a PIL image
            raise ImpastoError(f"{flag(name)} must be text, not {v!r}")
    return v


def _derived(v: Mapping[str, Any]) -> dict[str, Any]:
    """The cross-field checks and the values that follow from others."""
    arch = v["arch"]
    if v["weights"] in ("caffe", "caffe-normalized") and arch != "vgg19":
        raise ImpastoError("the Caffe weights are VGG-19 only; use --weights torchvision or a file for vgg16")
    if not v["content_layers"] and v["content_weight"] > 0:
        raise ImpastoError("no content layers given")
    beta = v["style_weight"] if v["style_weight"] is not None else default_style_weight(str(v["weights"]))
    if not v["style_layers"] and beta > 0:
        raise ImpastoError("no style layers given")
    content = tuple(canonical_layer(n, arch) for n in v["content_layers"])
    style = tuple(canonical_layer(n, arch) for n in v["style_layers"])
    out: dict[str, Any] = {
        "content_layers": content,
        "style_layers": style,
        "content_layer_weights": _layer_weights("content_layer_weights", v["content_layer_weights"], content),
        "style_layer_weights": _layer_weights("style_layer_weights", v["style_layer_weights"], style,
                                              layer_width if v["style_layer_weighting"] == "inverse-square" else None),
        "style_weight": beta,
        "lr": v["lr"] if v["lr"] is not None else DEFAULT_LR[v["optimizer"]],
        "seed": v["seed"],
    }
    if v["style_blend"] is not None and sum(v["style_blend"]) <= 0:
        raise ImpastoError("--style-blend weights must not all be zero")
    sizes = _sizes(v["scales"], v["max_long_edge"])
    out.update(scales=sizes, max_long_edge=sizes[-1])
    if v["color"] == "only":  # the style's palette alone: nothing to optimise, at the final size
        out.update(scales=sizes[-1:], iterations=0, init="content", init_noise=0.0)
    return out


def _layer_weights(name: str, weights: tuple[float, ...] | None, layers: tuple[str, ...],
                   width: Callable[[str], int] | None = None) -> tuple[float, ...]:
    """Explicit per-layer weights; else, given ``width`` (channels per layer), 1/N^2 summing to 1
    (the authors' code weights a Gram of N channels so: the shallow layers, whose Grams are small,
    count as much as the deep ones), or equal ones summing to 1 (the paper's w_l = 1/|L|)."""
    if weights is None:
        raw = [1.0 / width(n) ** 2 if width else 1.0 for n in layers]
        return tuple(w / sum(raw) for w in raw)
    if len(weights) != len(layers):
        raise ImpastoError(f"{flag(name)} needs {len(layers)} values, one per layer, not {len(weights)}")
    return weights


def _sizes(scales: tuple[int, ...], final: int) -> tuple[int, ...]:
    """``--scales N``: up to N long edges halving down from ``final``, none under MIN_COARSE (a
    smaller picture holds too little for the deep layers to see: a small output simply gets
    fewer sizes); or the long edges themselves."""
    if not scales:
        return (final,)
    if len(scales) == 1:
        n = scales[0]
        if n < 1:
            raise ImpastoError(f"--scales must be at least 1, not {n}")
        if MAX_SCALE_COUNT < n < 16:
            raise ImpastoError(f"--scales {n}: give at most {MAX_SCALE_COUNT} scales, or long edges of at least 16 pixels")
        if n <= MAX_SCALE_COUNT:
            halved = {round(final / 2 ** (n - 1 - i)) for i in range(n)}
            return tuple(sorted({e for e in halved if e >= MIN_COARSE} | {final}))
        return (n,)
    if any(s < 16 for s in scales):
        raise ImpastoError(f"--scales: every long edge must be at least 16 pixels, not {min(scales)}")
    if list(scales) != sorted(set(scales)):
        raise ImpastoError("--scales: give the long edges from small to large, each once")
    return tuple(scales)
