"""``impasto grid``: the paper's Figure 3 (one style) or Figure 2 (several) as a labelled picture."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ImpastoError
from ..images.atomic import check_writable
from ..options import Options, resolve
from ..presets import GRID_DEFAULTS
from ..values import floats
from .flags import add_option_flags, typed


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("grid", help="the paper's Figure 3 (one style) or Figure 2 (several) as a labelled grid")
    g.add_argument("images", nargs="*", metavar="CONTENT STYLE", help="content image, then style image(s)")
    g.add_argument("-o", "--output", required=True, help="output image (.png, .jpg or .webp)")
    g.add_argument("--ratios", type=floats, default=None,
                   help="content/style ratios alpha/beta, one row each (default 1e-5,1e-4,1e-3,1e-2 for one style)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    add_option_flags(g, Options(**GRID_DEFAULTS))
    g.set_defaults(func=cmd_grid)


def cmd_grid(args: argparse.Namespace) -> int:
    if len(args.images) < 2:
        raise ImpastoError("grid needs a content image and at least one style image")
    out = Path(args.output)
    check_writable(out)
    options = resolve(Options(**GRID_DEFAULTS), args.preset, **typed(args))
    from ..grid import render_grid
    from ..images.io import save_image
    from .report import Progress

    progress: list[Progress] = []

    def on_step(done: int, total: int) -> None:
        if not progress:
            progress.append(Progress(total, args.quiet))
        progress[0].update(done)

    try:
        img = render_grid(args.images[0], args.images[1:], options, ratios=args.ratios, on_step=on_step)
    finally:
        if progress:
            progress[0].close()
    save_image(img, out)
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)
    return 0
