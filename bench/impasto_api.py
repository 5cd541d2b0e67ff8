"""Every name the bench takes from impasto, and the only file in bench/ that imports it.

The bench runs impasto through its command line, as it runs the peers (``bench.peers``). It
imports the package only for what no command line gives: the flags as the CLI spells them, the
resize every tool's input is made with, the Caffe VGG-19 the yardstick scores with, and, for the
figures that time a piece of a run (the floor, painting alone, in-process runs on the GPU, the
batch driver's own cost, training the shipped styles, the arbitrary-style network's quality), the
pieces themselves. The public door
(``impasto``, ``impasto.fast``, ``impasto.batch``) comes first; the internals below it are what
to mend when the package is reorganised.

Each name is imported when it is first asked for, so that a timed child process loads only what
it uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOME = {
    # the public door
    "prepare": "impasto",
    "LocalExecutor": "impasto.batch", "plan": "impasto.batch", "run_batch": "impasto.batch",
    "shorthand": "impasto.batch",
    "NetSize": "impasto.fast", "TrainOptions": "impasto.fast", "TransformerNet": "impasto.fast",
    "export_onnx": "impasto.fast", "load_model": "impasto.fast", "paint": "impasto.fast", "run_onnx": "impasto.fast",
    # internals: the CLI's spelling of an option, images, the network, precision
    "flag": "impasto.options",
    "fit_long_edge": "impasto.images.io", "load_image": "impasto.images.io", "save_image": "impasto.images.io",
    "to_pil": "impasto.images.io", "to_tensor": "impasto.images.io",
    "load_weights": "impasto.features.weights", "VGGFeatures": "impasto.features.vgg",
    "load_network": "impasto.features.network",
    "precision_context": "impasto.features.devices", "resolve_precision": "impasto.features.devices",
    "CHECKPOINT_ABOVE": "impasto.losses.objective",
    # internals: feed-forward models and their training
    "FAST_DIR": "impasto.shipped", "model_record": "impasto.fast.model", "save_model": "impasto.fast.model",
    "stylize_tensors": "impasto.fast.painting", "train_many": "impasto.fast.training",
    "PerceptualLoss": "impasto.fast.loss", "StackedLoss": "impasto.fast.loss", "photo_files": "impasto.fast.photos",
    # internals: the arbitrary-style decoder's training
    "ArbitraryTrainOptions": "impasto.arbitrary.options", "train_decoder": "impasto.arbitrary.training",
    "held_out": "impasto.arbitrary.training", "STAT_LAYERS": "impasto.arbitrary.network",
    "TRANSFER_LAYER": "impasto.arbitrary.network", "Decoder": "impasto.arbitrary.network",
    "DecoderSize": "impasto.arbitrary.network", "adain": "impasto.arbitrary.network",
    "encode": "impasto.arbitrary.network", "load_encoder": "impasto.arbitrary.network",
    "mean_std": "impasto.arbitrary.network",
    # the arbitrary-style network and its held-out split (bench.arbitrary)
    "ArbitraryModel": "impasto.arbitrary", "arbitrary_split": "impasto.arbitrary:split",
    "stylize_arbitrary": "impasto.arbitrary:stylize",
    # internals: the batch driver's pieces
    "RayExecutor": "impasto.batch.rayexec", "ResultsLog": "impasto.batch.records",
    "write_output": "impasto.batch.records", "run_job": "impasto.batch.worker",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        module, _, attr = _HOME[name].partition(":")  # "module:attr" where the bench's name differs
        return getattr(import_module(module), attr or name)
    raise AttributeError(f"module 'bench.impasto_api' has no attribute {name!r}")
