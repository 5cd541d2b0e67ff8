"""Real-time styles: feed-forward networks trained once per style (Johnson et al. 2016).

The Python API, one function per job::

    from impasto import fast
    model = fast.load_model("starry_night")          # a shipped style, or a .pt path
    img = fast.stylize_image(model, "photo.jpg")     # PIL image, the input's size
    fast.stylize_video(model, "in.mp4", "out.mp4")   # frame rate and audio kept
    fast.export_onnx(model, "starry.onnx")           # same image under onnxruntime
    fast.train("style.jpg", "photos/", "style.pt", fast.TrainOptions(steps=2000))

OpenCV (flicker) and onnxruntime are imported only by the functions that need them.
"""

from .export import export_onnx, run_onnx
from .flicker import FlickerMeter, Smoother, flicker
from .model import FastModel, load_model, shipped_models
from .paint import stylize_files, stylize_image
from .train import TrainOptions, train
from .transformer import NetSize, TransformerNet, paint
from .video import VideoStats, stylize_video

__all__ = [
    "FastModel", "FlickerMeter", "NetSize", "Smoother", "TrainOptions", "TransformerNet", "VideoStats",
    "export_onnx", "flicker", "load_model", "paint", "run_onnx", "shipped_models", "stylize_files",
    "stylize_image", "stylize_video", "train",
]
