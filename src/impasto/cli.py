"""The ``impasto`` command: ``stylize``, ``layers`` and the subcommands of the other parts.

Every failure a user can cause ends in one line on stderr and exit status 2 (130 after Ctrl-C,
once the best image so far is written). Flags map one-to-one onto :class:`impasto.Options`;
only flags the user typed override a preset.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import ImpastoError

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, like every other impasto error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ImpastoError(f"{message} (see `{self.prog} --help`)")


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, not {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, not {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(v for v in text.replace(",", " ").split() if v)


def _number(kind: type):
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, not {text!r}") from None

    parse.__name__ = kind.__name__
    return parse


# flag, Options field, type, help
OPTION_FLAGS: list[tuple[str, str, object, str]] = [
    ("--arch", "arch", str, "network: vgg19 (default) or vgg16"),
    ("--weights", "weights", str, "caffe (default, the paper's VGG-19), torchvision, or a .pth file"),
    ("--preprocess", "preprocess", str, "for a weights file: caffe or torchvision (guessed from its keys)"),
    ("--pooling", "pooling", str, "avg (the paper's choice, default) or max"),
    ("--content-layers", "content_layers", _names, "comma-separated, default relu4_2 (the paper's conv4_2)"),
    ("--content-layer-weights", "content_layer_weights", _floats, "one per content layer"),
    ("--style-layers", "style_layers", _names, "comma-separated, default relu1_1,...,relu5_1"),
    ("--style-layer-weights", "style_layer_weights", _floats, "one per style layer (default equal)"),
    ("--style-blend", "style_blend", _floats, "one weight per style image (default equal)"),
    ("--content-weight", "content_weight", _number(float), "alpha (default 1)"),
    ("--style-weight", "style_weight", _number(float), "beta (default 1e3: alpha/beta = 1e-3 as in the paper)"),
    ("--tv-weight", "tv_weight", _number(float), "total-variation weight (default 1e-3)"),
    ("--tv-beta", "tv_beta", _number(float), "total-variation exponent (default 2)"),
    ("--optimizer", "optimizer", str, "lbfgs (default), adam or sgd"),
    ("--lr", "lr", _number(float), "learning rate (L-BFGS 1; Adam 2 and SGD 0.1, in pixel levels)"),
    ("--iterations", "iterations", _number(int), "optimiser steps (default 500)"),
    ("--stop-eps", "stop_eps", _number(float), "stop when the loss changes by less than this fraction"),
    ("--stop-window", "stop_window", _number(int), "... over this many steps (default 10)"),
    ("--init", "init", str, "noise, content (default), style, or an image path"),
    ("--init-noise", "init_noise", _number(float), "blend this much noise into the init (0-1)"),
    ("--seed", "seed", _number(int), "seed for the noise (default 0)"),
    ("--max-long-edge", "max_long_edge", _number(int), "long edge of the output in pixels (default 512)"),
    ("--style-scale", "style_scale", _number(float), "style image size relative to the content (default 1)"),
    ("--denoise", "denoise", _number(float), "final total-variation denoise strength, e.g. 0.02"),
    ("--max-pixels", "max_pixels", _number(int), "refuse input images with more pixels than this"),
    ("--save-every", "save_every", _number(int), "write OUT_stem_0050.png ... every N steps"),
    ("--device", "device", str, "auto (default), cpu, cuda, cuda:N or mps"),
    ("--precision", "precision", str, "auto (bf16 on CPUs with AMX/AVX512-BF16, tf32 on CUDA, else fp32), fp32, tf32 or bf16"),
    ("--color", "color", str, "style (default), luminance, histogram or only (see docs/beyond.md)"),
    ("--mask", "masks", str, "per style image, in order: white = where that style goes (repeat)"),
    ("--scales", "scales", _ints, "N sizes coarse to fine, or a list of long edges, e.g. 512,1024,2048"),
    ("--memory", "memory", str, "auto (default), full, checkpoint or tiled"),
    ("--tile", "tile", _number(int), "tile side in pixels for tiled statistics/optimisation (default 1024)"),
]
APPEND_FLAGS = {"masks"}  # given once per style image


def add_option_flags(p: argparse.ArgumentParser) -> None:
    """Add every Options flag, defaulting to 'not given' so presets are not overridden."""
    for flag, dest, kind, help_ in OPTION_FLAGS:
        action = "append" if dest in APPEND_FLAGS else "store"
        p.add_argument(flag, dest=dest, type=kind, action=action, default=argparse.SUPPRESS, help=help_)
    p.add_argument("--gpu", type=_number(int), default=argparse.SUPPRESS,
                   help="GPU index, -1 for the CPU (alias of --device)")
    p.add_argument("--preset", default=None, help="gatys, keras-vgg16, tf-adam, tds or mxnet")


def overrides_from(args: argparse.Namespace) -> dict[str, object]:
    names = {dest for _, dest, _, _ in OPTION_FLAGS}
    out = {k: v for k, v in vars(args).items() if k in names}
    if "gpu" in vars(args):
        out["device"] = "cpu" if args.gpu < 0 else f"cuda:{args.gpu}"
    return out


class Progress:
    """A live bar (step, losses, it/s, ETA) on stderr; silent with --quiet or when not wanted."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="it", dynamic_ncols=True, file=sys.stderr, mininterval=0.25)
        self.last = 0.0

    def update(self, step: int, losses_fn) -> None:
        if self.bar is None:
            return
        self.bar.update(step - self.bar.n)
        now = time.monotonic()
        if now - self.last > 0.25:  # read losses from the device only as often as shown
            self.last = now
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in losses_fn().items()}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def intermediate_path(out: Path, step: int) -> Path:
    return out.with_name(f"{out.stem}_{step:04d}{out.suffix}")


def cmd_stylize(args: argparse.Namespace) -> int:
    if getattr(args, "model", None):
        from .fast.command import stylize_with_model  # feed-forward styles

        return stylize_with_model(args)
    from .images import check_writable, save_image
    from .presets import resolve_options
    from .report import JsonLog, plot_losses
    from .multiscale import make_run

    if len(args.images) < 2:
        raise ImpastoError("stylize needs a content image and at least one style image (or --model)")
    out = Path(args.output)
    check_writable(out)
    for extra in (args.log_json, args.plot):
        if extra:
            Path(extra).parent.is_dir() or _raise(f"cannot write {extra}: its folder does not exist")
    if args.plot:
        from .images import output_format

        output_format(args.plot)
    options = resolve_options(None, args.preset, **overrides_from(args)).validated()
    run = make_run(args.images[0], args.images[1:], options)  # one Run per size with --scales
    log = JsonLog(args.log_json) if args.log_json else None
    history: list[dict] = []
    progress = Progress(getattr(run, "total_steps", run.options.iterations), args.quiet)
    start = time.monotonic()
    interrupted = False
    try:
        for step in run:
            if log or args.plot:
                rec = {"step": step.step, **step.losses, "seconds": round(time.monotonic() - start, 4),
                       "long_edge": max(step.run.content_size)}
                history.append(rec)
                if log:
                    log.write(rec)
            progress.update(step.step, lambda: step.losses)
            if options.save_every and step.step % options.save_every == 0:
                save_image(step.image, intermediate_path(out, step.step))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
    save_image(run.best_image(), out)
    if log:
        log.close()
    if args.plot and history:
        plot_losses(history, args.plot)
    if interrupted:
        print(f"impasto: interrupted after {run.steps_done} steps; best image so far written to {out}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        took = time.monotonic() - start
        why = " (converged)" if run.stopped_early else ""
        print(f"wrote {out} after {run.steps_done} steps in {took:.1f} s{why}", file=sys.stderr)
    return 0


def _raise(message: str) -> None:
    raise ImpastoError(message)


def cmd_layers(args: argparse.Namespace) -> int:
    from .vgg import ARCHS, layer_names

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


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="impasto", description="Neural style transfer (Gatys et al.) and friends.")
    p.add_argument("--version", action="version", version=f"impasto {__import__('impasto').__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    s = sub.add_parser("stylize", help="paint CONTENT in the style of STYLE (several styles blend)")
    s.add_argument("images", nargs="*", metavar="CONTENT STYLE", help="content image, then style image(s)")
    s.add_argument("-o", "--output", required=True, help="output image (.png, .jpg or .webp)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--log-json", metavar="FILE", help="one JSON line of losses per step")
    s.add_argument("--plot", metavar="FILE.png", help="loss curves as a picture")
    s.add_argument("--model", help="a feed-forward style model (see `impasto train`) instead of optimising")
    add_option_flags(s)
    s.set_defaults(func=cmd_stylize)
    lay = sub.add_parser("layers", help="list the layer names of a network")
    lay.add_argument("--arch", default="vgg19")
    lay.set_defaults(func=cmd_layers)
    for module in EXTENSIONS:
        try:
            mod = __import__(module, fromlist=["register"])
        except ImportError:
            continue  # an optional part whose dependencies are not installed
        mod.register(sub)
    return p


# Subcommands from other parts of impasto; each module has register(subparsers).
EXTENSIONS: list[str] = ["impasto.web.serve", "impasto.grid", "impasto.fast.command"]


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return args.func(args)
    except ImpastoError as e:
        print(f"impasto: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("impasto: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `impasto layers | head`
        sys.stderr.close()
        return 0
    except MemoryError:
        print("impasto: error: out of memory; try a smaller --max-long-edge", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as e:  # torch.OutOfMemoryError is a RuntimeError
        if "out of memory" in str(e).lower():
            print("impasto: error: the device ran out of memory; try a smaller --max-long-edge "
                  "or --precision bf16", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
