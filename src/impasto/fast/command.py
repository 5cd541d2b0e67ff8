"""The command-line side of fast styles: ``impasto train``, ``stylize --model``, ``video``, ``export``.

Each command checks its inputs and outputs before any slow work, reports problems as one-line
:class:`ImpastoError` (exit 2), and writes every output atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import ImpastoError

EXIT_INTERRUPTED = 130


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None


def _threads(n: int | None) -> None:
    if n is not None:
        if n < 1:
            raise ImpastoError(f"--threads must be at least 1, not {n}")
        import torch

        torch.set_num_threads(n)


# -- stylize --model ------------------------------------------------------------------------
def stylize_with_model(args: argparse.Namespace) -> int:
    """``impasto stylize --model MODEL IMAGE_OR_DIR... -o OUT``: one file, or a folder of them."""
    from ..images import check_writable, save_image
    from ..options import PRECISIONS
    from .paint import as_model, expand_inputs, stylize_files

    files = expand_inputs(args.images)
    out = Path(args.output)
    single = len(files) == 1 and not Path(args.images[0]).is_dir() and out.suffix != ""
    if single:
        check_writable(out)
    else:
        if out.exists() and not out.is_dir():
            raise ImpastoError(f"-o {out}: several images need an output folder, not a file")
        if not out.parent.is_dir():
            raise ImpastoError(f"cannot write {out}: folder {out.parent} does not exist")
        out.mkdir(exist_ok=True)
    precision = getattr(args, "precision", None) or "auto"
    if precision not in PRECISIONS:
        raise ImpastoError(f"unknown precision {precision!r}; choose {', '.join(PRECISIONS)}")
    model = as_model(args.model, getattr(args, "device", "auto"))
    start = time.monotonic()
    n = 0
    for src, img in stylize_files(model, files, precision=precision):
        dest = out if single else out / (src.stem + ".png")
        save_image(img, dest)
        n += 1
    if not getattr(args, "quiet", False):
        print(f"wrote {n} image(s) to {out} in {time.monotonic() - start:.2f} s", file=sys.stderr)
    return 0


# -- train ----------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from ..images import load_image
    from .train import TrainOptions, checkpoint_path, train

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
    from .video import stylize_video

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


# -- export ---------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx

    export_onnx(args.model, args.output)
    if not args.quiet:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``video`` and ``export`` to the ``impasto`` command."""
    from ..options import PRECISIONS
    from .train import TrainOptions

    d = TrainOptions()
    t = sub.add_parser("train", help="train a feed-forward network for one style (Johnson et al.)")
    t.add_argument("style", help="the style image")
    t.add_argument("--photos", required=True, help="folder of training photos (searched recursively)")
    t.add_argument("-o", "--output", required=True, help="the model file to write (.pt)")
    t.add_argument("--steps", type=_int, help=f"training steps (default {d.steps})")
    t.add_argument("--batch", type=_int, help=f"photos per step (default {d.batch})")
    t.add_argument("--crop", type=_int, help=f"crop side in pixels (default {d.crop})")
    t.add_argument("--style-size", dest="style_size", type=_int,
                   help=f"style image long edge for its Grams (default {d.style_size}); larger = bigger strokes")
    t.add_argument("--lr", type=_float, help=f"Adam learning rate (default {d.lr:g})")
    t.add_argument("--width", type=_int, help=f"channels of the first layer (default {d.width})")
    t.add_argument("--blocks", type=_int, help=f"residual blocks (default {d.blocks})")
    t.add_argument("--content-weight", dest="content_weight", type=_float, help="default 1")
    t.add_argument("--style-weight", dest="style_weight", type=_float, help="default 1e3")
    t.add_argument("--tv-weight", dest="tv_weight", type=_float, help="default 1e-3")
    t.add_argument("--seed", type=_int, help="default 0")
    t.add_argument("--preview", help="photo painted every --preview-every steps (default: the first photo)")
    t.add_argument("--preview-every", dest="preview_every", type=_int,
                   help=f"write OUT_preview_NNNNN.png every N steps, 0 = never (default {d.preview_every})")
    t.add_argument("--checkpoint-every", dest="checkpoint_every", type=_int,
                   help=f"write OUT.ckpt every N steps (default {d.checkpoint_every})")
    t.add_argument("--resume", nargs="?", const="", default=None, metavar="CKPT",
                   help="continue from OUT.ckpt (or the checkpoint given)")
    t.add_argument("--credit", help="who made the style image (stored in the model)")
    t.add_argument("--device", help="auto (default: the GPU when there is one), cpu, cuda, mps")
    t.add_argument("--precision", help="auto (default), fp32, tf32 or bf16 (mixed precision; fastest on recent CPUs and GPUs)")
    t.add_argument("--threads", type=_int, help="CPU threads for torch")
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
    v.add_argument("--threads", type=_int)
    v.add_argument("--quiet", action="store_true")
    v.set_defaults(func=cmd_video)

    e = sub.add_parser("export", help="write a model as ONNX for onnxruntime and other runtimes")
    e.add_argument("model", help="model file or shipped style name")
    e.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_export)
