"""Exceptions as the one line a user reads: the only place that knows their texts."""

from __future__ import annotations

from ..errors import ImpastoError


def is_out_of_memory(e: BaseException) -> bool:
    # torch.OutOfMemoryError is a RuntimeError; a CPU allocation failure is a MemoryError
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "out of memory" in str(e).lower())


def one_line(e: BaseException, smaller: str = "--max-long-edge") -> str | None:
    """What went wrong, in one line naming the setting to change (``smaller``: how this shell
    calls the output size), or None when the exception is a bug rather than the input's or the
    machine's fault (the caller then logs it in full)."""
    if isinstance(e, ImpastoError):
        return str(e)
    if is_out_of_memory(e):
        return f"the device ran out of memory; try a smaller {smaller} or --precision bf16" \
            if smaller.startswith("--") else f"the device ran out of memory; try a smaller {smaller}"
    if isinstance(e, RuntimeError) and "output size is too small" in str(e).lower():
        return f"the image is too small or too narrow for the network; try a larger {smaller}"
    return None


def bug_line(e: BaseException) -> str:
    """A bug's exception type and first line, for a record that must say something."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else 'no message'}"[:300]
