"""The option table: resolved once, presets that are what they say, flags made from the table."""

import dataclasses
import subprocess
import sys

import pytest
from PIL import Image

from impasto import ImpastoError, Options, Resolved, prepare, resolve
from impasto.cli import build_parser, main
from impasto.cli.flags import typed
from impasto.options import knobs


def test_presets_are_what_they_say():
    gatys = resolve(preset="gatys")
    assert (gatys.arch, gatys.weights, gatys.pooling, gatys.init, gatys.iterations) == ("vgg19", "caffe", "avg",
                                                                                        "noise", 1000)
    assert gatys.content_layers == ("relu4_2",)  # the paper's conv4_2 (Caffe's in-place ReLU)
    assert gatys.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert gatys.style_layer_weights == (0.2,) * 5 and gatys.content_weight / gatys.style_weight == 1e-3
    assert gatys.optimizer == "lbfgs" and gatys.tv_weight == 0
    keras = resolve(preset="keras-vgg16")
    assert (keras.arch, keras.pooling, keras.tv_beta) == ("vgg16", "max", 1.25)
    mx = resolve(preset="mxnet")
    assert (mx.optimizer, mx.stop_eps, mx.save_every, mx.denoise) == ("sgd", 0.005, 50, 0.2)


def test_typed_flags_override_a_preset_and_untyped_ones_do_not():
    args = build_parser().parse_args(["stylize", "c.png", "s.png", "-o", "o.png", "--preset", "gatys",
                                      "--iterations", "7", "--pooling", "max"])
    assert typed(args) == {"iterations": 7, "pooling": "max"}
    o = resolve(None, args.preset, **typed(args))
    assert (o.iterations, o.pooling) == (7, "max")  # typed: they win
    assert (o.init, o.tv_weight) == ("noise", 0.0)  # untyped: the preset's, not the defaults'


def test_every_option_has_a_flag_whose_help_shows_its_default():
    text = " ".join(build_parser()._subparsers._group_actions[0].choices["stylize"].format_help().split())
    for name, k in knobs().items():
        flag = k.flag or "--" + name.replace("_", "-")
        assert flag in text, flag
    assert "1.2e+08 on caffe-normalized" in text and "(default: relu4_2)" in text


def test_resolved_once_and_then_used_as_is(tmp_path):
    o = resolve(max_long_edge=128, iterations=2, scales=(2,), style_layers=("block1_conv1", "relu2_1"))
    assert isinstance(o, Resolved) and dataclasses.is_dataclass(o)
    assert o.style_layers == ("relu1_1", "relu2_1") and o.style_layer_weights == pytest.approx((0.8, 0.2))  # 1/N^2
    assert resolve(style_layers=("relu1_1", "relu2_1"), style_layer_weighting="equal").style_layer_weights == (0.5, 0.5)
    assert o.scales == (64, 128) and o.size_iterations == (2, 1) and o.lr == 1.0
    assert resolve(max_long_edge=100).scales == (100,)  # --scales 3 (the default) makes no size under 64 px
    assert resolve(o) is o
    with pytest.raises(TypeError):
        resolve(o, iterations=3)  # a resolved value is not resolved again
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.iterations = 5  # type: ignore[misc]
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    Image.new("RGB", (40, 30), (200, 100, 50)).save(c)
    Image.new("RGB", (40, 30), (20, 100, 250)).save(s)
    assert prepare(c, s, o).options is o


def test_help_and_argument_errors_do_not_load_torch():
    code = ("import sys\nfrom impasto.cli import main\n"
            "for argv in (['--help'], ['stylize', '--help'], ['train', '--help'], ['stylize', 'a', 'b', '-o', 'o.png', "
            "'--iterations', 'x'], ['stylize', 'a', 'b', '-o', 'o.png', '--color', 'sepia']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


def test_model_mode_refuses_flags_it_cannot_honour(capsys, tmp_path, small):
    content, _ = small
    for flags, word in ((["--iterations", "5"], "--iterations"), (["--style-weight", "1e4"], "--style-weight"),
                        (["--color", "histogram"], "--color histogram"), (["--plot", "p.png"], "--plot")):
        rc = main(["stylize", "--model", "candy", str(content), "-o", str(tmp_path / "o.png"), *flags])
        err = capsys.readouterr().err
        assert rc == 2 and word in err and "--model" in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_model_mode_honours_size_colour_and_denoise(capsys, tmp_path, small):
    content, _ = small  # 64x48
    out = tmp_path / "o.png"
    rc = main(["stylize", "--model", "candy", str(content), "-o", str(out), "--max-long-edge", "32",
               "--color", "luminance", "--denoise", "0.05", "--precision", "fp32", "--quiet"])
    assert rc == 0 and Image.open(out).size == (32, 24)


def test_unknown_options_and_bad_values_are_one_line_errors():
    with pytest.raises(ImpastoError, match="unknown option"):
        resolve(iterationz=3)
    with pytest.raises(ImpastoError, match="--style-loss"):
        resolve(style_loss="wasserstein")
    with pytest.raises(ImpastoError, match="VGG-19 only"):
        resolve(Options(arch="vgg16"))


def test_the_default_beta_and_loss_strength_follow_the_network():
    """The default look's beta is per network (a normalised network's Grams are in other units);
    whatever keeps its meaning across a change of the default pins the raw network."""
    from impasto.fast.options import TrainOptions
    from impasto.losses.objective import make_style_loss
    from impasto.presets import GRID_DEFAULTS

    default, raw = resolve(), resolve(weights="caffe")
    assert default.weights == "caffe-normalized" and default.style_weight == 1.2e8
    assert raw.style_weight == 1.93e4 and resolve(weights="caffe", style_weight=5.0).style_weight == 5.0
    w2, w2_raw = make_style_loss(resolve(style_loss="w2")), make_style_loss(resolve(style_loss="w2", weights="caffe"))
    assert w2_raw.SCALE / w2.SCALE > 1e4  # the same --style-weight pulls alike with gram and w2 on each
    assert make_style_loss(resolve(style_loss="sliced", weights="caffe")).SCALE == 4.1e7
    assert resolve(Options(**GRID_DEFAULTS)).weights == "caffe"
    assert TrainOptions().loss_options().weights == "caffe"
    assert all(resolve(preset=p).weights != "caffe-normalized" for p in ("gatys", "keras-vgg16", "tf-adam", "tds", "mxnet"))
