"""The 2015 paper's figures as a command: ``impasto grid``.

Figure 3 of Gatys et al. shows what each knob does: rows are the content/style ratio alpha/beta
(1e-5 to 1e-2), columns the style representation built from conv1_1, then conv1_1 + conv2_1,
and so on to conv5_1. Low layers and strong style give texture without arrangement; higher
layers give larger, more coherent strokes. Figure 2 shows one photo in several styles. Both are
what a user needs to choose settings, so ``impasto grid`` renders either one, labelled:

    impasto grid CONTENT STYLE -o grid.png            # Figure 3 (--ratios to change the rows)
    impasto grid CONTENT STYLE1 STYLE2 ... -o row.png  # Figure 2: the photo, then each style

Every cell is an ordinary run (all the options apply) sharing one loaded network; one progress
bar covers the whole grid.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .errors import ImpastoError
from .images import fit_long_edge, load_image
from .options import Options
from .presets import resolve_options

DEFAULT_RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)
GRID_DEFAULTS = dict(max_long_edge=256, iterations=200)  # a grid is many runs: smaller, shorter
PAD = 6


@dataclass
class Cell:
    """One run of the grid: its row and column, and the options and style images it uses."""

    row: int
    col: int
    options: Options
    styles: tuple[object, ...]


def _paper_name(layer: str) -> str:
    """relu4_2 -> conv4_2: the paper names the (rectified) Caffe blob by its conv."""
    return "conv" + layer[4:] if layer.startswith("relu") else layer


def _ratio_text(r: float) -> str:
    return f"{r:.0e}".replace("e-0", "e-").replace("e+0", "e+")


def plan(styles: Sequence[object], options: Options, ratios: Sequence[float] | None) -> tuple[list[Cell], list[str], list[str]]:
    """The cells of the grid and its row and column labels.

    One style (or ``ratios`` given with one style): Figure 3, ratios x growing style layers.
    Several styles: Figure 2, one column per style, one row per ratio (default: the options' own).
    """
    for r in ratios or ():
        if not (isinstance(r, (int, float)) and 0 < r < float("inf")):
            raise ImpastoError(f"--ratios must be positive numbers, not {r!r}")
    cells: list[Cell] = []
    if len(styles) == 1:
        rows = list(ratios or DEFAULT_RATIOS)
        layers = options.style_layers
        cols = [_paper_name(layers[0])] + [f"+ {_paper_name(k)}" for k in layers[1:]]
        for i, r in enumerate(rows):
            for j in range(len(layers)):
                o = options.replace(content_weight=1.0, style_weight=1.0 / r, style_layers=layers[: j + 1],
                                    style_layer_weights=None)
                cells.append(Cell(i, j, o, (styles[0],)))
        return cells, [f"a/b = {_ratio_text(r)}" for r in rows], cols
    rows = list(ratios) if ratios else [options.content_weight / options.style_weight]
    for i, r in enumerate(rows):
        for j, s in enumerate(styles):
            o = options.replace(content_weight=1.0, style_weight=1.0 / r)
            cells.append(Cell(i, j, o, (s,)))
    names = [Path(str(s)).stem if not isinstance(s, Image.Image) else f"style {j + 1}" for j, s in enumerate(styles)]
    return cells, [f"a/b = {_ratio_text(r)}" for r in rows], names


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one fixed bitmap size
        return ImageFont.load_default()


def _inset(result: Image.Image, style: Image.Image) -> Image.Image:
    """The result with a small copy of the painting in its lower-left corner (as in Figure 2)."""
    out = result.copy()
    thumb = fit_long_edge(style, max(8, max(result.size) // 4))
    framed = Image.new("RGB", (thumb.width + 4, thumb.height + 4), "white")
    framed.paste(thumb, (2, 2))
    out.paste(framed, (0, out.height - framed.height))
    return out


def compose(images: dict[tuple[int, int], Image.Image], row_labels: Sequence[str], col_labels: Sequence[str],
            first: Image.Image | None = None, first_label: str = "content") -> Image.Image:
    """Lay the cells out on white with the labels; ``first`` is an extra column before the rest."""
    cw = max(im.width for im in images.values())
    ch = max(im.height for im in images.values())
    font = _font(max(10, ch // 14))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = max(measure.textbbox((0, 0), t, font=font)[2] for t in row_labels) + 2 * PAD
    top = measure.textbbox((0, 0), "Ag", font=font)[3] + 2 * PAD
    extra = 1 if first is not None else 0
    widest = max(measure.textbbox((0, 0), t, font=font)[2] for t in list(col_labels) + ["content"])
    cw = max(cw, widest)  # labels never run into each other
    ncols = len(col_labels) + extra
    canvas = Image.new("RGB", (left + ncols * (cw + PAD), top + len(row_labels) * (ch + PAD)), "white")
    draw = ImageDraw.Draw(canvas)
    labels = ([first_label] if first is not None else []) + list(col_labels)
    for j, text in enumerate(labels):
        w = draw.textbbox((0, 0), text, font=font)[2]
        draw.text((left + j * (cw + PAD) + (cw - w) // 2, PAD), text, fill="black", font=font)
    for i, text in enumerate(row_labels):
        h = draw.textbbox((0, 0), text, font=font)[3]
        draw.text((PAD, top + i * (ch + PAD) + (ch - h) // 2), text, fill="black", font=font)
        if first is not None:
            canvas.paste(first, (left, top + i * (ch + PAD)))
    for (i, j), im in images.items():
        canvas.paste(im, (left + (j + extra) * (cw + PAD), top + i * (ch + PAD)))
    return canvas


def render_grid(
    content: object,
    styles: Sequence[object],
    options: Options | None = None,
    ratios: Sequence[float] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    **overrides: object,
) -> Image.Image:
    """Render Figure 3 (one style) or Figure 2 (several) as one labelled picture.

    ``on_step(done, total)`` is called after every optimiser step of every cell, so a caller can
    show progress across the whole grid.
    """
    from .network import load_network
    from .transfer import Run

    if not styles:
        raise ImpastoError("grid needs at least one style image")
    o = resolve_options(options or Options(**GRID_DEFAULTS), **overrides).validated()
    if o.scales:
        raise ImpastoError("grid does not take --scales: each cell is one small run")
    cells, row_labels, col_labels = plan(list(styles), o, ratios)
    all_layers = tuple(dict.fromkeys(o.content_layers + o.style_layers))
    network = load_network(o, all_layers)
    runs = [Run(content, c.styles, c.options, network=network) for c in cells]  # fail early
    total = sum(r.options.iterations for r in runs)
    done = 0
    images: dict[tuple[int, int], Image.Image] = {}
    for cell, run in zip(cells, runs):
        for _ in run:
            done += 1
            if on_step:
                on_step(done, total)
        images[(cell.row, cell.col)] = run.best_image()
    if len(styles) > 1:
        for cell in cells:
            style_img = load_image(cell.styles[0], o.max_pixels)
            images[(cell.row, cell.col)] = _inset(images[(cell.row, cell.col)], style_img)
    first = runs[0].content_image
    return compose(images, row_labels, col_labels, first=first)


def cmd_grid(args: argparse.Namespace) -> int:
    from .cli import Progress, overrides_from
    from .images import check_writable, save_image

    if len(args.images) < 2:
        raise ImpastoError("grid needs a content image and at least one style image")
    out = Path(args.output)
    check_writable(out)
    options = resolve_options(Options(**GRID_DEFAULTS), args.preset, **overrides_from(args)).validated()
    progress: list = []

    def on_step(done: int, total: int) -> None:
        if not progress:
            progress.append(Progress(total, args.quiet))
        progress[0].update(done, lambda: {})

    try:
        img = render_grid(args.images[0], args.images[1:], options, ratios=args.ratios, on_step=on_step)
    finally:
        if progress:
            progress[0].close()
    save_image(img, out)
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``impasto grid`` to the CLI."""
    from .cli import _floats, add_option_flags

    g = subparsers.add_parser("grid", help="the paper's Figure 3 (one style) or Figure 2 (several) as a labelled grid")
    g.add_argument("images", nargs="*", metavar="CONTENT STYLE", help="content image, then style image(s)")
    g.add_argument("-o", "--output", required=True, help="output image (.png, .jpg or .webp)")
    g.add_argument("--ratios", type=_floats, default=None,
                   help="content/style ratios alpha/beta, one row each (default 1e-5,1e-4,1e-3,1e-2 for one style)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    add_option_flags(g)
    g.set_defaults(func=cmd_grid)
