"""The one door: every shell (CLI, Python API, web worker, grid, batch, bench) starts a transfer
with :func:`prepare`, which resolves the options once, decodes the images once, reuses or loads
the network, and returns a :class:`Transfer`.

A Transfer runs coarse to fine (Gatys et al. 2017, *Controlling Perceptual Factors*, sec. 5):
one :class:`Run` per long edge in ``options.scales``, each started from the last one's result;
a plain run is a Transfer with one size. At print sizes a single-scale run is slow and its
strokes come out small and noisy: each iteration costs as much as the image has pixels, and
VGG's receptive fields cover a smaller part of the picture. Optimising at a small size first
fixes the large-scale arrangement cheaply; each larger size then only has to add detail, so it
runs half as many steps as the one before. The style image is resized with the content at
every size (``style_scale`` stays relative), and the loss normalisation keeps the weights
meaning the same at every size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from ..arbitrary.painting import ArbitraryModel
from ..arbitrary.painting import stylize as stylize_any
from ..errors import ImpastoError
from ..features.network import Network, load_network
from ..images.io import fit_long_edge, to_pil, to_tensor
from ..options import Options, Resolved, resolve
from .inputs import ImageInput, Inputs, load_inputs
from .run import Run, Step


@dataclass(frozen=True)
class Resume:
    """A transfer's position: size ``size`` (0 = coarsest), ``size_step`` steps into it, ``step``
    steps in all, and the best image so far (at that size). A server that stops mid-job keeps
    one, and the next start carries on from it instead of from step 0."""

    size: int
    size_step: int
    step: int
    image: Image.Image


class Transfer:
    """A whole transfer: iterate it for :class:`Step` objects (numbered across all sizes,
    ``total_steps`` in all); ``best_image()`` at any time (the current size's best so far).

    ``run`` is the current size's Run. ``size_steps``: steps per size, instead of the options'
    halving rule (a figure script's equal-time comparison uses it)."""

    def __init__(self, o: Resolved, inputs: Inputs, network: Network, size_steps: Sequence[int] | None = None,
                 resume: Resume | None = None) -> None:
        self.options, self.inputs, self.network = o, inputs, network
        self.sizes = o.scales
        self.iterations = tuple(size_steps) if size_steps is not None else o.size_iterations
        if len(self.iterations) != len(self.sizes):
            raise ValueError(f"need one iteration count per size ({len(self.sizes)})")
        self.resume = resume
        self.first = resume.size if resume is not None else 0
        if not 0 <= self.first < len(self.sizes):
            raise ImpastoError(f"cannot resume at size {self.first + 1}: the run has {len(self.sizes)}")
        self.done_sizes_steps = resume.step - resume.size_step if resume is not None else 0
        self.steps_done = resume.step if resume is not None else 0
        self.stopped_early = False
        self.size_index = self.first
        # the first size now: bad inputs fail before any work
        if resume is None:
            self.run = Run(self._at(0), inputs, network)
        else:
            left = max(1, self.iterations[self.first] - resume.size_step)
            self.run = Run(self._at(self.first, left), inputs, network, start=resume.image)

    @property
    def total_steps(self) -> int:
        """Steps planned: those the finished sizes took (a size stops early when its loss levels
        off) and the caps of the current and later ones."""
        return self.done_sizes_steps + self._size_base + sum(self.iterations[self.size_index:])

    @property
    def _size_base(self) -> int:
        """Steps of the current size done before this process took it up (a resumed size)."""
        r = self.resume
        return r.size_step if r is not None and self.size_index == r.size else 0

    def _at(self, i: int, steps: int | None = None) -> Resolved:
        """The options of size ``i`` alone (``steps``: fewer than its cap, for a resumed size)."""
        o = self.options
        return dataclasses.replace(o, max_long_edge=self.sizes[i], scales=(self.sizes[i],),
                                   iterations=self.iterations[i] if steps is None else steps,
                                   init_noise=o.init_noise if i == 0 and self.resume is None else 0.0)

    def _start(self, previous: Image.Image, i: int) -> Image.Image:
        """Size ``i``'s start: the last result enlarged, plus (when starting from the photo) the
        photo's own detail finer than the last size could hold. Without that detail the larger
        size spends its first iterations recovering edges the photo already has."""
        if self.options.init != "content":
            return previous  # Run resizes it
        photo = fit_long_edge(self.inputs.content, self.sizes[i])
        size = photo.size
        up = to_tensor(previous.resize(size, Image.BICUBIC))
        coarse = to_tensor(photo.resize(previous.size, Image.LANCZOS).resize(size, Image.BICUBIC))
        return to_pil((up + to_tensor(photo) - coarse).clamp(0, 1))

    def __iter__(self) -> Iterator[Step]:
        """Steps numbered by the steps actually taken, across sizes (a size that stops early
        hands over at once: the next size's first step is the next number)."""
        for i in range(self.first, len(self.sizes)):
            if i > self.size_index:
                self.done_sizes_steps += self._size_base + self.run.steps_done
                self.size_index = i
                self.run = Run(self._at(i), self.inputs, self.network, start=self._start(self.run.to_image(), i))
            offset = self.done_sizes_steps + self._size_base
            for step in self.run:
                self.steps_done = offset + step.step
                yield dataclasses.replace(step, step=self.steps_done)
            self.stopped_early = self.run.stopped_early
        self.steps_done = self.done_sizes_steps + self._size_base + self.run.steps_done

    def position(self) -> Resume:
        """Where the run is now, with its best image (undenoised, as the next size would start from
        it): what a later :func:`prepare` can resume from."""
        return Resume(self.size_index, self._size_base + self.run.steps_done, self.steps_done, self.run.to_image())

    @property
    def content_image(self) -> Image.Image:
        """The photo at the current size, as the optimiser started from it (before colour modes)."""
        return self.run.content_image

    @property
    def best_loss(self) -> torch.Tensor:
        """The current size's lowest loss so far (a device tensor)."""
        return self.run.best_loss

    def best_image(self) -> Image.Image:
        """The current size's lowest-loss image (denoised if asked)."""
        return self.run.best_image()

    def to_image(self) -> Image.Image:
        return self.run.to_image()


def prepare(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    options: Options | None = None,
    *,
    network: Network | None = None,
    resume: Resume | None = None,
    instant: ArbitraryModel | None = None,
    **typed: object,
) -> Transfer:
    """A :class:`Transfer` ready to iterate. ``options``: an Options (``typed`` values and
    ``preset=`` on top) or an already resolved one; ``network``: a loaded network to reuse
    when it serves these options (a server or a batch loads one per worker); ``resume``: a
    position an earlier run of the same request reached (:meth:`Transfer.position`); ``instant``:
    the loaded arbitrary-style network that ``init='instant'`` starts from (default: loaded here)."""
    o = options if isinstance(options, Resolved) and not typed else resolve(options, **typed)
    inputs = load_inputs(content, style, o)
    if o.init == "instant" and resume is None:
        inputs = dataclasses.replace(inputs, init=instant_start(inputs, o, instant))
    if network is None or not network.serves(o):
        network = load_network(o)
    return Transfer(o, inputs, network, resume=resume)


def instant_start(inputs: Inputs, o: Resolved, model: ArbitraryModel | None = None) -> Image.Image:
    """``--init instant``: the arbitrary-style network's painting of the photo, at the first size.
    The optimisation then starts from a picture that already has the paintings' palette and
    strokes, and has less to do."""
    model = model or ArbitraryModel.load(device=o.device, precision=o.precision)
    return stylize_any(model, inputs.content, list(inputs.styles), blend=inputs.blend, long_edge=o.scales[0],
                       style_scale=o.style_scale, precision=o.precision, max_pixels=o.max_pixels)


def stylize_iter(content: ImageInput, style: ImageInput | Sequence[ImageInput], options: Options | None = None,
                 **typed: object) -> Transfer:
    """A transfer to iterate: yields ``Step(step, losses, image)``; ``best_image()`` at any time."""
    return prepare(content, style, options, **typed)


def stylize(content: ImageInput, style: ImageInput | Sequence[ImageInput], options: Options | None = None,
            **typed: object) -> Image.Image:
    """Paint ``content`` in the manner of ``style`` (a path, a PIL image, or a list of them)."""
    t = prepare(content, style, options, **typed)
    for _ in t:
        pass
    return t.best_image()
