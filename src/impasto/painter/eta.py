"""Seconds left in a coarse-to-fine run, from what its steps have cost so far.

A step's cost grows with the pixels of its size, so a run whose first size is a quarter of the
last one must not price the steps to come at the first size's rate. The rate is measured on the
current size (once it has two steps to time) and carried to the later sizes in proportion to
their pixels; before that the previous size's rate is scaled up the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


def seconds_left(rate: float, size: int, left_here: int, sizes: Sequence[int], caps: Sequence[int]) -> float:
    """``rate``: seconds a step of size ``size`` costs; ``left_here``: its steps still to run;
    ``sizes``: every size's long edge; ``caps``: every size's step cap."""
    ahead = sum(cap * (sizes[j] / sizes[size]) ** 2 for j, cap in enumerate(caps) if j > size)
    return rate * (max(0, left_here) + ahead)


@dataclass
class Eta:
    """Feed it each step (size index, steps done in that size, the time); it answers the
    seconds left, or None while nothing has been timed."""

    sizes: Sequence[int]
    caps: Sequence[int]
    _size: int = -1
    _first: tuple[int, float] = (0, 0.0)  # (step in size, time) of the size's first timed step
    _rate: float | None = None
    _rates: dict[int, float] = field(default_factory=dict)

    def update(self, size: int, size_step: int, now: float) -> float | None:
        if size != self._size:
            self._size, self._first = size, (size_step, now)
        n0, t0 = self._first
        if size_step > n0:
            self._rates[size] = (now - t0) / (size_step - n0)
        rate = self._rates.get(size)
        if rate is None and self._rates:  # this size's first step: the last size's rate, scaled
            last = max(self._rates)
            rate = self._rates[last] * (self.sizes[size] / self.sizes[last]) ** 2
        if rate is None:
            return None
        return seconds_left(rate, size, self.caps[size] - size_step, self.sizes, self.caps)
