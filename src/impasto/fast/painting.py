"""Painting images with a trained model: one image, a list, or whole folders in batches.

Images of the same size are stacked into one batch (a folder of camera photos usually is one
size); any size works because the network pads to a multiple of 4 and crops back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from PIL import Image

from ..errors import ImpastoError
from ..features.devices import resolve_device
from ..images.color import recombine
from ..images.denoise import tv_denoise
from ..images.formats import INPUT_SUFFIXES
from ..images.io import MAX_PIXELS, fit_long_edge, load_image, to_pil, to_tensor
from .model import FastModel, load_model
from .transformer import paint

ModelLike = "FastModel | str | os.PathLike[str]"


def as_model(model: ModelLike, device: str = "auto") -> FastModel:
    """A loaded model from a model, a path or a shipped style's name."""
    if isinstance(model, FastModel):
        return model
    return load_model(model, resolve_device(device))


def _device(model: FastModel) -> torch.device:
    return next(model.net.parameters()).device


def stylize_image(model: ModelLike, image: "str | os.PathLike[str] | Image.Image",
                  max_pixels: int | None = None, precision: str = "auto") -> Image.Image:
    """Paint one image (path or PIL) with ``model``; the result has the input's size."""
    m = as_model(model)
    img = load_image(image) if max_pixels is None else load_image(image, max_pixels)
    return stylize_tensors(m, [to_tensor(img)], precision=precision)[0]


def stylize_tensors(model: FastModel, images: list[torch.Tensor], batch: int = 4,
                    precision: str = "auto") -> list[Image.Image]:
    """Paint (1, 3, H, W) tensors in [0, 1], batching those of equal size (see ``paint``)."""
    dev = _device(model)
    out: list[Image.Image | None] = [None] * len(images)
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, t in enumerate(images):
        by_size.setdefault(tuple(t.shape[-2:]), []).append(i)
    for idx in by_size.values():
        for k in range(0, len(idx), batch):
            chunk = idx[k:k + batch]
            y = paint(model.net, torch.cat([images[i] for i in chunk]).to(dev), precision)
            for i, yi in zip(chunk, y):
                out[i] = to_pil(yi)
    return out  # type: ignore[return-value]


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, folders as the images directly inside them (sorted)."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in INPUT_SUFFIXES and f.is_file())
            if not found:
                raise ImpastoError(f"{p}: no images in this folder")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise ImpastoError(f"no such file: {p}")
    if not files:
        raise ImpastoError("no input images given")
    return files


def finish(painting: Image.Image, photo: Image.Image, color: str = "style", denoise: float = 0.0) -> Image.Image:
    """What ``--color luminance`` and ``--denoise`` mean for a model's painting: the photo's
    chroma under the painting's luminance, then the same TV denoise the engine applies."""
    if color == "style" and denoise <= 0:
        return painting
    rgb = to_tensor(painting)
    if color == "luminance":
        rgb = recombine(rgb, to_tensor(photo))
    if denoise > 0:
        rgb = tv_denoise(rgb, denoise)
    return to_pil(rgb)


def paint_photo(model: ModelLike, photo: "str | os.PathLike[str] | Image.Image", long_edge: int | None = None,
                max_pixels: int = MAX_PIXELS, precision: str = "auto", color: str = "style",
                denoise: float = 0.0) -> Image.Image:
    """One photo (a path or a PIL image) painted with the settings :func:`model_run_settings` keeps.

    ``long_edge``: resize the photo to it first (default: paint at the photo's own size)."""
    return next(_paint(as_model(model), [photo], 1, precision, long_edge, max_pixels, color, denoise))


def stylize_files(model: ModelLike, files: list[Path], batch: int = 4, precision: str = "auto",
                  long_edge: int | None = None, max_pixels: int = MAX_PIXELS, color: str = "style",
                  denoise: float = 0.0) -> Iterator[tuple[Path, Image.Image]]:
    """Yield ``(input path, painting)`` for each file, painting ``batch`` same-size files at a time.

    ``long_edge``: resize each photo to it first (default: paint at the photo's own size)."""
    yield from zip(files, _paint(as_model(model), files, batch, precision, long_edge, max_pixels, color, denoise))


def _paint(m: FastModel, photos: list, batch: int, precision: str, long_edge: int | None, max_pixels: int,
           color: str, denoise: float) -> Iterator[Image.Image]:
    for k in range(0, len(photos), batch):
        chunk = [load_image(p, max_pixels) for p in photos[k:k + batch]]
        if long_edge is not None:
            chunk = [fit_long_edge(p, long_edge) for p in chunk]
        imgs = stylize_tensors(m, [to_tensor(p) for p in chunk], batch, precision)
        yield from (finish(i, p, color, denoise) for i, p in zip(imgs, chunk))
