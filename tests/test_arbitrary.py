"""The arbitrary-style network: AdaIN, the painting knobs, exact tiles, the decoder file, training.

A randomly initialised small decoder is enough for behaviour: its output is brightened to mid
grey (final bias 0.5) so that clamping does not hide differences.
"""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from impasto import shipped
from impasto.arbitrary import model as M
from impasto.arbitrary.model import decoder_record, load_decoder, save_decoder
from impasto.arbitrary.network import STAT_LAYERS, TRANSFER_LAYER, Decoder, DecoderSize, adain, encode, mean_std
from impasto.arbitrary.options import ArbitraryTrainOptions
from impasto.arbitrary.painting import ArbitraryModel, adain_affine, blend_statistics, paint_tensor, stylize
from impasto.arbitrary.tiles import windows
from impasto.arbitrary.training import checkpoint_path, split, train_decoder
from impasto.cli import main
from impasto.errors import ImpastoError
from impasto.images.io import to_tensor

from .conftest import DEVICE

SMALL = DecoderSize((32, 16, 8))


def _decoder() -> Decoder:
    torch.manual_seed(0)
    net = Decoder(SMALL)
    net.body[-1].bias.data.fill_(0.5)
    return net


@pytest.fixture(scope="module")
def decoder_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("arbitrary") / "decoder.pt"
    save_decoder(path, decoder_record(_decoder(), {"note": "random"}))
    return path


@pytest.fixture(scope="module")
def model(decoder_file) -> ArbitraryModel:
    return ArbitraryModel.load(decoder_file, device=DEVICE, precision="fp32")


@pytest.fixture(scope="module")
def images(content_path, style_path) -> tuple[Image.Image, Image.Image, Image.Image]:
    photo = Image.open(content_path).convert("RGB").resize((61, 45))
    art = Image.open(style_path).convert("RGB").resize((48, 38))
    other = Image.open(content_path).convert("RGB").rotate(90, expand=True).resize((30, 40))
    return photo, art, other


def test_adain_gives_the_content_the_styles_statistics():
    torch.manual_seed(0)
    content = torch.rand(2, 16, 9, 7) * 3
    style = torch.rand(2, 16, 5, 11) * 0.5 + 2
    sm, ss = mean_std(style)
    out_m, out_s = mean_std(adain(content, sm, ss))
    assert torch.allclose(out_m, sm, atol=1e-4) and torch.allclose(out_s, ss, atol=1e-3)


@pytest.mark.parametrize("channels_last", [False, True])
def test_mean_std_is_exact_with_its_own_backward(channels_last):
    x = torch.rand(2, 3, 5, 4, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(lambda f: mean_std(f), (x.requires_grad_(True),))
    f = torch.relu(torch.randn(2, 8, 12, 10)).bfloat16().contiguous(memory_format=torch.channels_last)
    var, mean = torch.var_mean(f.double(), dim=(2, 3), keepdim=True, correction=0)
    m, s = mean_std(f)
    assert m.dtype == torch.float32 and torch.allclose(m.double(), mean, atol=1e-6)
    assert torch.allclose(s.double(), (var + 1e-5).sqrt(), atol=1e-6)


def test_blend_is_the_weighted_sum_of_adain_outputs_and_alpha_mixes_the_content():
    torch.manual_seed(1)
    f = torch.rand(1, 8, 6, 6)
    styles = [mean_std(torch.rand(1, 8, 4, 4) * k) for k in (1.0, 3.0)]
    weights = [0.25, 0.75]
    cm, cs = mean_std(f)
    scale, shift = adain_affine(cm, cs, *blend_statistics(styles, weights))
    expected = sum(w * adain(f, m, s) for (m, s), w in zip(styles, weights))
    assert torch.allclose(scale * f + shift, expected, atol=1e-5)
    scale, shift = adain_affine(cm, cs, *styles[0], alpha=0.3)
    assert torch.allclose(scale * f + shift, 0.3 * adain(f, *styles[0]) + 0.7 * f, atol=1e-5)


def test_blend_weights_choose_and_mix_paintings(model, images):
    photo, art, other = images
    one = to_tensor(stylize(model, photo, [art]))
    assert torch.equal(to_tensor(stylize(model, photo, [art, other], blend=[2, 0])), one)
    assert torch.equal(to_tensor(stylize(model, photo, [art, art], blend=[1, 3])), one)
    two = to_tensor(stylize(model, photo, [other]))
    mixed = to_tensor(stylize(model, photo, [art, other], blend=[1, 1]))
    assert not torch.equal(mixed, one) and not torch.equal(mixed, two)
    for bad in ([1], [1, -1], [0, 0]):
        with pytest.raises(ImpastoError, match="--style-blend"):
            stylize(model, photo, [art, other], blend=bad)


def test_alpha_zero_is_the_decoders_rendering_of_the_photo(model, images):
    photo, art, _ = images
    x = to_tensor(photo.crop((0, 0, 56, 40)))
    with torch.no_grad():
        f = encode(model.encoder, x.to(model.device))[TRANSFER_LAYER]
        plain = model.decoder(f).clamp(0, 1).cpu()
    assert torch.allclose(paint_tensor(model, x, [art], [1.0], alpha=0.0).cpu(), plain, atol=1e-5)
    styled = paint_tensor(model, x, [art], [1.0], alpha=1.0).cpu()
    assert float((styled - plain).abs().max()) > 1e-3
    with pytest.raises(ImpastoError, match="alpha"):
        stylize(model, photo, [art], alpha=1.5)


def test_tiles_agree_with_the_whole_picture(model, images):
    photo, art, _ = images
    x = to_tensor(photo.resize((150, 101)))
    whole = paint_tensor(model, x, [art], [1.0])
    tiled = paint_tensor(model, x, [art], [1.0], tile=48)  # 4 x 3 tiles, the painting in tiles too
    assert len(windows(19, 6)) == 4
    assert whole.shape == tiled.shape == (1, 3, 101, 150)
    assert float((whole - tiled).abs().max()) < 1e-4


def test_any_size_is_kept_and_too_small_is_refused(model, images):
    photo, art, _ = images
    assert stylize(model, photo.resize((37, 23)), [art]).size == (37, 23)
    assert stylize(model, photo.resize((16, 50)), [art.resize((3, 2))]).size == (16, 50)
    assert stylize(model, photo, [art], long_edge=40).size == (40, 30)
    with pytest.raises(ImpastoError, match="at least 16 px"):
        stylize(model, photo.resize((15, 40)), [art])


def test_colour_modes_and_odd_paintings(model, images, tmp_path):
    photo, art, _ = images
    gray = art.convert("L")
    clear = art.convert("RGBA")
    clear.putalpha(0)
    for painting in (gray, clear):
        assert stylize(model, photo, [painting]).size == photo.size
    kept = to_tensor(stylize(model, photo, [art], color="luminance"))
    from impasto.images.color import chroma

    assert float((chroma(kept) - chroma(to_tensor(photo))).abs().mean()) < 0.02
    assert stylize(model, photo, [art], color="only").size == photo.size
    damaged = tmp_path / "broken.jpg"
    damaged.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImpastoError, match="broken.jpg"):
        stylize(model, photo, [damaged])


def test_a_missing_or_damaged_decoder_file_says_how_to_get_it_back(tmp_path, monkeypatch):
    with pytest.raises(ImpastoError, match="missing; train one") as e:
        load_decoder(tmp_path / "none.pt")
    assert "\n" not in str(e.value)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ImpastoError, match="damaged decoder file"):
        ArbitraryModel.load(junk)
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ImpastoError, match="not an impasto arbitrary-style decoder"):
        load_decoder(tmp_path / "other.pt")
    rec = decoder_record(_decoder(), {})
    rec["state_dict"].pop(next(iter(rec["state_dict"])))
    save_decoder(tmp_path / "short.pt", rec)
    with pytest.raises(ImpastoError, match="weights do not fit"):
        load_decoder(tmp_path / "short.pt")
    monkeypatch.setattr(shipped, "ANY_DECODER", tmp_path / "gone" / "decoder.pt")
    with pytest.raises(ImpastoError, match="reinstall impasto"):
        ArbitraryModel.load()


@pytest.fixture(scope="module")
def folders(tmp_path_factory, content_path, style_path):
    """Two photos and two paintings, each its crop's size, so every step sees the same pixels
    (up to flips) and the loss can only fall; the names are chosen to be outside the held-out split."""
    root = tmp_path_factory.mktemp("data")
    photos, paintings = root / "photos", root / "paintings"
    photos.mkdir()
    paintings.mkdir()
    src = {photos: Image.open(content_path).convert("RGB"), paintings: Image.open(style_path).convert("RGB")}
    for folder, img in src.items():
        made = 0
        for i in range(20):
            if made == 2:
                break
            path = folder / f"img{i}.png"
            img.resize((40, 32)).crop((4 * made, 0, 4 * made + 32, 32)).save(path)
            if split([folder])[1]:
                path.unlink()
            else:
                made += 1
    return photos, paintings


def _opts(steps: int) -> ArbitraryTrainOptions:
    return ArbitraryTrainOptions(steps=steps, batch=2, crop=32, style_crop=32, lr=2e-3, lr_decay=0.0,
                                 widths=(16, 8, 8), preview_every=0, checkpoint_every=100, log_every=4,
                                 device=DEVICE, precision="fp32")


def test_training_lowers_the_loss_and_a_rerun_resumes(folders, tmp_path):
    photos, paintings = folders
    out = tmp_path / "d.pt"
    seen: list[tuple[int, float]] = []
    train_decoder([photos], [paintings], out, _opts(12), on_report=lambda s, r: seen.append((s, r["total"])))
    assert [s for s, _ in seen] == [4, 8, 12]
    assert seen[-1][1] < seen[0][1]
    assert checkpoint_path(out).is_file() and load_decoder(checkpoint_path(out)).extra["step"] == 12
    done = load_decoder(out)
    assert done.train["steps_done"] == 12 and done.train["data"]["photos_trained"] == 2
    assert all(v.dtype == torch.float16 for v in torch.load(out, weights_only=True)["state_dict"].values())
    seen.clear()
    train_decoder([photos], [paintings], out, _opts(16), on_report=lambda s, r: seen.append((s, r["total"])))
    assert [s for s, _ in seen] == [16]
    assert load_decoder(out).train["steps_done"] == 16
    checkpoint_path(out).unlink()  # a new checkout: the finished decoder travels, its checkpoint does not
    seen.clear()
    train_decoder([photos], [paintings], out, _opts(20), on_report=lambda s, r: seen.append((s, r["total"])))
    assert [s for s, _ in seen] == [20] and load_decoder(out).train["steps_done"] == 20


def test_ctrl_c_writes_the_checkpoint(folders, tmp_path):
    photos, paintings = folders
    out = tmp_path / "d.pt"

    def stop(step, losses):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_decoder([photos], [paintings], out, _opts(12), on_report=stop)
    assert load_decoder(checkpoint_path(out)).extra["step"] == 4 and not out.exists()


def test_cli_train_arbitrary(folders, tmp_path, capsys):
    photos, paintings = folders
    out = tmp_path / "cli.pt"
    argv = ["train", "--arbitrary", "--photos", str(photos), "--paintings", str(paintings), "-o", str(out),
            "--steps", "4", "--batch", "1", "--crop", "32", "--style-crop", "32", "--widths", "8,8,8",
            "--log-every", "2", "--preview-every", "0", "--device", DEVICE]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "step 4/4" in err and "s/step" in err and f"wrote {out}" in err
    assert main(argv[:-8] + ["--steps", "6"] + argv[-6:]) == 0
    err = capsys.readouterr().err
    assert "resuming from" in err and "step 6/6" in err and "step 2/6" not in err
    assert load_decoder(out).net.size == DecoderSize((8, 8, 8))
    for bad, says in ((["train", "--arbitrary", "--photos", str(photos), "-o", str(out)], "--paintings"),
                      (argv + ["--width", "8"], "--width does not apply to --arbitrary"),
                      (["train", "style.jpg", "--photos", str(photos), "-o", str(out), "--style-crop", "32"],
                       "--style-crop applies only with --arbitrary"),
                      (argv[:3] + [str(tmp_path / "nope")] + argv[4:], "not a folder"),
                      (argv + ["--crop", "30"], "multiple of 8")):
        assert main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("impasto: error:") and "\n" not in err and says in err, err
