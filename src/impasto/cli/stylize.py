"""``impasto stylize`` (optimisation, or one pass of a feed-forward ``--model``) and ``impasto layers``.

The engine is imported inside the commands, not at the top, so that ``--help`` and argument
errors answer without loading torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import ImpastoError
from ..arbitrary.options import any_run_settings
from ..fast.options import MODEL_NOTE, model_run_settings
from ..shipped import ANY
from ..images.atomic import check_writable, output_format
from ..options import resolve
from .flags import add_option_flags, typed

EXIT_INTERRUPTED = 130


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("stylize", help="paint CONTENT in the style of STYLE (several styles blend)",
                       description="Paint CONTENT in the style of STYLE by optimisation (Gatys et al.), or "
                                   "with a trained feed-forward --model in one pass.")
    s.add_argument("images", nargs="*", metavar="CONTENT STYLE", help="content image, then style image(s)")
    s.add_argument("-o", "--output", required=True, help="output image (.png, .jpg or .webp)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--log-json", metavar="FILE", help="one JSON line of losses per step")
    s.add_argument("--plot", metavar="FILE.png", help="loss curves as a picture")
    s.add_argument("--model", help="a feed-forward style (a shipped name or a file from `impasto train`) instead "
                                   "of optimising; the images are then photos (or folders of them). `any`: the "
                                   "arbitrary-style network, CONTENT then the painting(s) as without --model")
    add_option_flags(s)
    s.set_defaults(func=cmd_stylize)
    lay = sub.add_parser("layers", help="list the layer names of a network")
    lay.add_argument("--arch", default="vgg19")
    lay.set_defaults(func=cmd_layers)


def cmd_stylize(args: argparse.Namespace) -> int:
    if args.model:
        return _with_model(args)
    if len(args.images) < 2:
        raise ImpastoError("stylize needs a content image and at least one style image (or --model)")
    out = Path(args.output)
    check_writable(out)
    for extra in (args.log_json, args.plot):
        if extra and not Path(extra).parent.is_dir():
            raise ImpastoError(f"cannot write {extra}: its folder does not exist")
    if args.plot:
        output_format(args.plot)
    options = resolve(None, args.preset, **typed(args))

    from ..images.io import save_image
    from ..painter import Done, Failed, Painter, Request
    from .report import JsonLog, Progress, plot_losses

    painting = Painter().paint(Request(args.images[0], options, tuple(args.images[1:])))
    log = JsonLog(args.log_json) if args.log_json else None
    history: list[dict] = []
    progress = None
    start = time.monotonic()
    done = None
    try:
        for ev in painting:
            if isinstance(ev, Failed):
                ev.throw()
            if isinstance(ev, Done):
                done = ev
                continue
            if progress is None:
                progress = Progress(ev.total, args.quiet)
            if log or args.plot:
                rec = {"step": ev.step, **ev.losses, "seconds": round(time.monotonic() - start, 4),
                       "long_edge": ev.long_edge}
                history.append(rec)
                if log:
                    log.write(rec)
            progress.update(ev.step, lambda: ev.losses, ev.total)
            if options.save_every and ev.step % options.save_every == 0:
                save_image(ev.image, intermediate_path(out, ev.step))
    except KeyboardInterrupt:
        pass
    finally:
        if progress is not None:
            progress.close()
    image = done.image if done is not None else painting.best_image()
    if image is None:  # interrupted before the first step
        raise KeyboardInterrupt
    save_image(image, out)
    if log:
        log.close()
    if args.plot and history:
        plot_losses(history, args.plot)
    if done is None:
        print(f"impasto: interrupted after {painting.steps_done} steps; best image so far written to {out}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        why = " (converged)" if done.stopped_early else ""
        print(f"wrote {out} after {done.steps} steps in {time.monotonic() - start:.1f} s{why}", file=sys.stderr)
    return 0


def intermediate_path(out: Path, step: int) -> Path:
    return out.with_name(f"{out.stem}_{step:04d}{out.suffix}")


def model_settings(args: argparse.Namespace) -> dict[str, object]:
    """The options a ``--model`` run honours, or an ImpastoError naming a flag it cannot."""
    for name in ("preset", "log_json", "plot"):
        if getattr(args, name):
            raise ImpastoError(f"--{name.replace('_', '-')} does not apply to --model ({MODEL_NOTE})")
    if args.model == ANY:
        return any_run_settings(typed(args))
    return model_run_settings(typed(args))


def _with_model(args: argparse.Namespace) -> int:
    """``impasto stylize --model MODEL IMAGE_OR_DIR... -o OUT``: one file, or a folder of them;
    ``--model any PHOTO_OR_DIR PAINTING... -o OUT``: the photos in the style of the paintings."""
    settings = model_settings(args)
    images, paintings = list(args.images), []
    if args.model == ANY:
        if len(images) < 2:
            raise ImpastoError("stylize --model any needs a photo (or a folder of them) and at least one painting")
        images, paintings = images[:1], images[1:]
    if not images:
        raise ImpastoError("stylize --model needs at least one photo (or a folder of them)")
    from ..fast.painting import expand_inputs
    from ..images.io import save_image

    files = expand_inputs(images)
    out = Path(args.output)
    single = len(files) == 1 and not Path(images[0]).is_dir() and out.suffix != ""
    if single:
        check_writable(out)
    else:
        if out.exists() and not out.is_dir():
            raise ImpastoError(f"-o {out}: several images need an output folder, not a file")
        if not out.parent.is_dir():
            raise ImpastoError(f"cannot write {out}: folder {out.parent} does not exist")
        out.mkdir(exist_ok=True)
    from ..painter import Painter, Request

    painter = Painter()
    options = resolve()
    start = time.monotonic()
    for n, src in enumerate(files):
        done = painter.paint(Request(src, options, tuple(paintings), args.model, settings)).result()
        if n == 0 and done.note and not args.quiet:
            print(f"impasto: {done.note}", file=sys.stderr)
        save_image(done.image, out if single else out / (src.stem + ".png"))
    if not args.quiet:
        print(f"wrote {len(files)} image(s) to {out} in {time.monotonic() - start:.2f} s", file=sys.stderr)
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from ..features.layers import ARCHS, layer_names

    if args.arch not in ARCHS:
        raise ImpastoError(f"unknown network {args.arch!r}; choose vgg19 or vgg16")
    for name in layer_names(args.arch):
        alias = ""
        if name.startswith("relu"):
            b, c = name[4:].split("_")
            alias = f"block{b}_conv{c}"
        elif name.startswith("pool"):
            alias = f"block{name[4:]}_pool"
        print(f"{name:10s} {alias}".rstrip())
    return 0
