"""Picking the device and the arithmetic the network runs in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..errors import ImpastoError


def resolve_device(spec: str | int) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'mps', or a GPU index where -1 means the CPU."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.lstrip("-").isdigit()):
        n = int(spec)
        spec = "cpu" if n < 0 else f"cuda:{n}"
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise ImpastoError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ImpastoError("CUDA was asked for but no CUDA GPU is available; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ImpastoError(f"no GPU {dev.index}: this machine has {torch.cuda.device_count()}")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ImpastoError("MPS was asked for but is not available on this machine")
    elif dev.type != "cpu":
        raise ImpastoError(f"unsupported device {spec!r}")
    return dev


def native_bf16(device: torch.device) -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX512-BF16).

    Without it bf16 is emulated and slower than fp32, so 'auto' must not pick it.
    """
    if device.type != "cpu":
        return False
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_precision(device: torch.device, precision: str) -> str:
    """What 'auto' means here: tf32 on CUDA, bf16 on CPUs with native bf16, fp32 elsewhere.

    bf16 convolutions cut the step time 2.3x on the 2-core AMD EPYC (AVX512-BF16) machines and
    3.5-4x on the Intel AMX ones; scored in fp32, the loss stays within 3.3 % of fp32's for 200
    steps and ends 6.3 % higher after 500, so bf16 is ahead for any time budget (BENCHMARKS.md),
    hence the default. ``--precision fp32`` buys the last few per cent.
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "tf32"
    return "bf16" if native_bf16(device) else "fp32"


def prefers_channels_last(device: torch.device, precision: str) -> bool:
    """NHWC is the fast layout for cuDNN and for oneDNN's bf16 kernels; NCHW for fp32 on CPU."""
    return device.type == "cuda" or (device.type == "cpu" and resolve_precision(device, precision) == "bf16")


@contextlib.contextmanager
def cuda_flags(device: torch.device, precision: str) -> Iterator[None]:
    """On CUDA: TF32 in convolutions only where the precision allows it (never in the Grams), and
    cuDNN autotuning, restored afterwards. The backward pass needs them as much as the forward:
    outside them PyTorch's defaults would run it (and checkpointing's recompute) in TF32."""
    if device.type != "cuda":
        yield
        return
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    torch.backends.cuda.matmul.allow_tf32 = False  # Gram matrices stay full fp32
    torch.backends.cudnn.allow_tf32 = resolve_precision(device, precision) in ("tf32", "bf16")
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        (
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark,
        ) = saved


@contextlib.contextmanager
def precision_context(device: torch.device, precision: str) -> Iterator[None]:
    """The forward pass in ``precision`` ('auto' as :func:`resolve_precision`): :func:`cuda_flags`,
    and bf16 autocast for the convolutions only (Grams and losses are computed in fp32 by the
    loss functions)."""
    precision = resolve_precision(device, precision)
    with cuda_flags(device, precision):
        if precision == "bf16" and device.type in ("cpu", "cuda"):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                yield
        else:
            yield
