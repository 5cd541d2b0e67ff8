"""Fast styles (impasto.fast): training, model files, painting, ONNX, video, flicker, errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from impasto.cli import main
from impasto.errors import ImpastoError
from impasto.fast import (TrainOptions, TransformerNet, NetSize, export_onnx, flicker, load_model,
                          run_onnx, stylize_image, stylize_video, train)
from impasto.fast.temporal import Smoother
from impasto.fast.loss import PerceptualLoss
from impasto.fast.model import model_record, save_model, shipped_models
from impasto.images.io import to_tensor

from .conftest import DEVICE

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(batch=2, crop=32, style_size=48, lr=3e-4, width=8, blocks=1, preview_every=0,
            checkpoint_every=0, device=DEVICE)
pytestmark = pytest.mark.device  # training, painting and video run on IMPASTO_TEST_DEVICE


@pytest.fixture(scope="module")
def content_path() -> Path:
    return ROOT / "examples" / "tubingen.jpg"


@pytest.fixture(scope="module")
def style_path() -> Path:
    return ROOT / "examples" / "starry_night.jpg"


@pytest.fixture(scope="module")
def photos(tmp_path_factory, content_path):
    """Three small 'photos' cut from the example image."""
    d = tmp_path_factory.mktemp("photos")
    img = Image.open(content_path).convert("RGB").resize((96, 72))
    for i, box in enumerate([(0, 0, 64, 48), (32, 24, 96, 72), (16, 8, 80, 56)]):
        img.crop(box).save(d / f"p{i}.png")
    return d


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, photos, style_path):
    out = tmp_path_factory.mktemp("model") / "m.pt"
    train(style_path, photos, out, TrainOptions(steps=2, **TINY))
    return out


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("impasto: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_training_lowers_the_loss(tmp_path, content_path, style_path):
    one = tmp_path / "one"
    one.mkdir()
    Image.open(content_path).convert("RGB").resize((43, 32)).crop((0, 0, 32, 32)).save(one / "a.png")
    opts = TrainOptions(steps=10, **{**TINY, "batch": 1, "lr": 3e-4, "warmup": 0})
    loss = PerceptualLoss(Image.open(style_path).convert("RGB"), opts.style_size, opts.loss_options())
    photo = to_tensor(Image.open(one / "a.png")).to(DEVICE)
    torch.manual_seed(opts.seed)  # train() starts from this same initialisation
    with torch.no_grad():
        before = float(loss(TransformerNet(opts.net_size()).to(DEVICE)(photo), photo)["total"])
    model = train(style_path, one, tmp_path / "m.pt", opts)
    with torch.no_grad():
        after = float(loss(model.net(photo), photo)["total"])
    assert after < 0.8 * before


def test_model_file_records_and_paints_any_size(tmp_path, model_file, content_path):
    m = load_model(model_file, DEVICE)
    assert m.style == "starry_night.jpg" and m.size == NetSize(8, 1, bounded=True) and m.train["crop"] == 32
    raw = torch.load(model_file, weights_only=True)
    assert all(v.dtype == torch.float16 for v in raw["state_dict"].values() if v.is_floating_point())
    img = Image.open(content_path).convert("RGB").resize((37, 23))
    assert stylize_image(m, img).size == (37, 23)


def test_cli_stylize_model_file_and_folder(tmp_path, model_file, photos, capsys):
    out = tmp_path / "one.png"
    assert main(["stylize", "--model", str(model_file), str(photos / "p0.png"), "-o", str(out)]) == 0
    assert Image.open(out).size == (64, 48)
    folder = tmp_path / "many"
    assert main(["stylize", "--model", str(model_file), str(photos), "-o", str(folder), "--quiet"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["p0.png", "p1.png", "p2.png"]


def test_checkpoint_and_resume(tmp_path, photos, style_path):
    out = tmp_path / "r.pt"
    train(style_path, photos, out, TrainOptions(steps=2, **{**TINY, "checkpoint_every": 2}))
    ckpt = out.with_name("r.pt.ckpt")
    assert load_model(ckpt).extra["step"] == 2
    m = train(style_path, photos, out, TrainOptions(steps=3, **TINY), resume=ckpt)
    assert m.train["steps_done"] == 3
    with pytest.raises(ImpastoError, match="not a checkpoint"):
        train(style_path, photos, out, TrainOptions(steps=4, **TINY), resume=out)
    # a checkpoint's network wins over the options' (an unbounded one stays unbounded)
    old = tmp_path / "old.pt"
    train(style_path, photos, old, TrainOptions(steps=2, **{**TINY, "checkpoint_every": 2, "bounded": False}))
    m = train(style_path, photos, old, TrainOptions(steps=3, **TINY), resume=old.with_name("old.pt.ckpt"))
    assert m.size == NetSize(8, 1, bounded=False)


def test_onnx_matches_pytorch(tmp_path, model_file, content_path):
    onnx_path = export_onnx(model_file, tmp_path / "m.onnx")
    x = to_tensor(Image.open(content_path).convert("RGB").resize((30, 22)))
    want = np.asarray(stylize_image(model_file, Image.open(content_path).convert("RGB").resize((30, 22)),
                                    precision="fp32"))
    got = run_onnx(onnx_path, x.numpy())
    assert got.shape == (1, 3, 22, 30)
    got8 = np.round(got[0].transpose(1, 2, 0) * 255).astype(int)
    assert np.abs(got8 - want.astype(int)).max() <= 1


def _make_clip(path: Path, frames: int, fps: int, audio: bool) -> None:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
           "-f", "lavfi", "-i", f"testsrc=size=64x48:rate={fps}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050"]
    cmd += ["-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    cmd += ["-c:a", "aac", "-shortest"] if audio else []
    subprocess.run(cmd + [str(path)], check=True)


def _probe(path: Path) -> tuple[int, float, bool]:
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    n = sum(1 for _ in gen)
    return n, meta["fps"], bool(meta.get("audio_codec"))


def test_video_keeps_frames_rate_and_audio(tmp_path, model_file):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _make_clip(src, 9, 12, audio=True)
    stats = stylize_video(model_file, src, dst, smooth=0.5, measure=True, device=DEVICE)
    assert stats.frames == 9 and stats.flicker is not None
    n, fps, audio = _probe(dst)
    assert (n, fps, audio) == (9, 12.0, True)
    _make_clip(src, 8, 25, audio=False)  # a whole number of batches, no audio track
    stylize_video(model_file, src, dst, smooth=0, device=DEVICE)
    assert _probe(dst) == (8, 25.0, False)


def test_flicker_metric_and_smoother():
    rng = np.random.default_rng(0)
    base = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    frames_in = [base] * 6
    assert flicker(frames_in, frames_in) == 0.0
    noisy = [np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8) for _ in frames_in]
    smooth = Smoother(0.6)
    calmer = [smooth(a, b) for a, b in zip(frames_in, noisy)]
    assert flicker(frames_in, calmer) < 0.7 * flicker(frames_in, noisy)


def test_bad_model_files(tmp_path, capsys, content_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a model" * 10)
    other = tmp_path / "other.pt"
    torch.save({"conv1_1.weight": torch.zeros(1)}, other)
    rec = model_record(TransformerNet(NetSize(8, 1)), "s.jpg", {})
    rec["state_dict"] = {"body.0.1.weight": torch.zeros(2, 2)}
    broken = tmp_path / "broken.pt"
    save_model(broken, rec)
    for path, why in [(junk, "not an impasto model"), (other, "not an impasto model"),
                      (broken, "damaged"), (tmp_path / "missing.pt", "no model file")]:
        with pytest.raises(ImpastoError, match=why):
            load_model(path)
        err = _one_line_error(capsys, ["stylize", "--model", str(path), str(content_path),
                                       "-o", str(tmp_path / "o.png")])
        assert why in err
    assert not (tmp_path / "o.png").exists()


def test_bad_videos(tmp_path, model_file, capsys):
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video")
    err = _one_line_error(capsys, ["video", "--model", str(model_file), str(fake), "-o", str(tmp_path / "o.mp4")])
    assert "not a video" in err
    err = _one_line_error(capsys, ["video", "--model", str(model_file), str(tmp_path / "none.mp4"),
                                   "-o", str(tmp_path / "o.mp4")])
    assert "no such video" in err
    assert not list(tmp_path.glob("*o.mp4"))


def test_shipped_styles_load():
    shipped = shipped_models()
    assert {"starry_night", "the_scream", "mosaic", "candy"} <= set(shipped)
    for name, path in shipped.items():
        assert path.stat().st_size < 4 << 20
        m = load_model(name)
        assert m.credit and m.style == f"{name}.jpg"
    out = stylize_image("starry_night", Image.new("RGB", (21, 13), (90, 140, 200)))
    assert out.size == (21, 13)


@pytest.mark.parametrize("name", ["starry_night", "the_scream", "mosaic", "candy"])
def test_shipped_styles_paint(name, content_path):
    """Each shipped model really paints: the photo changes a lot, and not into a flat colour
    (a zeroed or collapsed model would pass a mere load test)."""
    model = load_model(name)
    assert all(float(p.abs().sum()) > 0 for p in model.net.parameters())
    photo = Image.open(content_path).convert("RGB").resize((96, 72))
    out = to_tensor(stylize_image(model, photo, precision="fp32"))
    src = to_tensor(photo)
    assert float((out - src).abs().mean()) > 0.05  # it is not the photo
    assert float(out.std((2, 3)).mean()) > 0.05  # nor one colour
    # and the photo's layout survives: its brightness pattern still correlates with the painting's
    corr = torch.corrcoef(torch.stack([out.mean(1).flatten(), src.mean(1).flatten()]))[0, 1]
    assert float(corr) > 0.2


def test_cli_train_writes_model_and_previews(tmp_path, photos, style_path, capsys):
    out = tmp_path / "cli.pt"
    argv = ["train", str(style_path), "--photos", str(photos), "-o", str(out), "--steps", "2", "--batch", "1",
            "--crop", "32", "--style-size", "48", "--width", "8", "--blocks", "1", "--preview-every", "1",
            "--device", DEVICE, "--quiet"]
    assert main(argv) == 0
    assert load_model(out).train["steps"] == 2
    assert sorted(p.name for p in tmp_path.glob("cli_preview_*.png")) == ["cli_preview_00001.png",
                                                                          "cli_preview_00002.png"]
    err = _one_line_error(capsys, argv[:-3] + ["--crop", "30"])
    assert "multiple of 4" in err


def test_a_shipped_name_takes_the_size_that_fits_the_device(tmp_path, monkeypatch, capsys, content_path):
    """A style shipped in two sizes: a GPU gets the large network, a CPU the small one unless the
    large ones meet the CPU target (LARGE_ON_CPU); NAME:SIZE asks."""
    from impasto import shipped as S
    from impasto.fast import model as M

    monkeypatch.setattr(S, "LARGE_ON_CPU", False)
    (tmp_path / "large").mkdir()
    save_model(tmp_path / "toy.pt", model_record(TransformerNet(NetSize(8, 1)), "toy.jpg", {}, "someone"))
    save_model(tmp_path / "large" / "toy.pt", model_record(TransformerNet(NetSize(8, 2)), "toy.jpg", {}, "someone"))
    monkeypatch.setattr(S, "FAST_DIR", tmp_path)
    assert M.resolve_model_path("toy", "cpu") == tmp_path / "toy.pt"
    assert M.resolve_model_path("toy", torch.device("cuda")) == tmp_path / "large" / "toy.pt"
    assert load_model("toy:large").size == NetSize(8, 2) and load_model("toy:small").size == NetSize(8, 1)
    m = load_model("toy", "cpu")
    assert m.size == NetSize(8, 1) and m.choice == ("--model toy: the small network (width 8, 1 residual blocks), "
                                                    "the size for cpu")
    assert load_model(tmp_path / "toy.pt").choice == ""  # a path is taken as given
    out = tmp_path / "o.png"
    assert main(["stylize", "--model", "toy", str(content_path), "-o", str(out), "--device", "cpu",
                 "--max-long-edge", "32"]) == 0
    assert "impasto: --model toy: the small network" in capsys.readouterr().err
    monkeypatch.setattr(S, "LARGE_ON_CPU", True)
    assert M.resolve_model_path("toy", "cpu") == tmp_path / "large" / "toy.pt"
    (tmp_path / "large" / "toy.pt").unlink()  # one size shipped: that one, whatever the device
    path, why = M.resolve_model("toy", torch.device("cuda"))
    assert path == tmp_path / "toy.pt" and "the only size shipped" in why
    with pytest.raises(ImpastoError, match="small only"):
        load_model("toy:large")


def test_photo_crops_are_cut_on_the_device_at_random_places_scales_and_flips(tmp_path):
    """Two photos: a left-to-right ramp and a flat blue. Every crop comes from one of them whole
    (the ramp's crops rise or, flipped, fall), crops vary, and a seed repeats them."""
    from impasto.fast.photos import Photos

    ramp = np.zeros((48, 96, 3), np.uint8)
    ramp[..., 0] = np.linspace(0, 255, 96).astype(np.uint8)[None, :]
    Image.fromarray(ramp).save(tmp_path / "a_ramp.png")
    Image.new("RGB", (40, 60), (0, 0, 200)).save(tmp_path / "b_blue.png")
    data = Photos(tmp_path, 32, seed=3, device=DEVICE)
    x = data.batch(64)
    assert x.shape == (64, 3, 32, 32) and x.device.type == torch.device(DEVICE).type
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    blue = x[:, 2].mean((1, 2)) > 0.5
    assert 0 < int(blue.sum()) < 64  # both photos are drawn
    assert torch.allclose(x[blue][:, 2], torch.full_like(x[blue][:, 2], 200 / 255), atol=1e-3)
    red = x[~blue][:, 0].mean(1)  # (n, 32): each crop's red along x
    slope = red[:, -1] - red[:, 0]
    assert bool((slope.abs() > 0.2).all())  # a crop of the ramp is a ramp
    assert bool((slope > 0).any()) and bool((slope < 0).any())  # flipped ones fall
    assert len({round(float(v), 3) for v in red[:, 0]}) > 5  # at many places and scales
    assert torch.equal(Photos(tmp_path, 32, seed=3, device=DEVICE).batch(64), x)


def test_a_bounded_network_paints_inside_the_pixel_range_and_its_file_says_so(tmp_path):
    torch.manual_seed(0)
    net = TransformerNet(NetSize(8, 1, bounded=True))
    x = torch.rand(1, 3, 16, 16) * 50 - 25  # far outside any photo
    with torch.no_grad():
        y = net(x)
    assert float(y.min()) > 0 and float(y.max()) < 1
    save_model(tmp_path / "b.pt", model_record(net, "s.jpg", {}))
    m = load_model(tmp_path / "b.pt")
    assert m.size == NetSize(8, 1, bounded=True)
    with torch.no_grad():
        assert torch.allclose(m.net(x), y, atol=5e-3)  # fp16 weights in the file
    assert TrainOptions(skip=True).net_size() == NetSize(32, 5, skip=True)  # the photo plus a correction: no sigmoid
    with pytest.raises(ImpastoError, match="skip"):
        NetSize(8, 1, skip=True, bounded=True).validated()


@pytest.mark.parametrize("look", ["classic", "default"])
def test_styles_stacked_through_one_vgg_pass_give_each_styles_own_loss_and_gradient(look, content_path, style_path):
    """Training several styles sends all their outputs through VGG as one batch: the values and
    the gradients must be those of each style's own loss (fp32, to rounding)."""
    from impasto.fast.loss import StackedLoss
    from impasto.features.network import load_network

    opts = TrainOptions(**{**TINY, "precision": "fp32", "look": look})
    network = load_network(opts.loss_options())
    paintings = [Image.open(style_path).convert("RGB"), Image.open(content_path).convert("RGB").rotate(90)]
    losses = [PerceptualLoss(p, opts.style_size, opts.loss_options(), network) for p in paintings]
    torch.manual_seed(0)
    nets = [TransformerNet(opts.net_size()).to(DEVICE) for _ in paintings]
    photos = torch.rand(2, 3, 32, 32, device=DEVICE)
    content = losses[0].content_targets(photos)
    alone = []
    for net, loss in zip(nets, losses):
        parts = loss(net(photos), photos, content)
        grads = torch.autograd.grad(parts["total"], list(net.parameters()))
        alone.append((torch.stack([parts[k].detach() for k in ("content", "style", "tv", "total")]), grads))
    stacked = StackedLoss(losses)(torch.cat([net(photos) for net in nets]), content)
    assert stacked.shape == (4, 2)
    for i, (net, (values, grads)) in enumerate(zip(nets, alone)):
        assert torch.allclose(stacked[:, i], values, rtol=1e-5)
        together = torch.autograd.grad(stacked[-1].sum(), list(net.parameters()), retain_graph=True)
        for a, b in zip(together, grads):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(b.abs().max()))


def test_the_loss_look_is_recorded_and_old_files_keep_the_classic_one(tmp_path, photos, style_path):
    """A model file records the look and the beta in force; a checkpoint from before the look
    existed resumes with the loss it was trained on."""
    assert TrainOptions().loss_options().weights == "caffe" and TrainOptions().beta() == 1e3
    new = TrainOptions(look="default").loss_options()
    assert (new.weights, new.pooling, new.style_weight) == ("caffe-normalized", "max", 3e7)
    assert TrainOptions(look="default", style_weight=5.0).loss_options().style_weight == 5.0
    with pytest.raises(ImpastoError, match="--look"):
        TrainOptions(look="modern").validated()
    out = tmp_path / "d.pt"
    m = train(style_path, photos, out, TrainOptions(steps=2, **{**TINY, "look": "default", "checkpoint_every": 2}))
    assert m.train["look"] == "default" and m.train["style_weight"] == 3e7
    ckpt = torch.load(out.with_name("d.pt.ckpt"), weights_only=True)
    for k in ("look", "cuda_graph"):
        del ckpt["train"][k]
    ckpt["train"]["style_weight"] = 1e3
    save_model(tmp_path / "old.pt.ckpt", ckpt)
    m = train(style_path, photos, tmp_path / "old.pt", TrainOptions(steps=3, **TINY), resume=tmp_path / "old.pt.ckpt")
    assert m.train["look"] == "classic" and m.train["style_weight"] == 1e3 and m.train["steps_done"] == 3
