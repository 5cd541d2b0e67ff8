"""The ``impasto`` command: ``stylize``, ``layers``, ``grid``, ``batch``, ``train``, ``video``, ``export``, ``serve``.

Every failure a user can cause ends in one line on stderr and exit status 2 (130 after Ctrl-C,
once the best image so far is written). The engine's flags are made from the option table
(``flags.py``); only flags the user typed override a preset. The subcommand modules import the
engine inside their commands, so ``--help`` and argument errors answer without loading torch.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import ImpastoError
from ..painter.failures import is_out_of_memory, one_line
from ..web import serve
from . import batch, fast, grid, stylize

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, like every other impasto error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ImpastoError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="impasto", description="Neural style transfer (Gatys et al.) and friends.")
    p.add_argument("--version", action="version", version=f"impasto {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    for module in (stylize, grid, batch, fast, serve):
        module.register(sub)
    return p


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
    except (MemoryError, RuntimeError) as e:  # out of memory outside a painting (loading, writing)
        if not is_out_of_memory(e):
            raise
        print(f"impasto: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
