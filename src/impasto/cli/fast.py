"""The command-line side of fast styles: ``impasto train``, ``video`` and ``export``
(``stylize --model`` is in ``stylize.py``).

Each command checks its inputs and outputs before any slow work, reports problems as one-line
:class:`ImpastoError` (exit 2), and writes every output atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..arbitrary.options import ArbitraryTrainOptions
from ..errors import ImpastoError
from ..fast.options import TrainOptions
from ..options import knobs
from ..values import ints
from .flags import THREADS, number
from .stylize import EXIT_INTERRUPTED

_int, _float = number(int), number(float)
PRECISIONS = knobs()["precision"].choices
FAST_FIELDS = {f.name: f for f in dataclasses.fields(TrainOptions)}
ARBITRARY_FIELDS = {f.name: f for f in dataclasses.fields(ArbitraryTrainOptions)}


def _threads(n: int | None) -> None:
    if n is not None:
        import torch

        torch.set_num_threads(n)


# -- train ----------------------------------------------------------------------------------
def _given(args: argparse.Namespace, names: object) -> list[str]:
    return [n for n in names if getattr(args, n, None) is not None]  # type: ignore[attr-defined]


def cmd_train(args: argparse.Namespace) -> int:
    if args.arbitrary:
        return cmd_train_arbitrary(args)
    from ..fast.training import checkpoint_path, train
    from ..images.io import load_image

    if args.style is None:
        raise ImpastoError("train: give the style image (or --arbitrary with --paintings for the any-painting network)")
    wrong = _given(args, ("paintings", *(n for n in ARBITRARY_FIELDS if n not in FAST_FIELDS)))
    if wrong:
        raise ImpastoError(f"--{wrong[0].replace('_', '-')} applies only with --arbitrary")
    if len(args.photos) > 1:
        raise ImpastoError("--photos: one folder for a single style (several go with --arbitrary)")
    args.photos = args.photos[0]
    _threads(args.threads)
    out = Path(args.output)
    if out.is_dir() or not out.parent.is_dir():
        raise ImpastoError(f"cannot write {out}: not a file in an existing folder")
    load_image(args.style)  # fail now, not after loading the photos
    opts = TrainOptions(**{k: v for k, v in vars(args).items() if k in FAST_FIELDS and v is not None}).validated()
    resume = None
    if args.resume is not None:
        resume = Path(args.resume) if args.resume else checkpoint_path(out)
        if not resume.is_file():
            raise ImpastoError(f"--resume: no checkpoint at {resume}")
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=opts.steps, unit="step", dynamic_ncols=True, file=sys.stderr, mininterval=0.5)

    def on_step(step: int, losses: dict[str, float]) -> None:
        if bar is not None:
            bar.n = step
            bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
            bar.update(0)

    try:
        train(args.style, args.photos, out, opts, resume=resume, preview=args.preview,
              credit=args.credit or "", on_step=on_step)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"impasto: interrupted; checkpoint written to {checkpoint_path(out)} (continue with --resume)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if bar is not None:
        bar.close()
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_train_arbitrary(args: argparse.Namespace) -> int:
    """``impasto train --arbitrary``: the any-painting decoder; a rerun resumes from OUT.ckpt."""
    if args.style is not None:
        raise ImpastoError("--arbitrary learns from --paintings folders, not one style image")
    if not args.paintings:
        raise ImpastoError("--arbitrary needs --paintings FOLDER (paintings to learn from)")
    fast_only = ("preview", "credit", *(n for n in FAST_FIELDS if n not in ARBITRARY_FIELDS))
    wrong = _given(args, fast_only)
    if wrong:
        raise ImpastoError(f"--{wrong[0].replace('_', '-')} does not apply to --arbitrary")
    for flag, folders in (("--photos", args.photos), ("--paintings", args.paintings)):
        for folder in folders:
            if not Path(folder).is_dir():
                raise ImpastoError(f"{flag} {folder}: not a folder")
    out = Path(args.output)
    if out.is_dir() or not out.parent.is_dir():
        raise ImpastoError(f"cannot write {out}: not a file in an existing folder")
    opts = ArbitraryTrainOptions(**{k: v for k, v in vars(args).items()
                                    if k in ARBITRARY_FIELDS and v is not None}).validated()
    from ..arbitrary.training import checkpoint_path

    ckpt = checkpoint_path(out)
    if args.resume is not None and args.resume and Path(args.resume) != ckpt:
        raise ImpastoError(f"--arbitrary resumes from {ckpt} only (rerun the same command to continue)")
    if args.resume is not None and not ckpt.is_file():
        raise ImpastoError(f"--resume: no checkpoint at {ckpt}")
    _threads(args.threads)
    from ..arbitrary.training import train_decoder

    line = ProgressLine(opts.steps, quiet=args.quiet)
    if (ckpt.is_file() or out.is_file()) and not args.quiet:
        print(f"impasto: resuming from {ckpt if ckpt.is_file() else out}", file=sys.stderr)
    try:
        train_decoder(args.photos, args.paintings, out, opts, on_report=line.report)
    except KeyboardInterrupt:
        line.close()
        print(f"impasto: interrupted; checkpoint written to {ckpt} (run the same command to continue)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    line.close()
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)
    return 0


class ProgressLine:
    """One line on stderr, rewritten in place on a terminal (a line per report in a log file):
    the step, the recent losses and the time per step."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        self.total, self.quiet = total, quiet
        self.tty = sys.stderr.isatty()
        self.open = False

    def report(self, step: int, losses: dict[str, float]) -> None:
        if self.quiet:
            return
        text = (f"step {step}/{self.total}  content {losses['content']:.4g}  style {losses['style']:.4g}  "
                f"total {losses['total']:.4g}  {losses['seconds_per_step']:.3g} s/step")
        if self.tty:
            print("\r" + text + "\x1b[K", end="", file=sys.stderr, flush=True)
            self.open = True
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.open:
            print(file=sys.stderr)
            self.open = False


# -- video ----------------------------------------------------------------------------------
def cmd_video(args: argparse.Namespace) -> int:
    if args.ray is not None:
        return _video_on_ray(args)
    from ..fast.video import stylize_video

    _threads(args.threads)
    stats = stylize_video(args.model, args.input, args.output, smooth=args.smooth,
                          device=args.device, quiet=args.quiet, measure=args.flicker,
                          precision=args.precision)
    if not args.quiet:
        msg = f"wrote {args.output}: {stats.frames} frames at {stats.fps:g} fps"
        if stats.flicker is not None:
            msg += f", flicker {stats.flicker:.2f}"
        print(msg, file=sys.stderr)
    return 0


def _video_on_ray(args: argparse.Namespace) -> int:
    """``impasto video --ray``: overlapping chunks of frames painted across a Ray cluster."""
    if args.flicker:
        raise ImpastoError("--flicker measures on this machine; run it without --ray")
    from ..batch.video import stylize_video_ray

    stats = stylize_video_ray(args.model, args.input, args.output, args.ray, smooth=args.smooth, device=args.device,
                              precision=args.precision, chunk=args.chunk_frames, overlap=args.overlap,
                              threads=args.threads, retries=args.retries, quiet=args.quiet)
    if not args.quiet:
        print(f"wrote {args.output}: {stats.frames} frames at {stats.fps:g} fps", file=sys.stderr)
    return 0


# -- export ---------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from ..fast.export import export_onnx

    export_onnx(args.model, args.output)
    if not args.quiet:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _default_text(f: dataclasses.Field) -> str:
    if f.type in ("bool", bool):
        return "on" if f.default else "off"
    if isinstance(f.default, float):
        return f"{f.default:g}"
    if isinstance(f.default, tuple):
        return ",".join(str(v) for v in f.default)
    return str(f.default)


def _train_flag(t: argparse.ArgumentParser, fast: dataclasses.Field | None,
                arbitrary: dataclasses.Field | None) -> None:
    """One ``train`` flag for a field of TrainOptions, ArbitraryTrainOptions or both (one flag,
    its help and default for each kind of training)."""
    f = fast or arbitrary
    assert f is not None
    if fast is not None and arbitrary is not None:
        a, b = _default_text(fast), _default_text(arbitrary)
        if fast.metadata["help"] != arbitrary.metadata["help"]:
            help = f"{fast.metadata['help']} (default {a}); with --arbitrary: {arbitrary.metadata['help']} (default {b})"
        else:
            help = f"{fast.metadata['help']} (default {a}" + (")" if a == b else f"; with --arbitrary {b})")
    elif fast is not None:
        help = f"{fast.metadata['help']} (default {_default_text(fast)})"
    else:
        help = f"with --arbitrary: {f.metadata['help']} (default {_default_text(f)})"
    flag = "--" + f.name.replace("_", "-")
    if f.type in ("bool", bool):  # --bounded / --no-bounded: a default of True must be undoable
        t.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help)
        return
    kind = {"int": _int, "float": _float}.get(str(f.type), str)
    if str(f.type).startswith("tuple[int"):
        kind = ints
    t.add_argument(flag, dest=f.name, type=kind, help=help)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``video`` and ``export`` to the ``impasto`` command."""
    t = sub.add_parser("train", help="train a feed-forward network for one style (Johnson et al.), or with "
                                     "--arbitrary one for any painting (Huang & Belongie)")
    t.add_argument("style", nargs="?", help="the style image (not with --arbitrary)")
    t.add_argument("--arbitrary", action="store_true",
                   help="train the any-painting decoder (stylize --model any) on --paintings; "
                        "reruns resume from OUT.ckpt, Ctrl-C writes it")
    t.add_argument("--photos", required=True, action="append",
                   help="folder of training photos (searched recursively; repeat with --arbitrary)")
    t.add_argument("--paintings", action="append", help="with --arbitrary: folder of paintings (repeatable)")
    t.add_argument("-o", "--output", required=True, help="the model file to write (.pt)")
    for name in {**FAST_FIELDS, **ARBITRARY_FIELDS}:
        _train_flag(t, FAST_FIELDS.get(name), ARBITRARY_FIELDS.get(name))
    t.add_argument("--preview", help="photo painted every --preview-every steps (default: the first photo)")
    t.add_argument("--resume", nargs="?", const="", default=None, metavar="CKPT",
                   help="continue from OUT.ckpt (or the checkpoint given)")
    t.add_argument("--credit", help="who made the style image (stored in the model)")
    t.add_argument("--threads", type=THREADS, help="CPU threads for torch")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)

    v = sub.add_parser("video", help="paint a video frame by frame with a --model")
    v.add_argument("input", help="input video (any format ffmpeg reads)")
    v.add_argument("--model", required=True, help="model file or shipped style name")
    v.add_argument("-o", "--output", required=True, help="output video (.mp4, .mkv, .mov, .webm)")
    v.add_argument("--smooth", type=_float, default=0.5,
                   help="flicker reduction: weight of the flow-warped previous frame, 0-1 (default 0.5, 0 = off)")
    v.add_argument("--flicker", action="store_true", help="measure and print the flicker of the result")
    v.add_argument("--device", default="auto")
    v.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto: bf16 on CPUs with AMX/AVX512-BF16, tf32 on CUDA, else fp32")
    v.add_argument("--threads", type=THREADS, help="CPU threads (with --ray: CPUs per chunk on CPU nodes)")
    v.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                   help="paint chunks of frames on a Ray cluster: auto, HOST:PORT or local "
                        '(pip install "impasto[ray]"; docs/cluster.md)')
    v.add_argument("--chunk-frames", type=_int, default=240, metavar="N", help="with --ray: frames per task (default 240)")
    v.add_argument("--overlap", type=_int, metavar="N",
                   help="with --ray: frames painted before each chunk to warm the flicker smoothing "
                        "(default: enough for --smooth to carry no seam, 9 at 0.5)")
    v.add_argument("--retries", type=_int, default=3, metavar="N",
                   help="with --ray: how often a chunk whose worker died is painted again (default 3)")
    v.add_argument("--quiet", action="store_true")
    v.set_defaults(func=cmd_video)

    e = sub.add_parser("export", help="write a model as ONNX for onnxruntime and other runtimes")
    e.add_argument("model", help="model file or shipped style name")
    e.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_export)
