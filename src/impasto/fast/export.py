"""ONNX export: the same network for onnxruntime, browsers and phones.

The graph takes RGB in [0, 1], shape (N, 3, H, W) with N, H and W free, H and W multiples of 4,
and returns the painting clamped to [0, 1]. :func:`run_onnx` does the padding to a multiple of 4
that :func:`impasto.fast.transformer.paint` does, so both give the same image.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..images.atomic import atomic_path
from ..errors import ImpastoError
from .painting import ModelLike, as_model
from .transformer import TransformerNet

OPSET = 17


class _Clamped(nn.Module):
    def __init__(self, net: TransformerNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).clamp(0, 1)


def export_onnx(model: ModelLike, out: str | os.PathLike[str]) -> Path:
    """Write ``model`` as an ONNX file at ``out`` (atomically)."""
    m = as_model(model, "cpu")
    p = Path(out)
    if p.is_dir() or not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise ImpastoError(f"cannot write {p}: not a file in an existing folder")
    wrapped = _Clamped(m.net.to("cpu").eval())
    example = torch.rand(1, 3, 64, 64)
    with atomic_path(p) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                wrapped, (example,), str(tmp), input_names=["image"], output_names=["painting"],
                dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                              "painting": {0: "batch", 2: "height", 3: "width"}},
                opset_version=OPSET, dynamo=False,
            )
        except OSError as e:
            raise ImpastoError(f"cannot write {p}: {e.strerror or e}") from None
    return p


def run_onnx(path: str | os.PathLike[str], rgb: np.ndarray) -> np.ndarray:
    """Paint a float32 (N, 3, H, W) array in [0, 1] with an exported model under onnxruntime."""
    import onnxruntime as ort

    h, w = rgb.shape[-2:]
    ph, pw = (-h) % 4, (-w) % 4
    x = np.pad(rgb, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect" if h > ph and w > pw else "edge")
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ImpastoError(f"{path} is not an ONNX model onnxruntime can load ({type(e).__name__})") from None
    y = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x, dtype=np.float32)})[0]
    return y[..., :h, :w]
