"""Beyond the paper: colour modes, blended and masked styles, style scale, multi-scale and
low-memory objectives, and the grid command. Tiny images, few steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import impasto
from impasto import ImpastoError, Options, resolve
from impasto.cli import main
from impasto.features.network import load_network
from impasto.grid import render_grid
from impasto.images import color as C
from impasto.images.io import to_tensor
from impasto.losses.objective import describe_style
from impasto.losses.style import GramLoss, gram
from impasto.losses.tiles import tile_boxes

from .conftest import DEVICE

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytestmark = pytest.mark.device  # every run here is on IMPASTO_TEST_DEVICE


def prepare(*a, **kw):
    """impasto.prepare on the test device (the shared ``net`` lives there)."""
    return impasto.prepare(*a, **{"device": DEVICE, **kw})


def stylize(*a, **kw):
    return impasto.stylize(*a, **{"device": DEVICE, **kw})


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One thread: on the shared 2-core machine two threads per test oversubscribe badly."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def net():
    return load_network(resolve(device=DEVICE))


@pytest.fixture(scope="module")
def imgs(tmp_path_factory):
    d = tmp_path_factory.mktemp("beyond")
    paths = {}
    paths["content"] = d / "c.png"
    Image.open(EXAMPLES / "tubingen.jpg").convert("RGB").resize((64, 48)).save(paths["content"])
    paths["starry"] = d / "s.png"
    Image.open(EXAMPLES / "starry_night.jpg").convert("RGB").resize((64, 40)).save(paths["starry"])
    # Two styles far apart in colour and texture, made here so the test needs no shared/.
    g = torch.Generator().manual_seed(1)
    stripes = torch.zeros(3, 48, 48)
    stripes[0, :, ::4] = 1.0
    stripes[2, :, 2::4] = 1.0
    paths["stripes"] = d / "stripes.png"
    Image.fromarray((stripes.permute(1, 2, 0) * 255).byte().numpy()).save(paths["stripes"])
    blobs = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 6, generator=g), size=(48, 48), mode="bilinear")[0]
    blobs[0] *= 0.2
    paths["blobs"] = d / "blobs.png"
    Image.fromarray((blobs.permute(1, 2, 0) * 255).byte().numpy()).save(paths["blobs"])
    left = Image.new("L", (64, 48), 0)
    left.paste(255, (0, 0, 32, 48))
    paths["left"], paths["right"] = d / "left.png", d / "right.png"
    left.save(paths["left"])
    Image.eval(left, lambda v: 255 - v).save(paths["right"])
    paths["black"] = d / "black.png"
    Image.new("L", (8, 8), 0).save(paths["black"])
    return paths


def _grams(net, img: Image.Image, layers=("relu1_1", "relu2_1", "relu3_1")) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        f = net.net(net.preprocess.to_net(to_tensor(img).to(net.device)), layers)
    return {k: gram(f[k])[0] for k in layers}


def _targets(transfer) -> dict[str, torch.Tensor]:
    """The (blended) style target per layer of a transfer's current size."""
    (group,) = transfer.run.objective.groups
    return group.targets


def _dist(a: dict, b: dict) -> float:
    return sum(float((a[k] - b[k]).pow(2).sum() / a[k].shape[0] ** 2) for k in a)


# -- 1. colour ------------------------------------------------------------------------------------
def test_luminance_keeps_the_contents_chroma(net, imgs):
    content = Image.open(imgs["content"])
    want = C.chroma(to_tensor(content))
    drift = {}
    for mode in ("style", "luminance"):
        run = prepare(imgs["content"], imgs["starry"], network=net, max_long_edge=64, iterations=8, color=mode)
        for _ in run:
            pass
        drift[mode] = float((C.chroma(to_tensor(run.best_image())) - want).abs().mean())
    assert drift["luminance"] < 0.01  # 8-bit rounding and gamut clamping only
    assert drift["style"] > 3 * drift["luminance"]  # the control: style colours do move it


def test_histogram_matches_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    src = torch.rand(1, 3, 20, 20, generator=g) * 0.5
    ref = torch.rand(1, 3, 30, 10, generator=g) * 0.3 + 0.4
    out = C.match_colors(src, ref)
    mu_o, cov_o = C._stats(out)
    mu_r, cov_r = C._stats(ref)
    assert torch.allclose(mu_o, mu_r, atol=1e-3)
    assert torch.allclose(cov_o, cov_r, atol=1e-3)


def test_histogram_and_only_modes(net, imgs):
    content = to_tensor(Image.open(imgs["content"]))
    style = to_tensor(Image.open(imgs["starry"]))
    run = prepare(imgs["content"], imgs["starry"], network=net, max_long_edge=64, iterations=2, color="only")
    steps = list(run)
    assert steps == [] and run.total_steps == 0  # the palette alone: nothing to optimise
    out = to_tensor(run.best_image())
    # the photo's colours now have the style's mean, and the picture is still the photo
    assert (out.mean((2, 3)) - style.mean((2, 3))).abs().max() < 0.03
    assert torch.corrcoef(torch.stack([C.rgb_to_yiq(out)[0, 0].flatten(),
                                       C.rgb_to_yiq(content)[0, 0].flatten()]))[0, 1] > 0.8
    run = prepare(imgs["content"], imgs["stripes"], network=net, max_long_edge=64, iterations=2, color="histogram")
    for _ in run:
        pass
    assert run.best_image().size == (64, 48)


# -- 2. several styles ---------------------------------------------------------------------------
def test_blend_moves_the_gram_toward_each_style_in_proportion(net, imgs):
    a, b = imgs["stripes"], imgs["blobs"]
    base = dict(network=net, max_long_edge=48, style_layers=("relu1_1", "relu2_1", "relu3_1"))
    ga = _targets(prepare(imgs["content"], a, iterations=1, **base))
    gb = _targets(prepare(imgs["content"], b, iterations=1, **base))
    full = sum(float((ga[k] - gb[k]).pow(2).sum().sqrt()) for k in ga)
    dist_a, dist_b = [], []
    for w in (0.2, 0.5, 0.8):
        run = prepare(imgs["content"], [a, b], iterations=12, style_blend=(w, 1 - w), **base)
        t = _targets(run)
        # the target sits on the segment between the two Grams, at the blend's proportion
        to_a = sum(float((t[k] - ga[k]).pow(2).sum().sqrt()) for k in t)
        to_b = sum(float((t[k] - gb[k]).pow(2).sum().sqrt()) for k in t)
        assert to_a == pytest.approx((1 - w) * full, rel=1e-4)
        assert to_b == pytest.approx(w * full, rel=1e-4)
        for _ in run:
            pass
        g = _grams(net, run.best_image())
        dist_a.append(_dist(g, {k: ga[k][0] for k in g}))
        dist_b.append(_dist(g, {k: gb[k][0] for k in g}))
    # and the result follows: more weight on a style, closer to it (and further from the other)
    assert dist_a[0] > dist_a[1] > dist_a[2]
    assert dist_b[0] < dist_b[1] < dist_b[2]


# -- 3. style scale ----------------------------------------------------------------------------
def test_style_scale_changes_the_targets(net, imgs):
    small = prepare(imgs["content"], imgs["starry"], network=net, max_long_edge=64, iterations=1, style_scale=0.5)
    large = prepare(imgs["content"], imgs["starry"], network=net, max_long_edge=64, iterations=1, style_scale=2.0)
    k = "relu3_1"
    rel = float((_targets(small)[k] - _targets(large)[k]).norm() / _targets(large)[k].norm())
    assert rel > 0.1


# -- 5. masks ------------------------------------------------------------------------------------
def test_masks_keep_each_style_to_its_region(net, imgs):
    a, b = imgs["stripes"], imgs["blobs"]
    run = prepare(imgs["content"], [a, b], network=net, max_long_edge=64, iterations=25,
              masks=(imgs["left"], imgs["right"]), style_layers=("relu1_1", "relu2_1", "relu3_1"),
              style_weight=1e7)  # a balance this 64 px case settles at in 25 steps
    for _ in run:
        pass
    out = run.best_image()
    left, right = out.crop((0, 0, 32, 48)), out.crop((32, 0, 64, 48))
    ga = _grams(net, Image.open(a))
    gb = _grams(net, Image.open(b))
    gl, gr = _grams(net, left), _grams(net, right)
    # Each half is nearer to its own style than the other half is (absolute Gram distances
    # are dominated by how bright a style is, so compare the regions with each other).
    assert _dist(gl, ga) < 0.7 * _dist(gr, ga)  # style a stayed on the left
    assert _dist(gr, gb) < 0.7 * _dist(gl, gb)  # style b stayed on the right


def test_mask_errors(net, imgs):
    with pytest.raises(ImpastoError, match="1 mask"):
        prepare(imgs["content"], [imgs["stripes"], imgs["blobs"]], network=net, max_long_edge=32, masks=(imgs["left"],))
    with pytest.raises(ImpastoError, match="all black"):
        prepare(imgs["content"], imgs["stripes"], network=net, max_long_edge=32, masks=(imgs["black"],))
    with pytest.raises(ImpastoError, match="no such file"):
        prepare(imgs["content"], imgs["stripes"], network=net, max_long_edge=32, masks=("nope.png",))


# -- 4. multi-scale and memory -------------------------------------------------------------------
def test_multiscale_ends_at_the_requested_size(net, imgs):
    assert resolve(scales=(3,), max_long_edge=2048).scales == (512, 1024, 2048)
    assert resolve(scales=(400, 800, 1600)).scales == (400, 800, 1600)
    run = prepare(imgs["content"], imgs["starry"], network=net, max_long_edge=128, scales=(2,), iterations=4,
                  stop_eps=0)
    assert run.sizes == (64, 128) and run.iterations == (4, 2)
    steps = [s.step for s in run]
    assert steps == list(range(1, 7))
    assert run.best_image().size == (128, 96)
    out = stylize(imgs["content"], imgs["starry"], max_long_edge=64, scales=(32, 40), iterations=2)
    assert max(out.size) == 40


def test_checkpoint_and_tiles_give_the_same_loss_and_gradient(net, imgs):
    def loss_and_grad(**kw):  # fp32: the three paths must agree to rounding (bf16 rounds each differently)
        run = prepare(imgs["content"], imgs["starry"], network=net, max_long_edge=64, init="noise", precision="fp32",
                      **kw).run
        x = run.x0.clone().requires_grad_(True)
        _, parts = run.loss_and_grad(x)
        return parts, x.grad

    p0, g0 = loss_and_grad(memory="full")
    p1, g1 = loss_and_grad(memory="checkpoint")
    p2, g2 = loss_and_grad(memory="tiled", tile=1024)  # offsets < 1024 - 64: one tile, exact
    assert torch.allclose(p0, p1, rtol=1e-4) and torch.allclose(g0, g1, rtol=1e-3, atol=1e-3 * g0.abs().max())
    assert torch.allclose(p0, p2, rtol=1e-4) and torch.allclose(g0, g2, rtol=1e-3, atol=1e-3 * g0.abs().max())
    big = prepare(imgs["content"], imgs["starry"], network=net, max_long_edge=160, init="noise", memory="full").run
    tiled = prepare(imgs["content"], imgs["starry"], network=net, max_long_edge=160, init="noise", memory="tiled",
                    tile=64).run
    x = big.x0.clone().requires_grad_(True)
    _, pb = big.loss_and_grad(x)
    gb = x.grad.clone()
    x.grad = None
    _, pt = tiled.loss_and_grad(x)
    assert float(pt[3]) == pytest.approx(float(pb[3]), rel=0.05)  # halo effects only
    cos = torch.nn.functional.cosine_similarity(gb.flatten(), x.grad.flatten(), dim=0)
    assert float(cos) > 0.95
    # and a whole tiled run optimises (offset tiles every step)
    totals = [st.losses["total"] for st in prepare(imgs["content"], imgs["starry"], network=net, max_long_edge=96,
                                               iterations=4, memory="tiled", tile=64)]
    assert all(t == t for t in totals) and totals[-1] < totals[0]


def test_tiles_cover_the_image_once():
    for off in ((0, 0), (16, 48)):
        boxes = tile_boxes(100, 150, 64, 16, *off)
        cover = torch.zeros(100, 150)
        for b in boxes:
            cover[b.y0:b.y1, b.x0:b.x1] += 1
            assert b.hy0 <= b.y0 and b.hy1 >= b.y1
        assert bool((cover == 1).all())


def test_style_statistics_over_tiles(net, imgs):
    x = net.preprocess.to_net(to_tensor(Image.open(EXAMPLES / "starry_night.jpg").convert("RGB").resize((256, 160)))
                              .to(net.device))
    layers = ("relu1_1", "relu3_1", "relu5_1")
    loss = GramLoss()
    with torch.no_grad():
        whole = describe_style(net, x, resolve(memory="full", style_layers=layers), loss)
        tiled = describe_style(net, x, resolve(memory="tiled", tile=128, style_layers=layers), loss)
    whole, tiled = ({k: loss.target([(d[k], 1.0)]) for k in layers} for d in (whole, tiled))
    err = {k: float((whole[k] - tiled[k]).norm() / whole[k].norm()) for k in layers}
    assert err["relu1_1"] < 1e-5 and err["relu3_1"] < 1e-5  # inside the halo: exact
    assert err["relu5_1"] < 0.05  # a receptive field wider than the halo: close


# -- 6. grid -------------------------------------------------------------------------------------
def test_grid_figure3_and_figure2(net, imgs):
    calls = []
    img = render_grid(imgs["content"], [imgs["starry"]], Options(max_long_edge=32, iterations=2, device=DEVICE,
                      style_layers=("relu1_1", "relu2_1")), ratios=(1e-4, 1e-2),
                      on_step=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (8, 8)  # 2 ratios x 2 layer sets x 2 steps, one progress count
    assert img.width > 3 * 32 and img.height > 2 * 24
    img2 = render_grid(imgs["content"], [imgs["starry"], imgs["stripes"]],
                       Options(max_long_edge=32, iterations=1, device=DEVICE))
    assert img2.width > 3 * 32 and img2.height < 2 * 32  # one row: content + two styles


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("flags, message", [
    (["--color", "sepia"], "unknown --color"),
    (["--memory", "lots"], "unknown --memory"),
    (["--tile", "10"], "--tile"),
    (["--scales", "0"], "--scales"),
    (["--scales", "12"], "at most"),
    (["--scales", "64,32"], "small to large"),
    (["--scales", "8,64"], "at least 16"),
    (["--scales", "a,b"], "whole numbers"),
])
def test_bad_flags_are_one_line_errors(imgs, tmp_path, capsys, flags, message):
    rc = main(["stylize", str(imgs["content"]), str(imgs["starry"]), "-o", str(tmp_path / "o.png"),
               "--max-long-edge", "32", "--iterations", "1", "--quiet", *flags])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_bad_api_values_are_impasto_errors(net, imgs):
    for bad in (dict(color="sepia"), dict(memory="x"), dict(tile=8), dict(scales=(0,)), dict(scales=(2.5,)),
                dict(masks="left.png"), dict(masks=())):
        with pytest.raises(ImpastoError):
            resolve(**bad)
    with pytest.raises(ImpastoError, match="--ratios"):
        render_grid(imgs["content"], [imgs["starry"]], Options(max_long_edge=32, iterations=1), ratios=(0.0,))


def test_cli_mask_scales_and_grid(imgs, tmp_path, capsys):
    out = tmp_path / "o.png"
    rc = main(["stylize", str(imgs["content"]), str(imgs["stripes"]), str(imgs["blobs"]), "-o", str(out),
               "--mask", str(imgs["left"]), "--mask", str(imgs["right"]), "--scales", "32,48",
               "--iterations", "2", "--color", "luminance", "--quiet"])
    assert rc == 0 and Image.open(out).size == (48, 36)
    rc = main(["stylize", str(imgs["content"]), str(imgs["stripes"]), str(imgs["blobs"]), "-o", str(out),
               "--mask", str(imgs["left"]), "--iterations", "1", "--quiet", "--max-long-edge", "32"])
    assert rc == 2 and "1 mask(s) for 2 style" in capsys.readouterr().err
    rc = main(["grid", str(imgs["content"]), "-o", str(tmp_path / "g.jpg")])
    assert rc == 2 and "content image and at least one style" in capsys.readouterr().err
    rc = main(["grid", str(imgs["content"]), str(imgs["starry"]), "-o", str(tmp_path / "g.jpg"), "--ratios", "-1"])
    assert rc == 2 and "--ratios must be positive" in capsys.readouterr().err
    rc = main(["grid", str(imgs["content"]), str(imgs["starry"]), "-o", str(tmp_path / "g.jpg"), "--quiet",
               "--max-long-edge", "24", "--iterations", "1", "--ratios", "1e-3",
               "--style-layers", "relu1_1,relu2_1"])
    assert rc == 0 and (tmp_path / "g.jpg").exists()


# -- the other style losses, through every path ------------------------------------------------------
@pytest.mark.parametrize("loss", ["w2", "sliced"])
def test_other_style_losses_agree_across_memory_modes(net, imgs, loss):
    def loss_and_grad(**kw):
        run = prepare(imgs["content"], imgs["starry"], network=net, max_long_edge=64, init="noise", precision="fp32",
                      style_loss=loss, **kw).run
        x = run.x0.clone().requires_grad_(True)
        _, parts = run.loss_and_grad(x)  # the first evaluation: the same random directions in every mode
        return parts, x.grad

    p0, g0 = loss_and_grad(memory="full")
    for mode in ("checkpoint", "tiled"):
        p1, g1 = loss_and_grad(memory=mode, tile=1024)
        assert torch.allclose(p0, p1, rtol=1e-4), mode
        assert torch.allclose(g0, g1, rtol=1e-3, atol=1e-3 * g0.abs().max()), mode


@pytest.mark.parametrize("loss", ["w2", "sliced"])
def test_other_style_losses_with_blend_masks_tiles_and_scales(net, imgs, loss):
    a, b = imgs["stripes"], imgs["blobs"]
    cases = [dict(style_blend=(0.7, 0.3)), dict(masks=(imgs["left"], imgs["right"])),
             dict(masks=(imgs["left"], imgs["right"]), memory="tiled", tile=64, max_long_edge=96),
             dict(scales=(2,))]
    for extra in cases:
        kw = {"max_long_edge": 64, "iterations": 8, **extra}
        run = prepare(imgs["content"], [a, b], network=net, style_loss=loss, **kw)
        steps = list(run)
        assert len(steps) == run.total_steps and all(s.losses["style"] == s.losses["style"] for s in steps), extra
        last = [s.losses["style"] for s in steps if s.run is steps[-1].run]  # one size: comparable values
        assert min(last[-3:]) < last[0], extra  # the style term falls
        assert max(run.best_image().size) == kw["max_long_edge"]
