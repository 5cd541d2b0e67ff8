"""Coarse-to-fine style transfer (Gatys et al. 2017, *Controlling Perceptual Factors*, sec. 5).

At print sizes a single-scale run is slow and its strokes come out small and noisy: each
iteration costs as much as the image has pixels, and VGG's receptive fields cover a smaller
part of the picture. Optimising at a small size first fixes the large-scale arrangement
cheaply; each larger size then starts from the upsampled result of the one before and only
has to add detail, so it needs fewer iterations.

``--scales N`` means N long edges halving down from ``--max-long-edge`` (3 and 2048 give
512, 1024, 2048); ``--scales 400,800,1600`` names them (the last is the output size). The
coarsest size runs ``--iterations`` steps and each larger one half as many as the one before.
The style image is resized with the content at every size (``--style-scale`` stays relative),
and the loss normalisation (``losses.py``) keeps the weights meaning the same at every size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from PIL import Image

from .beyond import MAX_SCALE_COUNT
from .errors import ImpastoError
from .images import fit_long_edge, load_image, to_pil, to_tensor
from .network import Network, load_network
from .options import Options
from .presets import resolve_options
from .transfer import ImageInput, Run, Step


def scale_sizes(options: Options) -> list[int]:
    """The long edges to optimise at, coarse to fine (one entry: a plain single-scale run)."""
    s = tuple(options.scales or ())
    if not s:
        return [options.max_long_edge]
    if len(s) == 1 and s[0] <= MAX_SCALE_COUNT:
        final = options.max_long_edge
        sizes = [max(16, round(final / 2 ** (s[0] - 1 - i))) for i in range(s[0])]
        return sorted(set(sizes))
    return list(s)


def scale_iterations(options: Options, count: int) -> list[int]:
    """``iterations`` at the coarsest size, half as many at each larger one (at least 1)."""
    return [max(1, options.iterations // 2**i) for i in range(count)]


class MultiScaleRun:
    """A :class:`Run` per size, each started from the last one's result; iterates like a Run.

    Steps are numbered across all sizes (``total_steps`` in all); ``run`` is the current size's
    Run, and ``best_image()`` its best image so far (the final size's once finished).
    """

    def __init__(
        self,
        content: ImageInput,
        style: ImageInput | Sequence[ImageInput],
        options: Options | None = None,
        network: Network | None = None,
        iterations: Sequence[int] | None = None,
        **overrides: object,
    ) -> None:
        o = resolve_options(options, **overrides).validated()
        self.options = o
        self.sizes = scale_sizes(o)
        self.iterations = list(iterations) if iterations is not None else scale_iterations(o, len(self.sizes))
        if len(self.iterations) != len(self.sizes) or any(n < 1 for n in self.iterations):
            raise ImpastoError(f"need one positive iteration count per scale ({len(self.sizes)})")
        self.content, self.style = content, style
        self.network = network if network is not None else load_network(o)
        self.total_steps = sum(self.iterations)
        self.steps_done = 0
        self.stopped_early = False
        # The first size is set up now, so bad inputs fail before any work (as with a Run).
        self.run = self._run(0, o.init)

    def _run(self, i: int, init: object) -> Run:
        o = self.options.replace(max_long_edge=self.sizes[i], iterations=self.iterations[i], scales=(),
                                 init=init, init_noise=self.options.init_noise if i == 0 else 0.0)
        return Run(self.content, self.style, o, network=self.network)

    def _upsample(self, previous: Image.Image, i: int) -> Image.Image:
        """Size ``i``'s start: the last result enlarged, plus (when starting from the photo) the
        photo's own detail finer than the last size could hold. Without that detail the larger
        size spends its first iterations recovering edges the photo already has."""
        if self.options.init != "content":
            return previous  # Run resizes it
        photo = fit_long_edge(load_image(self.content, self.options.max_pixels), self.sizes[i])
        size = photo.size
        up = to_tensor(previous.resize(size, Image.BICUBIC))
        coarse = to_tensor(photo.resize(previous.size, Image.LANCZOS).resize(size, Image.BICUBIC))
        return to_pil((up + to_tensor(photo) - coarse).clamp(0, 1))

    def __iter__(self) -> Iterator[Step]:
        offset = 0
        for i in range(len(self.sizes)):
            if i > 0:
                previous: Image.Image = self.run.to_image()  # best so far, undenoised
                self.run = self._run(i, self._upsample(previous, i))
            run = self.run
            for step in run:
                self.steps_done = offset + step.step
                yield Step(run, offset + step.step, step._parts, step._x)
            offset += self.iterations[i]
            self.stopped_early = run.stopped_early
        self.steps_done = offset

    def best_image(self) -> Image.Image:
        """The current size's lowest-loss image (denoised if asked)."""
        return self.run.best_image()

    def to_image(self) -> Image.Image:
        return self.run.to_image()

    @property
    def best_loss(self) -> torch.Tensor:
        """The current size's lowest loss so far (a device tensor, as on a Run)."""
        return self.run.best_loss


def make_run(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    options: Options | None = None,
    network: Network | None = None,
    **overrides: object,
) -> Run | MultiScaleRun:
    """A MultiScaleRun when ``scales`` asks for more than one size, else a plain Run."""
    o = resolve_options(options, **overrides).validated()
    if len(scale_sizes(o)) > 1 and o.color != "only":
        return MultiScaleRun(content, style, o, network=network)
    if o.scales:
        o = o.replace(max_long_edge=scale_sizes(o)[-1], scales=())
    return Run(content, style, o, network=network)
