"""Presets that reproduce the settings of well-known style-transfer systems.

Each is a set of :class:`impasto.options.Options` values (``resolve(preset=...)`` applies one;
what the user types still wins). Loss weights are the seed's values carried into impasto's
loss normalisation (see ``losses/terms.py``) by the conversion written beside each; where a seed's
numbers could not be carried over exactly the comment says so. ``README.md`` lists the sources.
"""

from __future__ import annotations

from .features.layers import PAPER_STYLE_LAYERS

# What every preset pins, so that a change of impasto's defaults leaves a preset's meaning alone:
# one size, no stop rule, equal style layer weights (each preset may say otherwise).
PINNED: dict[str, object] = dict(scales=(1,), stop_eps=0.0, style_layer_weighting="equal")

PRESETS: dict[str, dict[str, object]] = {
    # Gatys, Ecker & Bethge 2015 / CVPR 2016: VGG-19, average pooling, conv4_2 content, style
    # conv1_1..conv5_1 with w_l = 1/5, white-noise init, L-BFGS, alpha/beta = 1e-3, no TV.
    "gatys": dict(
        PINNED, arch="vgg19", weights="caffe", pooling="avg",
        content_layers=("relu4_2",), style_layers=PAPER_STYLE_LAYERS,
        content_weight=1.0, style_weight=1e3, tv_weight=0.0,
        optimizer="lbfgs", init="noise", iterations=1000,
    ),
    # The Keras example neural_style_transfer.py (VGG-16, max pooling): content block2_conv2
    # at 0.025, style blockN_conv2/3 at 5.0 split over 5 layers, TV 1.0 with exponent 1.25,
    # L-BFGS from noise. Keras sums the content error (2x our 1/2-sum), divides each Gram
    # distance by the *image's* pixel count squared (our layer weights 16^-(b-1)) and sums TV
    # over pixels (x 512^2 against our mean).
    "keras-vgg16": dict(
        PINNED, arch="vgg16", weights="torchvision", pooling="max",
        content_layers=("block2_conv2",),
        style_layers=("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"),
        style_layer_weights=(1.0, 1 / 16, 1 / 256, 1 / 4096, 1 / 65536),
        content_weight=0.05, style_weight=5.0 / 5, tv_weight=512 * 512, tv_beta=1.25,
        optimizer="lbfgs", init="noise", iterations=500,
    ),
    # TensorFlow neural-style with Adam: content conv4_2, style conv1_1..conv5_1 at 0.2 each,
    # alpha 10, beta 40, Adam lr 2.0, init = content plus noise. Its content loss is ours
    # divided by sqrt(N M) (= 1448 at conv4_2 and 512 px), so alpha becomes 10/1448.
    "tf-adam": dict(
        PINNED, arch="vgg19", weights="caffe", pooling="max",
        content_layers=("relu4_2",), style_layers=PAPER_STYLE_LAYERS,
        style_layer_weights=(0.2, 0.2, 0.2, 0.2, 0.2),
        content_weight=10 / 1448, style_weight=40.0, tv_weight=0.0,
        optimizer="adam", lr=2.0, init="content", init_noise=0.1, iterations=1000,
    ),
    # The Towards-Data-Science / TensorFlow-tutorial recipe: content block5_conv2 at 1e4, style
    # blockN_conv1 at 1e2, Adam. It averages squared errors: its content term is ours x 2/(N M)
    # (N M = 512 x 32^2 at conv5_2, 512 px) and each style term ours x 4, split over 5 layers.
    "tds": dict(
        PINNED, arch="vgg19", weights="caffe", pooling="max",
        content_layers=("block5_conv2",),
        style_layers=("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"),
        content_weight=1e4 * 2 / (512 * 1024), style_weight=1e2 * 4, tv_weight=0.0,
        optimizer="adam", lr=5.0, init="content", iterations=1000,
    ),
    # The MXNet neural-style example: content:style 10:1, gradient descent (Nesterov momentum)
    # at lr 0.1, stop when the loss changes by less than 0.5 %, at most 1000 steps, long edge
    # 512, an image every 50 steps, TV denoise 0.2 at the end.
    "mxnet": dict(
        PINNED, arch="vgg19", weights="caffe", pooling="avg",
        content_layers=("relu4_2",), style_layers=PAPER_STYLE_LAYERS,
        content_weight=10.0, style_weight=1e4, tv_weight=0.0,
        optimizer="sgd", lr=0.1, stop_eps=0.005, iterations=1000, max_long_edge=512,
        save_every=50, denoise=0.2, init="content",
    ),
}

# The base of `impasto grid`: the paper's figures, so the raw Caffe network, the paper's pooling and
# equal layer weights (its alpha/beta ratios mean what they say only with those); many runs, so
# each smaller and shorter.
GRID_DEFAULTS: dict[str, object] = dict(PINNED, weights="caffe", pooling="avg", max_long_edge=256, iterations=200)
