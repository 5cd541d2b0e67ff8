"""Every piece of impasto the benchmarks use, imported in this one place.

The benchmarks run impasto through its CLI like the peers; they import it only for what no CLI
gives: its resize (the one every tool's input is made with), its Caffe VGG-19 loader (the
yardstick's network) and, for ``floor``, a run's internals. When the package is reorganised,
this file is the one to mend.
"""

from __future__ import annotations

from impasto import prepare
from impasto.features.devices import precision_context, resolve_precision
from impasto.features.vgg import VGGFeatures
from impasto.features.weights import load_weights
from impasto.images.io import fit_long_edge, load_image

__all__ = ["prepare", "VGGFeatures", "fit_long_edge", "load_image", "load_weights", "precision_context",
           "resolve_precision"]
