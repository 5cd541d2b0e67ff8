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

from ..errors import ImpastoError
from ..fast.options import TrainOptions
from ..options import knobs
from .flags import THREADS, number
from .stylize import EXIT_INTERRUPTED

_int, _float = number(int), number(float)
PRECISIONS = knobs()["precision"].choices


def _threads(n: int | None) -> None:
    if n is not None:
        import torch

        torch.set_num_threads(n)


# -- train ----------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from ..fast.training import checkpoint_path, train
    from ..images.io import load_image

    _threads(args.threads)
    out = Path(args.output)
    if out.is_dir() or not out.parent.is_dir():
        raise ImpastoError(f"cannot write {out}: not a file in an existing folder")
    load_image(args.style)  # fail now, not after loading the photos
    fields = TrainOptions.__dataclass_fields__
    opts = TrainOptions(**{k: v for k, v in vars(args).items() if k in fields and v is not None}).validated()
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``video`` and ``export`` to the ``impasto`` command."""
    t = sub.add_parser("train", help="train a feed-forward network for one style (Johnson et al.)")
    t.add_argument("style", help="the style image")
    t.add_argument("--photos", required=True, help="folder of training photos (searched recursively)")
    t.add_argument("-o", "--output", required=True, help="the model file to write (.pt)")
    for f in dataclasses.fields(TrainOptions):
        if f.type in ("bool", bool):  # --bounded / --no-bounded: a default of True must be undoable
            t.add_argument("--" + f.name.replace("_", "-"), dest=f.name, action=argparse.BooleanOptionalAction,
                           default=None, help=f"{f.metadata['help']} (default {'on' if f.default else 'off'})")
            continue
        kind = {"int": _int, "float": _float}.get(str(f.type), str)
        shown = f"{f.default:g}" if isinstance(f.default, float) else f.default
        t.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind,
                       help=f"{f.metadata['help']} (default {shown})")
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
