"""The arbitrary-style network: a fixed VGG encoder, the AdaIN transform, a trained decoder.

The encoder is the engine's own VGG-19 (``caffe-normalized``, max pooling) cut after relu4_1,
the layer AdaIN matches statistics at; its shallower ReLUs (relu1_1 .. relu3_1) are read for
the training loss. The decoder mirrors the encoder (Huang & Belongie's design): a convolution
from 512 to 256 channels, then three upsampling stages, nearest-neighbour x2 followed by 3x3
convolutions, ending in RGB. Reflection padding everywhere, so borders are not darkened; no
normalisation layers, since the decoder must render whatever statistics AdaIN hands it.

Images are RGB in [0, 1]; features are the encoder's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..features.network import Network, load_network
from ..options import Resolved, resolve

# Where AdaIN acts, and the layers whose statistics the training loss matches.
TRANSFER_LAYER = "relu4_1"
STAT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
STRIDE = 8  # relu4_1 sees the image at 1/8 of its size


def encoder_options(device: str = "auto", precision: str = "auto") -> Resolved:
    """The engine options that load the encoder: the default look's network with max pooling."""
    return resolve(weights="caffe-normalized", pooling="max", content_layers=(TRANSFER_LAYER,),
                   style_layers=STAT_LAYERS, device=device, precision=precision, scales=(1,))


def load_encoder(device: str = "auto", precision: str = "auto") -> Network:
    return load_network(encoder_options(device, precision), STAT_LAYERS)


class MirrorPad(nn.Module):
    """Reflection padding by one pixel that keeps the input's dtype.

    Under autocast torch runs reflection padding in fp32, so in bf16 every decoder layer turned
    its input into fp32 and the next convolution turned it back: two full-size copies per layer,
    nearly half the decoder's time on a CPU. Padding is exact in any dtype, so autocast is
    switched off for it. No parameters: decoder files are unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.pad(x, (1, 1, 1, 1), mode="reflect")


def _conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [MirrorPad(), nn.Conv2d(cin, cout, 3)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


class Up(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


@dataclass(frozen=True)
class DecoderSize:
    """The decoder's widths, from the deepest stage to the shallowest (Huang & Belongie: 256, 128, 64)."""

    widths: tuple[int, int, int] = (256, 128, 64)

    def as_dict(self) -> dict:
        return {"widths": list(self.widths)}


class Decoder(nn.Module):
    """relu4_1 features (512 channels at 1/8 size) back to an RGB picture."""

    def __init__(self, size: DecoderSize = DecoderSize()) -> None:
        super().__init__()
        self.size = size
        a, b, c = size.widths
        self.body = nn.Sequential(
            *_conv(512, a), Up(),
            *_conv(a, a), *_conv(a, a), *_conv(a, a), *_conv(a, b), Up(),
            *_conv(b, b), *_conv(b, c), Up(),
            *_conv(c, c), *_conv(c, 3, relu=False),
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.body(t)


def _positions_by_channel(f: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``f`` as a view with the positions on one axis, in its own memory layout: (B, HW, C) for
    channels-last, (B, C, HW) otherwise; and that axis. Reducing along the layout is what makes
    the statistics cheap: torch's reduction over dims (2, 3) of a channels-last tensor is several
    times slower than the same sums over the (B, HW, C) view."""
    b, c, h, w = f.shape
    if f.is_contiguous(memory_format=torch.channels_last) and not f.is_contiguous():
        return f.permute(0, 2, 3, 1).reshape(b, h * w, c), 1
    return f.reshape(b, c, h * w), 2


class _MeanStd(torch.autograd.Function):
    """Per-channel mean and spread with a hand-written backward pass.

    Autograd's own chain for ``f.float().var()`` and ``.mean()`` keeps an fp32 copy of the
    features and makes several full-size fp32 temporaries on the way back; at relu1_1 of a
    training batch that was a quarter of the step on a CPU. The gradient of both statistics is
    one per-channel affine map of the features, ``a * f + b``, so the backward pass is a single
    fused multiply-add written straight in the features' own dtype. The forward pass is the
    exact two-pass formula (mean, then mean squared deviation), not the cancelling E[x^2] - E[x]^2.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        flat, axis = _positions_by_channel(f)
        x = flat.to(torch.promote_types(f.dtype, torch.float32))  # bf16 summed in fp32, fp64 kept
        mean = x.mean(axis, keepdim=True)
        var = (x - mean).square_().mean(axis)
        b, c = f.shape[:2]
        mean, std = mean.view(b, c, 1, 1), (var + eps).sqrt_().view(b, c, 1, 1)
        ctx.save_for_backward(f, mean, std)
        return mean, std

    @staticmethod
    def backward(ctx, g_mean: torch.Tensor, g_std: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        f, mean, std = ctx.saved_tensors
        n = f.shape[2] * f.shape[3]
        g_mean = torch.zeros_like(mean) if g_mean is None else g_mean
        g_std = torch.zeros_like(std) if g_std is None else g_std
        a = g_std / (n * std)  # d std / d f = (f - mean) / (n * std)
        b = g_mean / n - mean * a  # d mean / d f = 1 / n
        return torch.addcmul(b, f, a).to(f.dtype), None


def mean_std(f: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean and standard deviation over positions, in fp32: (B, C, 1, 1) each."""
    return _MeanStd.apply(f, eps)


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor) -> torch.Tensor:
    """The content features, each channel moved to the style's mean and spread (AdaIN, eq. 8)."""
    cm, cs = mean_std(content)
    return (content.float() - cm) / cs * style_std + style_mean


def encode(encoder: Network, rgb: torch.Tensor, layers: tuple[str, ...] = (TRANSFER_LAYER,)) -> dict[str, torch.Tensor]:
    """Encoder features of RGB images in [0, 1] (run in the encoder's precision by the caller)."""
    x = encoder.preprocess.to_net(rgb)
    if encoder.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return encoder.net(x, layers)
