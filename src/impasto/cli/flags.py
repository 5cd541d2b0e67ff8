"""The engine's flags, made from the option table (``impasto.options``): one flag per option,
its help and its default taken from there, so a default is written once.

Every flag defaults to "not given", so only what the user typed overrides a preset.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..options import Knob, Options, flag, knobs
from ..values import PARSE, number


THREADS = number(int, least=1)  # --threads of every command that takes it
METAVAR = {"number": "X", "whole": "N", "seed": "N", "layers": "LAYERS", "weights": "W,...", "sizes": "N|EDGES",
           "text": "TEXT", "masks": "MASK"}


def _shown(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v) or "none"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def help_text(name: str, k: Knob) -> str:
    default = Options.__dataclass_fields__[name].default
    shown = "" if default is None else f" (default: {_shown(default)})"
    return k.help + shown


LIST_KINDS = ("layers", "weights", "sizes")  # one value is itself a comma list: a sweep separates by ';'


def sweep(kind: str) -> Callable[[str], tuple[Any, ...]]:
    """argparse type for ``impasto batch``: several values of one option, each parsed as its flag
    parses one (``1e2,1e3`` for a number; ``relu1_1,relu2_1;relu3_1`` for a list of layers)."""
    one, sep = PARSE[kind], ";" if kind in LIST_KINDS else ","

    def parse(text: str) -> tuple[Any, ...]:
        values = tuple(one(v.strip()) for v in text.split(sep) if v.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"expected at least one value, not {text!r}")
        return values

    parse.__name__ = getattr(one, "__name__", kind)
    return parse


def add_option_flags(p: argparse.ArgumentParser, defaults: Options | None = None, sweeps: bool = False) -> None:
    """Add every option as a flag. ``defaults``: the base the command starts from (its help shows them).
    ``sweeps``: each flag takes several values (a batch runs every combination)."""
    base = defaults or Options()
    group = p.add_argument_group("style transfer options" + (" (several values: one job per combination; "
                                                              "list-valued options separate values by ';')"
                                                              if sweeps else ""))
    for name, k in knobs().items():
        help_ = help_text(name, k)
        if defaults is not None and getattr(base, name) != Options.__dataclass_fields__[name].default:
            help_ = f"{k.help} (default here: {_shown(getattr(base, name))})"
        metavar = "{" + ",".join(k.choices) + "}" if k.kind == "choice" else METAVAR[k.kind]
        action = "append" if k.kind == "masks" else "store"
        kind = sweep(k.kind) if sweeps and k.kind != "masks" else PARSE[k.kind]
        group.add_argument(flag(name), dest=name, type=kind, action=action, default=argparse.SUPPRESS,
                           metavar=metavar, help=help_)
    group.add_argument("--gpu", type=number(int), default=argparse.SUPPRESS, metavar="N",
                       help="GPU index, -1 for the CPU (alias of --device)")
    group.add_argument("--preset", default=None, type=sweep("text") if sweeps else str,
                       help="gatys, keras-vgg16, tf-adam, tds or mxnet")


def typed(args: argparse.Namespace) -> dict[str, object]:
    """The options the user typed (not their defaults), by field name."""
    out = {k: v for k, v in vars(args).items() if k in knobs()}
    if "gpu" in vars(args):
        out["device"] = "cpu" if args.gpu < 0 else f"cuda:{args.gpu}"
    return out
