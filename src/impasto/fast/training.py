"""Training transformation networks (Johnson et al. 2016, section 3): one style, or several at once.

Adam on the perceptual loss of :mod:`impasto.fast.loss` over random crops of a photo folder.
Several styles train side by side in one loop (:func:`train_many`): they see the same crops,
share one loss network, and each step sends every style's outputs through it as one batch
(:class:`impasto.fast.loss.StackedLoss`), after the photos' content features are taken once.
Every ``preview_every`` steps each network paints one fixed photo so progress can be seen;
every ``checkpoint_every`` steps (and on Ctrl-C) networks and optimisers are saved next to the
outputs so ``resume`` continues where a run stopped. Finished models are written atomically
as fp16.

Built so a GPU is never kept waiting: the photos are decoded once and cropped on the device
(:mod:`impasto.fast.photos`), the network and its input are channels-last where the device
prefers it, and the losses are summed on the device and read only every ``log_every`` steps
(each read waits for the device to catch up). Nothing else in a step asks the device for a
number, so with ``cuda_graph`` the whole step (forward, backward, every optimiser) is captured
once and replayed (:mod:`impasto.fast.graphed`), one launch a step instead of thousands.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ImpastoError
from ..features.devices import cuda_flags, precision_context, prefers_channels_last, resolve_device
from ..features.network import load_network
from ..images.io import fit_long_edge, load_image, save_image, to_pil, to_tensor
from ..losses.terms import PART_NAMES
from .graphed import WARMUP, GraphedStep
from .loss import PerceptualLoss, StackedLoss
from .model import FastModel, load_model, model_record, save_model
from .options import TrainOptions
from .photos import Photos
from .transformer import TransformerNet, paint


def checkpoint_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def preview_path(out: str | Path, step: int) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}_preview_{step:05d}.png")


Callback = Callable[[int, dict[str, float]], None]
Report = Callable[[int, dict[str, dict[str, float]]], None]


@dataclass
class Student:
    """One style being learnt: its network, loss, optimiser, output file and running loss sum."""

    name: str
    style: str  # the style image's file name (stored in the model)
    credit: str
    out: Path
    net: TransformerNet
    loss: PerceptualLoss
    optim: torch.optim.Optimizer

    def record(self, opts: TrainOptions, step: int, checkpoint: bool) -> dict:
        rec = model_record(self.net, self.style, {**opts.record(), "steps_done": step}, self.credit,
                           torch.float32 if checkpoint else torch.float16)
        if checkpoint:
            rec.update(optimizer=self.optim.state_dict(), step=step)
        return rec


def _student(name: str, style: str | Path, credit: str, out: Path, opts: TrainOptions, device: torch.device,
             network, channels_last: bool, state: dict | None = None) -> Student:
    loss = PerceptualLoss(load_image(style), opts.style_size, opts.loss_options(), network)
    net = TransformerNet(opts.net_size())
    if state is not None:
        net.load_state_dict(state)
    net.to(device).train().requires_grad_(True)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    # fused: one kernel for the whole update on the GPU instead of one per tensor; a graphed step
    # needs the rate as a tensor on the device (changed in place) and a capturable optimiser
    graphed = opts.cuda_graph and device.type == "cuda"
    lr = torch.tensor(opts.lr, device=device) if graphed else opts.lr
    optim = torch.optim.Adam(net.parameters(), lr=lr, fused=device.type == "cuda" or None,
                             capturable=graphed)
    return Student(name, Path(style).name, credit, out, net, loss, optim)


def learning_rate(opts: TrainOptions, step: int) -> float:
    """The rate for step ``step`` (0-based): a linear warm-up to ``lr``. The network starts as a
    random map, and Adam's first steps move every weight by about lr at once, which throws the
    output far off: the warm-up keeps those steps small."""
    return opts.lr * min(1.0, (step + 1) / max(1, opts.warmup))


def train(style: str | Path, photos: str | Path, out: str | Path, opts: TrainOptions | None = None,
          resume: str | Path | None = None, preview: str | Path | None = None, credit: str = "",
          on_step: Callback | None = None) -> FastModel:
    """Train a model for ``style`` on the photos in ``photos`` and write it to ``out``.

    ``resume``: a checkpoint to continue from (its network size and loss weights win; ``steps``
    from ``opts`` may extend the run). ``preview``: the photo painted every ``preview_every``
    steps (default: the folder's first). ``on_step(step, losses)`` gets the mean losses of the
    last ``log_every`` steps, every ``log_every`` steps and at the end. On Ctrl-C a checkpoint
    is written before the KeyboardInterrupt propagates.
    """
    opts = (opts or TrainOptions()).validated()
    start, ckpt = 0, None
    if resume is not None:
        ckpt = load_model(resume)
        if "step" not in ckpt.extra:
            raise ImpastoError(f"{resume} is a finished model, not a checkpoint (no optimiser state)")
        saved = {k: v for k, v in ckpt.train.items() if k in TrainOptions.__dataclass_fields__}
        saved.update(ckpt.size.as_dict())  # the network it holds (older files record no ``bounded``)
        opts = dataclasses.replace(opts, **{**saved, "steps": opts.steps, "device": opts.device,
                                            "preview_every": opts.preview_every,
                                            "checkpoint_every": opts.checkpoint_every,
                                            "log_every": opts.log_every,
                                            "cuda_graph": opts.cuda_graph}).validated()
        start = int(ckpt.extra["step"])
    report = None if on_step is None else (lambda step, losses: on_step(step, next(iter(losses.values()))))
    models = _train({Path(style).stem: (style, credit, Path(out))}, photos, opts, preview, report, start,
                    ckpt)
    return next(iter(models.values()))


def train_many(styles: Mapping[str, tuple[str | Path, str]], photos: str | Path | Sequence[Path],
               out_dir: str | Path, opts: TrainOptions | None = None, preview: str | Path | None = None,
               on_report: Report | None = None, deadline: float | None = None) -> dict[str, FastModel]:
    """Train one model per style side by side and write ``out_dir/NAME.pt`` for each.

    ``styles``: NAME -> (style image, credit); ``photos``: a folder or the image files. They see
    the same crops and share one loss network (the photos' features are computed once a step
    for all). ``on_report(step, {NAME: losses})`` every ``log_every`` steps. ``deadline``: a ``time.monotonic()`` value
    after which training stops early and the models are written with the steps done so far
    (recorded as ``steps_done``): a guard for runs with a hard time limit."""
    opts = (opts or TrainOptions()).validated()
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ImpastoError(f"cannot write models to {out_dir}: not a folder")
    jobs = {name: (style, credit, out_dir / f"{name}.pt") for name, (style, credit) in styles.items()}
    return _train(jobs, photos, opts, preview, on_report, 0, None, deadline)


def _train(jobs: Mapping[str, tuple[str | Path, str, Path]], photos: str | Path | Sequence[Path],
           opts: TrainOptions, preview: str | Path | None, on_report: Report | None, start: int,
           ckpt: FastModel | None, deadline: float | None = None) -> dict[str, FastModel]:
    device = resolve_device(opts.device)
    for style, _, out in jobs.values():
        load_image(style)  # fail now, not after loading the photos
        if out.is_dir() or not out.parent.is_dir():
            raise ImpastoError(f"cannot write {out}: not a file in an existing folder")
    data = Photos(photos, opts.crop, seed=opts.seed + start, device=device)
    preview_img = fit_long_edge(load_image(preview or data.files[0]), 256)
    nhwc = prefers_channels_last(device, opts.precision)
    network = load_network(opts.loss_options())  # one VGG for every style

    students = []
    for name, (style, credit, out) in jobs.items():
        torch.manual_seed(opts.seed)  # every network starts as it would trained alone
        state = ckpt.net.state_dict() if ckpt is not None else None
        students.append(_student(name, style, credit, out, opts, device, network, nhwc, state))
    if ckpt is not None and ckpt.extra.get("optimizer"):
        students[0].optim.load_state_dict(ckpt.extra["optimizer"])
    stacked = StackedLoss([st.loss for st in students])
    sums = torch.zeros(len(students), len(PART_NAMES), device=device)  # summed on the device between reports

    def save_all(step: int, checkpoint: bool) -> None:
        for st in students:
            save_model(checkpoint_path(st.out) if checkpoint else st.out, st.record(opts, step, checkpoint))

    def report(step: int, count: int) -> None:
        means = sums.div(max(1, count)).tolist()  # the one read
        sums.zero_()
        if on_report is not None:
            on_report(step, {st.name: dict(zip(PART_NAMES, m)) for st, m in zip(students, means)})

    def one_step(batch: torch.Tensor) -> None:
        """Forward, backward and every optimiser: what a graph captures, or what runs plainly.
        The backward pass under the same device flags as the forward (cuDNN autotuning)."""
        with cuda_flags(device, opts.precision):
            for st in students:
                st.optim.zero_grad(set_to_none=True)
            content = stacked.content_targets(batch)  # the same for every style
            with precision_context(device, opts.precision):
                outs = torch.cat([st.net(batch) for st in students])
            parts = stacked(outs, content)
            parts[-1].sum().backward()  # each style's total depends on its own network only
            for st in students:
                st.optim.step()
            sums.add_(parts.detach().T)

    def set_rate(rate: float) -> None:
        for st in students:
            for group in st.optim.param_groups:
                if torch.is_tensor(group["lr"]):
                    group["lr"].fill_(rate)
                else:
                    group["lr"] = rate

    graph = None
    if opts.cuda_graph and device.type == "cuda":
        example = data.batch(opts.batch)
        graph = GraphedStep(one_step, example.contiguous(memory_format=torch.channels_last) if nhwc else example)
    step, since = start, 0
    try:
        while step < opts.steps:
            batch = data.batch(opts.batch)
            if nhwc:
                batch = batch.contiguous(memory_format=torch.channels_last)
            set_rate(learning_rate(opts, step))
            if graph is not None:
                graph(batch)
                if graph.failure is not None and graph.calls == WARMUP + 1:
                    warnings.warn(f"training on without a CUDA graph: {graph.failure}", stacklevel=2)
            else:
                one_step(batch)
            step += 1
            since += 1
            late = deadline is not None and time.monotonic() > deadline
            if step % opts.log_every == 0 or step == opts.steps or late:
                report(step, since)
                since = 0
            if opts.preview_every and step % opts.preview_every == 0:
                for st in students:
                    st.net.eval()
                    save_image(to_pil(paint(st.net, to_tensor(preview_img).to(device), opts.precision)),
                               preview_path(st.out, step))
                    st.net.train()
            if opts.checkpoint_every and step % opts.checkpoint_every == 0:
                save_all(step, True)
            if late:
                break
    except KeyboardInterrupt:
        save_all(step, True)
        raise
    save_all(step, False)
    return {st.name: load_model(st.out, device) for st in students}
