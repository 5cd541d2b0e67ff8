"""What a feed-forward style is and how it is trained: the network's size and the training
options. Pure Python, so the CLI shows their defaults without loading torch."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

from ..errors import ImpastoError
from ..options import Resolved, flag, knobs, resolve

MODEL_NOTE = "a feed-forward --model paints in one pass"

# What the loss network looks like: ``classic`` is the loss every model shipped so far learnt (the
# raw Caffe VGG-19, average pooling, equal style layer weights); ``default`` is the optimisation
# engine's default look (the normalised VGG-19, max pooling, 1/N^2 layer weights).
LOOKS = {
    "classic": dict(weights="caffe", pooling="avg", style_layer_weighting="equal"),
    "default": dict(weights="caffe-normalized", pooling="max", style_layer_weighting="inverse-square"),
}
# beta per look when none is given. classic: the recipe of the shipped models. default: between
# the classic recipe's balance carried over unit for unit (about 7.4e6) and the engine's default
# run's (1.2e8), at their geometric mean: in a short CPU trial the engine's cost a network 58 %
# more content loss for 12 % less style loss (docs/fast.md, "The loss's look").
LOOK_BETA = {"classic": 1e3, "default": 3e7}


@dataclass(frozen=True)
class NetSize:
    """The network's shape, stored in every model file so it can be rebuilt."""

    width: int = 32
    blocks: int = 5
    skip: bool = False
    bounded: bool = False  # a sigmoid on the output (files from before it existed have none)

    def validated(self) -> "NetSize":
        for name, v, lo, hi in (("width", self.width, 4, 256), ("blocks", self.blocks, 0, 32)):
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ImpastoError(f"network {name} must be a whole number from {lo} to {hi}, not {v!r}")
        for name in ("skip", "bounded"):
            if not isinstance(getattr(self, name), bool):
                raise ImpastoError(f"network {name} must be true or false, not {getattr(self, name)!r}")
        if self.skip and self.bounded:
            raise ImpastoError("network skip and bounded do not go together (a skip network returns the photo "
                               "plus a correction)")
        return self

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


def model_run_settings(chosen: dict[str, object]) -> dict[str, object]:
    """What a feed-forward model run takes from the engine options a user gave (``stylize
    --model``, a batch job with a model), or an ImpastoError naming one it cannot honour:
    refused rather than ignored, since a model paints in one pass and has no steps or layers."""
    for name, value in chosen.items():
        k = knobs()[name]
        ok = k.with_model is True or (isinstance(k.with_model, tuple) and value in k.with_model)
        if not ok:
            what = flag(name) if not isinstance(k.with_model, tuple) else f"{flag(name)} {value}"
            raise ImpastoError(f"{what} does not apply to --model ({MODEL_NOTE}); drop it or drop --model")
    o = resolve(**chosen)  # checks the values of the options that do apply
    return {"long_edge": o.max_long_edge if "max_long_edge" in chosen else None, "max_pixels": o.max_pixels,
            "device": o.device, "precision": o.precision, "color": o.color, "denoise": o.denoise}


def setting(default: object, help: str) -> object:
    return field(default=default, metadata={"help": help})


@dataclass
class TrainOptions:
    """Everything that decides what a training run learns. Defaults suit a GPU and BSDS500.

    Each field's help is the ``impasto train`` flag's help (cli/fast.py makes the flags from here)."""

    steps: int = setting(4000, "training steps")
    batch: int = setting(4, "photos per step")
    crop: int = setting(256, "crop side in pixels")
    style_size: int = setting(256, "style image long edge for its statistics; larger = bigger strokes")
    lr: float = setting(1e-3, "Adam learning rate")
    warmup: int = setting(100, "steps over which the learning rate rises linearly from 0")
    width: int = setting(32, "channels of the first layer")
    blocks: int = setting(5, "residual blocks")
    skip: bool = setting(False, "add the input to the output (not the paper's network)")
    bounded: bool = setting(True, "end in a sigmoid, so the output stays a picture (without it the Johnson-size "
                                  "network collapsed into flat colour: docs/fast.md); not with --skip")
    look: str = setting("classic", "the loss network's look: classic (raw Caffe VGG-19, average pooling, equal "
                                   "layer weights: the shipped models' loss) or default (the engine's default look: "
                                   "normalised VGG-19, max pooling, 1/N^2 layer weights)")
    content_weight: float = setting(1.0, "alpha")
    style_weight: float = setting(0.0, "beta; 0 = the look's own (classic 1e3, default 3e7)")
    tv_weight: float = setting(1e-3, "total-variation weight")
    seed: int = setting(0, "seed for the crops and the initial weights")
    preview_every: int = setting(100, "write OUT_preview_NNNNN.png every N steps, 0 = never")
    checkpoint_every: int = setting(500, "write OUT.ckpt every N steps")
    log_every: int = setting(10, "read the losses from the device every N steps (each read waits for it)")
    device: str = setting("auto", "auto (the GPU when there is one), cpu, cuda, mps")
    precision: str = setting("auto", "auto (bf16 on CPUs with AMX/AVX512-BF16, tf32 on CUDA), fp32, tf32 or bf16")
    cuda_graph: bool = setting(False, "replay each whole training step from one CUDA graph (CUDA only; falls back "
                                      "to plain steps if capture fails)")

    def validated(self) -> "TrainOptions":
        for name in ("steps", "batch", "crop", "style_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ImpastoError(f"--{name.replace('_', '-')} must be a whole number of at least 1, not {v!r}")
        if self.crop < 16 or self.crop % 4:
            raise ImpastoError(f"--crop must be a multiple of 4 and at least 16, not {self.crop}")
        for name in ("preview_every", "checkpoint_every", "warmup"):
            if getattr(self, name) < 0:
                raise ImpastoError(f"--{name.replace('_', '-')} must be at least 0")
        if self.look not in LOOKS:
            raise ImpastoError(f"--look must be one of {', '.join(LOOKS)}, not {self.look!r}")
        if not self.style_weight >= 0:
            raise ImpastoError(f"--style-weight must be at least 0, not {self.style_weight}")
        if not self.lr > 0:
            raise ImpastoError(f"--lr must be greater than 0, not {self.lr}")
        if not isinstance(self.log_every, int) or isinstance(self.log_every, bool) or self.log_every < 1:
            raise ImpastoError(f"--log-every must be a whole number of at least 1, not {self.log_every!r}")
        self.net_size()
        self.loss_options()  # checks the weights and the precision
        return self

    def net_size(self) -> NetSize:
        """The network these options train (``skip`` wins over ``bounded``: its output is the photo
        plus a correction, which a sigmoid would distort)."""
        return NetSize(self.width, self.blocks, self.skip, self.bounded and not self.skip).validated()

    def beta(self) -> float:
        """The style weight in force: the one given, else the look's own."""
        return self.style_weight or LOOK_BETA[self.look]

    def loss_options(self) -> Resolved:
        """The engine options of the loss: these weights, device and precision on the network,
        pooling and layer weights of ``look``, pinned here so that a later change of the engine's
        defaults leaves what a training run learns alone."""
        return resolve(content_weight=self.content_weight, style_weight=self.beta(),
                       tv_weight=self.tv_weight, device=self.device, precision=self.precision,
                       scales=(1,), **LOOKS[self.look])

    def record(self) -> dict:
        """The options as a model file stores them, with the beta in force spelt out."""
        return {**dataclasses.asdict(self), "style_weight": self.beta()}
