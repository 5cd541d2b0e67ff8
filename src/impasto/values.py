"""Option values typed as text, read one way wherever they are typed: a flag, a batch manifest's
cell, a sweep ("1e3" is a number, "relu1_1,relu2_1" a list of layers). Errors come back as
``argparse.ArgumentTypeError`` so the command line reports them in its one-line form; the
manifest reports them against its line. Pure Python.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, not {text!r}") from None


def ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, not {text!r}") from None


def names(text: str) -> tuple[str, ...]:
    return tuple(v for v in text.replace(",", " ").split() if v)


def number(kind: type, least: float | None = None) -> Callable[[str], Any]:
    """argparse type for one int or float (at least ``least``), with an error in our words."""
    word = "whole number" if kind is int else "number"
    bound = "" if least is None else f" of at least {least:g}"

    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {word}{bound}, not {text!r}") from None
        if least is not None and v < least:
            raise argparse.ArgumentTypeError(f"expected a {word}{bound}, not {text!r}")
        return v

    parse.__name__ = kind.__name__
    return parse


PARSE: dict[str, Callable[[str], Any]] = {
    "number": number(float), "whole": number(int), "seed": number(int), "layers": names,
    "weights": floats, "sizes": ints, "choice": str, "text": str, "masks": str,
}
