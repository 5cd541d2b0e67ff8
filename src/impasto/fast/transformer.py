"""The image transformation network of Johnson, Alahi & Fei-Fei (2016), sized by two numbers.

Encoder: a 9x9 convolution then two stride-2 convolutions; a stack of residual blocks at a
quarter of the resolution; decoder: two nearest-neighbour upsamplings each followed by a
convolution (Odena et al.'s resize-convolution, which cannot produce the checkerboard that
transposed convolutions leave), then a 9x9 convolution back to RGB. Instance normalisation
(Ulyanov et al.) instead of batch normalisation, so an image's look does not depend on its
batch-mates. Reflection padding keeps borders free of dark frames.

Optionally (``skip=True``, not the paper's) the output is *added to the input* and the last
convolution starts at zero, so an untrained network returns the photo itself, the
optimisation engine's own starting point. In short CPU runs this kept the photo but learnt
the style more slowly than the paper's network, so it is off by default.

``width`` is the channel count of the first layer (Johnson: 32; it doubles twice) and
``blocks`` the number of residual blocks (Johnson: 5). Smaller settings trade quality for
speed, which is what a CPU-trained model needs.

``bounded=True`` ends the network in a sigmoid, so its output is a valid picture by
construction (Johnson's ends in a scaled tanh for the same reason). Without it the output is
unbounded, and the style loss, quartic in the pixels, can meet a batch that drives the output
far out of range: the loss jumps by three to four orders of magnitude in one step, Adam's
second-moment estimate with it, and the network settles on a flat colour it never leaves
(docs/fast.md, "The training recipe"). Files written before it existed have no sigmoid.

Input and output are RGB in [0, 1], (B, 3, H, W). Sides that are not multiples of 4 are
padded by reflection and cropped back, so any size comes out at the size it went in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..features.devices import precision_context, prefers_channels_last
from .options import NetSize


class ConvLayer(nn.Sequential):
    """Reflection pad, convolution, then (optionally) instance norm and ReLU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, norm: bool = True, relu: bool = True):
        layers: list[nn.Module] = [nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Residual(nn.Module):
    """Two 3x3 convolutions added to their input (He et al.), no ReLU after the sum (Gross & Wilber)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvLayer(c, c, 3), ConvLayer(c, c, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 then a convolution: upsampling without checkerboard artefacts."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvLayer(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransformerNet(nn.Module):
    """Photo in, painting out, in one forward pass. See the module docstring."""

    def __init__(self, size: NetSize = NetSize()) -> None:
        super().__init__()
        self.size = size.validated()
        w = size.width
        self.body = nn.Sequential(
            ConvLayer(3, w, 9),
            ConvLayer(w, 2 * w, 3, stride=2),
            ConvLayer(2 * w, 4 * w, 3, stride=2),
            *[Residual(4 * w) for _ in range(size.blocks)],
            Upsample(4 * w, 2 * w),
            Upsample(2 * w, w),
            ConvLayer(w, 3, 9, norm=False, relu=False),
        )
        self.skip, self.bounded = size.skip, size.bounded
        if size.skip:
            last = self.body[-1][1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB, unclamped unless ``bounded`` (training wants the gradient everywhere); sides must be
        multiples of 4."""
        if self.skip:
            return x + self.body(x)
        y = self.body(x)
        return torch.sigmoid(y) if self.bounded else y


def pad_to_multiple(x: torch.Tensor, m: int = 4) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad the bottom and right so both sides divide by ``m``; returns the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


@torch.no_grad()
def paint(net: TransformerNet, rgb: torch.Tensor, precision: str = "auto") -> torch.Tensor:
    """Stylise a (B, 3, H, W) batch in [0, 1] of any size; the result is clamped to [0, 1].

    ``precision`` as the engine's: 'auto' is bf16 on CPUs that have it (twice as fast, a
    mean 0.3-0.6 levels from fp32 on the shipped styles), 'fp32' matches the ONNX export.
    """
    x, h, w = pad_to_multiple(rgb)
    if prefers_channels_last(x.device, precision):
        x = x.contiguous(memory_format=torch.channels_last)
    with precision_context(x.device, precision):
        y = net(x)
    return y[..., :h, :w].float().clamp(0, 1).contiguous()
