"""Every piece of impasto the benchmarks use, imported in this one place.

The benchmarks run impasto through its CLI like the peers; they import it only for what no CLI
gives: its resize (the one every tool's input is made with), its Caffe VGG-19 loader (the
yardstick's network), for ``floor``, a run's internals, and for ``bench.arbitrary`` the
arbitrary-style network and its held-out split. When the package is reorganised,
this file is the one to mend.
"""

from __future__ import annotations

from impasto import prepare
from impasto.arbitrary import ArbitraryModel
from impasto.arbitrary import split as arbitrary_split
from impasto.arbitrary import stylize as stylize_arbitrary
from impasto.features.devices import precision_context, resolve_precision
from impasto.features.vgg import VGGFeatures
from impasto.features.weights import load_weights
from impasto.images.io import fit_long_edge, load_image

__all__ = ["prepare", "VGGFeatures", "fit_long_edge", "load_image", "load_weights", "precision_context",
           "resolve_precision", "ArbitraryModel", "arbitrary_split", "stylize_arbitrary"]
