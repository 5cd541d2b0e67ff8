"""Shared fixtures: tiny real images, an isolated cache, a fake offline torch hub, and the device.

``IMPASTO_TEST_DEVICE`` (default ``cpu``) is the device the core tests run their work on: set it to
``cuda`` on a GPU machine (``python -m bench gpu`` does). Every test that takes the ``device``
fixture is marked ``device``, so ``pytest -m device`` runs just the device-aware subset.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

torch.set_num_threads(2)
DEVICE = os.environ.get("IMPASTO_TEST_DEVICE", "cpu")


def pytest_configure(config):
    config.addinivalue_line("markers", "device: runs its work on IMPASTO_TEST_DEVICE (the device-aware subset)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "device" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.device)


@pytest.fixture(scope="session")
def device() -> str:
    """The device the core tests run on; asking for CUDA where there is none is an error, not a skip."""
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.fail(f"IMPASTO_TEST_DEVICE={DEVICE} but torch sees no CUDA device")
    return DEVICE


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Each test gets its own torch hub; the weight cache is shared per session (dequantized once)."""
    cache = tmp_path_factory.getbasetemp() / "impasto-cache"
    monkeypatch.setenv("IMPASTO_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch-home")))

    def offline(*a, **k):
        raise OSError("network is unreachable (tests run offline)")

    monkeypatch.setattr(urllib.request, "urlopen", offline)


@pytest.fixture(scope="session")
def content_path() -> Path:
    return EXAMPLES / "tubingen.jpg"


@pytest.fixture(scope="session")
def style_path() -> Path:
    return EXAMPLES / "starry_night.jpg"


@pytest.fixture
def small(tmp_path, content_path, style_path):
    """64 px copies of the example images (faster to decode than the full JPEGs)."""
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    Image.open(content_path).convert("RGB").resize((64, 48)).save(c)
    Image.open(style_path).convert("RGB").resize((64, 40)).save(s)
    return c, s


def fake_torchvision_vgg(path: Path, arch: str = "vgg16") -> None:
    """A torchvision-layout VGG state dict with random weights (for offline tests of that path)."""
    from impasto.features.layers import conv_shapes

    g = torch.Generator().manual_seed(0)
    state, idx = {}, 0
    for b, n in enumerate({"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}[arch]):
        for c in range(n):
            shape = conv_shapes(arch)[f"conv{b + 1}_{c + 1}"]
            fan_in = shape[1] * 9
            state[f"features.{idx}.weight"] = torch.randn(shape, generator=g) * (2 / fan_in) ** 0.5
            state[f"features.{idx}.bias"] = torch.zeros(shape[0])
            idx += 2
        idx += 1  # the pooling layer's slot
    state["classifier.0.weight"] = torch.zeros(1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
