"""Real-time styles: feed-forward networks trained once per style (Johnson et al. 2016).

The Python API, one function per job::

    from impasto import fast
    model = fast.load_model("starry_night")          # a shipped style, or a .pt path
    img = fast.stylize_image(model, "photo.jpg")     # PIL image, the input's size
    fast.stylize_video(model, "in.mp4", "out.mp4")   # frame rate and audio kept
    fast.export_onnx(model, "starry.onnx")           # same image under onnxruntime
    fast.train("style.jpg", "photos/", "style.pt", fast.TrainOptions(steps=2000))

OpenCV (flicker) and onnxruntime are imported only by the functions that need them, and
torch only when one of these names is first used.
"""

from importlib import import_module
from typing import Any

_HOME = {
    "export_onnx": "export", "run_onnx": "export", "FastModel": "model", "load_model": "model",
    "shipped_models": "model", "NetSize": "options", "TrainOptions": "options", "stylize_files": "painting",
    "stylize_image": "painting", "FlickerMeter": "temporal", "Smoother": "temporal", "flicker": "temporal",
    "train": "training", "TransformerNet": "transformer", "paint": "transformer", "VideoStats": "video",
    "stylize_video": "video",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    """Each name from its module on first use, so the CLI reads ``fast.options`` without torch."""
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module 'impasto.fast' has no attribute {name!r}")
