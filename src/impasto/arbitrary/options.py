"""How the arbitrary-style decoder is trained. Pure Python, so the CLI shows the defaults
without loading torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import ImpastoError
from ..fast.options import setting  # a field with its flag's help, as TrainOptions' are


@dataclass
class ArbitraryTrainOptions:
    """Everything that decides what the decoder learns. Defaults are the CPU recipe (BENCHMARKS.md,
    "Any painting"); Huang & Belongie trained 160,000 steps of 8 crops of 256 px at lr 1e-4."""

    steps: int = setting(40000, "training steps")
    batch: int = setting(8, "photo/painting pairs per step")
    crop: int = setting(128, "photo crop side in pixels")
    style_crop: int = setting(128, "painting crop side in pixels")
    lr: float = setting(1e-4, "Adam learning rate")
    lr_decay: float = setting(5e-5, "the rate at step s is lr / (1 + lr_decay * s), as Huang & Belongie")
    style_weight: float = setting(10.0, "lambda: the style term's weight against the content term")
    widths: tuple[int, int, int] = setting((256, 128, 64), "decoder channels, deepest stage first")
    seed: int = setting(0, "seed for the crops and the initial weights")
    preview_every: int = setting(500, "write OUT_preview_NNNNN.png every N steps, 0 = never")
    checkpoint_every: int = setting(200, "write OUT.ckpt every N steps")
    log_every: int = setting(20, "read the losses from the device every N steps")
    device: str = setting("auto", "auto (the GPU when there is one), cpu, cuda, mps")
    precision: str = setting("auto", "auto (bf16 on CPUs with AMX/AVX512-BF16, tf32 on CUDA), fp32, tf32 or bf16")

    def validated(self) -> "ArbitraryTrainOptions":
        for name in ("steps", "batch", "crop", "style_crop", "checkpoint_every", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ImpastoError(f"--{name.replace('_', '-')} must be a whole number of at least 1, not {v!r}")
        for name in ("crop", "style_crop"):
            if getattr(self, name) % 8 or getattr(self, name) < 32:
                raise ImpastoError(f"--{name.replace('_', '-')} must be a multiple of 8 and at least 32")
        if not self.lr > 0 or self.lr_decay < 0 or self.style_weight < 0 or self.preview_every < 0:
            raise ImpastoError("--lr must be positive; --lr-decay, --style-weight, --preview-every at least 0")
        if len(self.widths) != 3 or not all(isinstance(w, int) and 8 <= w <= 1024 for w in self.widths):
            raise ImpastoError(f"--widths must be three whole numbers from 8 to 1024, not {self.widths!r}")
        return self

    def record(self) -> dict:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        return d


# What `--model any` honours beyond what every feed-forward model does (fast.options.model_run_settings):
# the balance, the blend and the paintings' scale mean the same to the network as to the engine.
ANY_KNOBS = ("style_weight", "style_blend", "style_scale", "color")


def any_run_settings(chosen: dict[str, object]) -> dict[str, object]:
    """The settings of a ``--model any`` run from the engine options a user gave, or an
    ImpastoError naming one the network cannot honour. ``--style-weight`` sets the balance
    (AdaIN's alpha) relative to the default look's beta: the default (or more) is all style,
    half of it keeps half the photo's features; every ``--color`` mode applies."""
    from ..fast.options import model_run_settings
    from ..options import default_style_weight, resolve

    extra = {k: v for k, v in chosen.items() if k in ANY_KNOBS}
    settings = model_run_settings({k: v for k, v in chosen.items() if k not in ANY_KNOBS})
    o = resolve(**chosen)
    settings.update(color=o.color, blend=o.style_blend, style_scale=o.style_scale,
                    alpha=min(1.0, o.style_weight / default_style_weight(o.weights))
                    if "style_weight" in extra else 1.0)
    return settings
