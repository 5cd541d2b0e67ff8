"""Any painting in one pass: an arbitrary-style feed-forward network (Huang & Belongie 2017).

The project's VGG-19 (the normalised Caffe network of the default look) encodes the photo and
the painting up to relu4_1; AdaIN gives the photo's features the painting's per-channel mean
and spread; a trained decoder turns the result back into pixels. One decoder serves every
painting, so a person's own painting is painted in about the time of three VGG passes.

    from impasto import arbitrary
    model = arbitrary.ArbitraryModel.load()          # the shipped decoder, or a path
    img = arbitrary.stylize(model, "photo.jpg", ["a.jpg", "b.jpg"], blend=[2, 1], alpha=0.8)
    arbitrary.train_decoder(["photos/"], ["paintings/"], "decoder.pt", arbitrary.ArbitraryTrainOptions())

torch is imported only when one of these names is first used, so the CLI reads the training
options without it.
"""

from importlib import import_module
from typing import Any

_HOME = {
    "ArbitraryModel": "painting", "stylize": "painting", "paint_tensor": "painting",
    "load_decoder": "model", "DecoderModel": "model", "ArbitraryTrainOptions": "options",
    "train_decoder": "training", "split": "training",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module 'impasto.arbitrary' has no attribute {name!r}")
