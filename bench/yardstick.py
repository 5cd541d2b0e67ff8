"""Scores for a written image that no tool optimises, plus the matched objective, all in fp32.

Every tool's output file is scored by the same function, against the same pre-resized content
and style files (``bench.inputs``), on the Caffe VGG-19 (max pooling, the network as trained)
in fp32 whatever precision made the image:

* ``content_error``: ||F(x) - F(c)|| / ||F(c)|| at relu4_2, F the layer's activations;
* ``style_error``: the mean over relu1_1 .. relu5_1 of ||G(x) - G(s)|| / ||G(s)||, G the Gram
  matrix divided by the number of positions (so that images of different sizes compare).

Both are relative errors (0 = identical, 1 = as far as the target is from zero), with no
weights to tune, so no tool's loss is this. They are reported side by side rather than summed:
summing needs a content/style weight, and that weight is what the tools disagree on.

``matched`` is the common objective the time-to-quality runs minimise: pastiche's default loss
(0.01 x MSE of relu4_2, plus per style layer 10 / C^2 x MSE of the position-normalised Grams),
which ``bench.peers.MATCHED`` writes in impasto's units and ``NEURAL_STYLE_MATCHED`` in
neural-style-pt's. On a start image it equals the loss pastiche logs at step 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .impasto_api import VGGFeatures, load_weights

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
POOLING = "max"
MATCHED_CONTENT = 0.01  # pastiche's default content layer weight (on the MSE)
MATCHED_STYLE = 10.0  # pastiche's default style layer weight, divided by C^2 (on the MSE of Grams)


def gram(f: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) activations -> (C, C) Gram matrix over positions, divided by H*W (in float64:
    the same sums on every device)."""
    _, c, h, w = f.shape
    x = f.reshape(c, h * w).double()
    return x @ x.T / (h * w)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b||, in float64 so that small differences are not rounded away."""
    a, b = a.double(), b.double()
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


class Yardstick:
    """Loads the network and the targets once; ``score`` then rates any number of image files."""

    def __init__(self, content: Path, style: Path, device: str = "cpu") -> None:
        w = load_weights("caffe")
        self.preprocess = w.preprocess
        self.device = torch.device(device)
        self.net = VGGFeatures(w.arch, w.convs, pooling=POOLING, last_layer="relu5_1").float().to(self.device)
        self.size = Image.open(content).size
        self.content = self._features(content)[CONTENT_LAYER]
        self.grams = {k: gram(f) for k, f in self._features(style).items() if k in STYLE_LAYERS}

    @torch.no_grad()
    def _features(self, path: Path) -> dict[str, torch.Tensor]:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        x = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).contiguous().to(self.device)
        with exact_fp32(self.device):
            return self.net(self.preprocess.to_net(x), (CONTENT_LAYER, *STYLE_LAYERS))

    def score(self, image: Path) -> dict[str, float]:
        """The yardstick and the matched objective for one written image (any tool's)."""
        with Image.open(image) as img:
            if img.size != self.size:
                raise ValueError(f"{image} is {img.size[0]}x{img.size[1]}, the content file {self.size[0]}x{self.size[1]}")
        feats = self._features(image)
        grams = {k: gram(feats[k]) for k in STYLE_LAYERS}
        per_layer = [rel(grams[k], self.grams[k]) for k in STYLE_LAYERS]
        m_content = MATCHED_CONTENT * float(torch.mean((feats[CONTENT_LAYER] - self.content) ** 2))
        m_style = sum(MATCHED_STYLE / g.shape[0] ** 2 * float(torch.mean((g - self.grams[k]) ** 2))
                      for k, g in grams.items())
        return {
            "content_error": rel(feats[CONTENT_LAYER], self.content),
            "style_error": sum(per_layer) / len(per_layer),
            "style_error_per_layer": per_layer,
            "matched": m_content + m_style,
            "matched_content": m_content,
            "matched_style": m_style,
        }


@contextlib.contextmanager
def exact_fp32(device: torch.device) -> Iterator[None]:
    """On CUDA, plain fp32 (no TF32 in convolutions or products), so a GPU scores as the CPU does."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
