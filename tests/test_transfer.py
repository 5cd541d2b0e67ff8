import pytest
import torch
from PIL import Image

import impasto
from impasto import ImpastoError, Options, prepare, resolve, stylize, stylize_iter
from impasto.images.io import load_image, to_tensor
from impasto.losses.style import gram
from impasto.presets import PRESETS
from impasto.features.weights import TORCHVISION, torch_hub_dir

from .conftest import fake_torchvision_vgg

FAST = dict(max_long_edge=48, iterations=12)


def _gram_distance(a: Image.Image, b: Image.Image, run) -> float:
    """Style distance at relu2_1/relu3_1 between two images, measured with the run's network."""
    net, pre, dev = run.network.net, run.network.preprocess, run.network.device
    layers = ["relu2_1", "relu3_1"]
    fa = net(pre.to_net(to_tensor(a).to(dev)), layers)
    fb = net(pre.to_net(to_tensor(b.resize(a.size)).to(dev)), layers)
    return sum(float((gram(fa[k]) - gram(fb[k])).pow(2).sum()) for k in layers)


def test_losses_fall(small, device):
    run = prepare(*small, device=device, **FAST)
    totals = [s.losses["total"] for s in run]
    assert len(totals) == 12
    assert totals[-1] < 0.5 * totals[0]
    assert float(run.best_loss) <= min(totals)


def test_output_moves_toward_style_and_keeps_content(small, device):
    content, style = small
    run = prepare(content, style, max_long_edge=64, iterations=30, device=device)
    for _ in run:
        pass
    out = run.best_image()
    c_img, s_img = load_image(content).resize(out.size), load_image(style)
    assert out.size == (64, 48)
    with torch.no_grad():
        assert _gram_distance(out, s_img, run) < 0.5 * _gram_distance(c_img, s_img, run)
        # content is kept: the output is far closer to the photo than the painting is
        diff_out = (to_tensor(out) - to_tensor(c_img)).abs().mean()
        diff_style = (to_tensor(s_img.resize(out.size)) - to_tensor(c_img)).abs().mean()
    assert diff_out < diff_style


def test_fixed_seed_gives_the_same_image_twice(small):
    a = stylize(*small, init="noise", seed=7, max_long_edge=32, iterations=5)
    b = stylize(*small, init="noise", seed=7, max_long_edge=32, iterations=5)
    c = stylize(*small, init="noise", seed=8, max_long_edge=32, iterations=5)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_runs(small, name, device):
    if PRESETS[name].get("weights") == "torchvision":
        arch = PRESETS[name]["arch"]
        fake_torchvision_vgg(torch_hub_dir() / TORCHVISION[arch][0], arch)
    run = stylize_iter(*small, preset=name, max_long_edge=40, iterations=4, stop_eps=0, device=device)
    steps = list(run)
    assert [s.step for s in steps] == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor(list(s.losses.values()))).all() for s in steps)
    assert run.best_image().size == (40, 30)


def test_optimizers_and_inits(small, tmp_path, device):
    init = tmp_path / "init.png"
    Image.new("RGB", (10, 10), (200, 50, 50)).save(init)
    for opt in ("adam", "sgd"):
        run = prepare(*small, optimizer=opt, max_long_edge=32, iterations=6, device=device)
        totals = [s.losses["total"] for s in run]
        assert totals[-1] < totals[0], opt
    for how in ("noise", "style", str(init)):
        run = prepare(*small, init=how, init_noise=0.2, max_long_edge=32, iterations=2, device=device)
        assert len(list(run)) == 2


def test_stop_eps_stops_early(small, device):
    run = prepare(*small, max_long_edge=32, iterations=400, stop_eps=0.5, stop_window=5, device=device)
    n = len(list(run))
    assert run.stopped_early and n < 400 and n % 5 == 0


def test_iterator_steps_unpack_and_options_object(small, device):
    opts = Options(max_long_edge=32, iterations=2, pooling="max", device=device)
    for step, losses, image in stylize_iter(*small, opts):
        assert set(losses) == {"content", "style", "tv", "total"}
        assert image.size == (32, 24)


def test_several_styles_and_denoise(small, device):
    content, style = small
    img = stylize(content, [style, content], style_blend=(0.7, 0.3), denoise=0.05, max_long_edge=32, iterations=3,
                  device=device)
    assert img.size == (32, 24)
    with pytest.raises(ImpastoError, match="style-blend"):
        prepare(content, [style], style_blend=(1, 2))


@pytest.mark.parametrize(
    "bad",
    [
        dict(iterations=0),
        dict(style_weight=-1),
        dict(content_weight=float("nan")),
        dict(max_long_edge=4),
        dict(content_layers=("relu9_9",)),
        dict(style_layer_weights=(1.0,)),
        dict(pooling="median"),
        dict(optimizer="newton"),
        dict(device="tpu"),
        dict(bogus=1),
        dict(preset="picasso"),
    ],
)
def test_bad_options_raise_impasto_error(small, bad):
    with pytest.raises(ImpastoError):
        prepare(*small, **bad)


def test_public_api():
    assert callable(impasto.stylize) and callable(impasto.stylize_iter)


def test_losses_fall_in_each_precision(small, device):
    """bf16 is the default on CPUs with AMX/AVX512-BF16 and tf32 on CUDA; fp32 must stay available
    and each must reach about fp32's loss."""
    finals = {}
    for precision in ("fp32", "bf16") if device == "cpu" else ("fp32", "tf32", "bf16"):
        run = prepare(*small, precision=precision, device=device, **FAST)
        totals = [s.losses["total"] for s in run]
        assert totals[-1] < 0.5 * totals[0]
        finals[precision] = float(run.best_loss)
    for precision, final in finals.items():
        assert final == pytest.approx(finals["fp32"], rel=0.15), precision


def test_precision_picks_the_layout_the_network_and_inputs_use(small):
    from impasto.features.devices import native_bf16

    nhwc = torch.channels_last
    bf16 = prepare(*small, precision="bf16", **FAST)  # oneDNN's bf16 kernels want NHWC
    assert bf16.network.channels_last and bf16.run.x0.is_contiguous(memory_format=nhwc)
    assert bf16.network.net.convs["conv1_1"].weight.is_contiguous(memory_format=nhwc)
    fp32 = prepare(*small, precision="fp32", **FAST)  # NCHW is as fast for fp32 on the CPU
    assert not fp32.network.channels_last and fp32.run.x0.is_contiguous()
    auto = prepare(*small, **FAST)  # 'auto' takes bf16 only where the CPU has it in hardware
    assert auto.network.channels_last == native_bf16(torch.device("cpu"))


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam", "sgd"])
def test_image_stays_inside_the_pixel_box(small, optimizer, device):
    """Projected steps: what is optimised is what gets written (no drift past black and white)."""
    run = prepare(*small, optimizer=optimizer, style_weight=50 * resolve().style_weight, device=device, **FAST)
    for _ in run:
        pass
    rgb = run.network.preprocess.from_net(run.run.best_x.float())
    assert float(rgb.min()) >= -1e-4 and float(rgb.max()) <= 1 + 1e-4
    fall = {"lbfgs": 0.5, "adam": 0.5, "sgd": 0.9}[optimizer]  # SGD's small steps move slowest
    with torch.no_grad():
        assert float(run.best_loss) < fall * float(run.run.loss(run.run.x0)[0])  # and it still optimised
