import io
import os
import urllib.request

import pytest
import torch

from impasto import ImpastoError, resolve
from impasto.features.layers import canonical_layer, conv_shapes, layer_names
from impasto.features.vgg import VGGFeatures
from impasto.features.weights import CAFFE, TORCH, TORCHVISION, caffe_vgg19, cache_dir, load_weights, torch_hub_dir

from .conftest import fake_torchvision_vgg


def test_caffe_weights_load_with_expected_shapes_and_are_cached():
    w = load_weights("caffe", "vgg19")
    assert w.arch == "vgg19" and w.preprocess is CAFFE
    assert {k: tuple(v[0].shape) for k, v in w.convs.items()} == conv_shapes("vgg19")
    for name, (weight, bias) in w.convs.items():
        assert weight.dtype == torch.float32 and bias.shape == (weight.shape[0],)
        assert torch.isfinite(weight).all() and weight.abs().sum() > 0
    cached = list(cache_dir().glob("vgg19-caffe-*.pt"))
    assert len(cached) == 1
    again = caffe_vgg19()  # second start reads the cache
    assert torch.equal(again.convs["conv5_4"][0], w.convs["conv5_4"][0])


def test_caffe_net_recognises_structure_not_noise():
    """Real weights respond far more strongly to a photo-like gradient than a constant image."""
    w = load_weights("caffe", "vgg19")
    net = VGGFeatures("vgg19", w.convs, "max", "relu3_1")
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64).clone()
    flat = torch.full((1, 3, 64, 64), 0.5)
    f_ramp = net(CAFFE.to_net(ramp), ["relu3_1"])["relu3_1"]
    f_flat = net(CAFFE.to_net(flat), ["relu3_1"])["relu3_1"]
    assert f_ramp.shape == (1, 256, 16, 16)
    assert (f_ramp - f_flat).abs().mean() > 0.1


def test_vgg16_needs_non_caffe_weights():
    with pytest.raises(ImpastoError, match="VGG-19 only"):
        resolve(arch="vgg16")


def test_torchvision_offline_gives_one_line_help():
    with pytest.raises(ImpastoError) as e:
        load_weights("torchvision", "vgg19")
    msg = str(e.value)
    assert "\n" not in msg and "vgg19-dcbb9e9d.pth" in msg and "online" in msg


def test_torchvision_from_hub_cache():
    fake_torchvision_vgg(torch_hub_dir() / TORCHVISION["vgg16"][0], "vgg16")
    w = load_weights("torchvision", "vgg16")
    assert w.arch == "vgg16" and w.preprocess is TORCH
    assert {k: tuple(v[0].shape) for k, v in w.convs.items()} == conv_shapes("vgg16")


def test_download_with_wrong_checksum_is_refused(monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(b"not the weights"))
    with pytest.raises(ImpastoError, match="SHA-256"):
        load_weights("torchvision", "vgg19")
    assert not any(torch_hub_dir().glob("*")) if torch_hub_dir().exists() else True


def test_user_file_layouts_and_errors(tmp_path):
    tv = tmp_path / "tv.pth"
    fake_torchvision_vgg(tv, "vgg19")
    w = load_weights(str(tv), "vgg19")
    assert w.preprocess is TORCH and w.arch == "vgg19"
    ours = tmp_path / "ours.pth"
    torch.save({f"{k}.{p}": t for k, (wt, b) in w.convs.items() for p, t in (("weight", wt), ("bias", b))}, ours)
    assert load_weights(str(ours), "vgg19").preprocess is CAFFE
    with pytest.raises(ImpastoError, match="vgg19 weights but vgg16"):
        load_weights(str(ours), "vgg16")
    bad = tmp_path / "bad.pth"
    state = torch.load(ours, weights_only=True)
    state["conv3_1.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save(state, bad)
    with pytest.raises(ImpastoError, match="conv3_1"):
        load_weights(str(bad), "vgg19")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(os.urandom(100))
    with pytest.raises(ImpastoError, match="cannot read"):
        load_weights(str(junk), "vgg19")
    with pytest.raises(ImpastoError, match="not found"):
        load_weights(str(tmp_path / "missing.pth"), "vgg19")


def test_layer_names_and_keras_aliases():
    assert len(layer_names("vgg19")) == 16 * 2 + 5 and len(layer_names("vgg16")) == 13 * 2 + 5
    assert canonical_layer("block4_conv2", "vgg19") == "relu4_2"
    assert canonical_layer("block3_pool", "vgg19") == "pool3"
    assert canonical_layer("conv4_2", "vgg19") == "conv4_2"
    with pytest.raises(ImpastoError, match="unknown layer"):
        canonical_layer("conv3_4", "vgg16")


def test_network_is_cut_and_frozen():
    w = load_weights("caffe", "vgg19")
    net = VGGFeatures("vgg19", w.convs, "avg", "relu2_1")
    assert net.names[-1] == "relu2_1" and set(net.convs) == {"conv1_1", "conv1_2", "conv2_1"}
    assert not any(p.requires_grad for p in net.parameters())


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_normalized_net_computes_the_same_up_to_a_unit_per_filter(pooling):
    """The CVPR 2016 rescaling changes units, not what the net sees: each relu is the raw one
    divided by that filter's mean activation over photos."""
    from impasto.features.weights import channel_means

    raw, norm = load_weights("caffe"), load_weights("caffe-normalized")
    means = channel_means()
    layers = ["relu1_1", "relu2_2", "relu3_4", "relu4_2", "relu5_1"]
    x = CAFFE.to_net(torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0)))
    a = VGGFeatures("vgg19", raw.convs, pooling, "relu5_1")(x, layers)
    b = VGGFeatures("vgg19", norm.convs, pooling, "relu5_1")(x, layers)
    for name in layers:
        m = means["conv" + name[4:]].clamp_min(1e-6).view(1, -1, 1, 1)
        ok = means["conv" + name[4:]].view(1, -1, 1, 1) > 1e-6
        scale = a[name].abs().max()
        assert ((b[name] - a[name] / m).abs() * ok).max() <= 1e-3 * scale / m.min(), name
    assert norm.source == "caffe-normalized"
