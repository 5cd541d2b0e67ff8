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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .errors import ImpastoError
from .images.io import fit_long_edge, load_image
from .options import Options, Resolved, resolve
from .painter import Painter, Request
from .presets import GRID_DEFAULTS

DEFAULT_RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)
PAD = 6


@dataclass
class Cell:
    """One run of the grid: its row and column, the option values it changes, its style image."""

    row: int
    col: int
    changes: dict[str, object]
    styles: tuple[object, ...]


def _paper_name(layer: str) -> str:
    """relu4_2 -> conv4_2: the paper names the (rectified) Caffe blob by its conv."""
    return "conv" + layer[4:] if layer.startswith("relu") else layer


def _ratio_text(r: float) -> str:
    return f"{r:.0e}".replace("e-0", "e-").replace("e+0", "e+")


def plan(styles: Sequence[object], options: Resolved, ratios: Sequence[float] | None) -> tuple[list[Cell], list[str], list[str]]:
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
                changes = dict(content_weight=1.0, style_weight=1.0 / r, style_layers=layers[: j + 1],
                               style_layer_weights=None)
                cells.append(Cell(i, j, changes, (styles[0],)))
        return cells, [f"a/b = {_ratio_text(r)}" for r in rows], cols
    rows = list(ratios) if ratios else [options.content_weight / options.style_weight]
    for i, r in enumerate(rows):
        for j, s in enumerate(styles):
            cells.append(Cell(i, j, dict(content_weight=1.0, style_weight=1.0 / r), (s,)))
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
    **typed: object,
) -> Image.Image:
    """Render Figure 3 (one style) or Figure 2 (several) as one labelled picture.

    ``options`` (default: ``GRID_DEFAULTS``) and ``typed`` as for ``impasto.prepare``; each cell's
    own changes go on top. ``on_step(done, total)`` is called after every optimiser step of every
    cell, so a caller can show progress across the whole grid.
    """
    if not styles:
        raise ImpastoError("grid needs at least one style image")
    o = options if isinstance(options, Resolved) and not typed else resolve(options or Options(**GRID_DEFAULTS), **typed)
    if len(o.scales) > 1:
        raise ImpastoError("grid does not take --scales: each cell is one small run")
    cells, row_labels, col_labels = plan(list(styles), o, ratios)
    photo = load_image(content, o.max_pixels)  # every input read before any cell runs: a bad one fails at once
    for style in styles:
        load_image(style, o.max_pixels)
    requests = [Request(photo, resolve(o.request().replace(**c.changes)), tuple(c.styles)) for c in cells]
    total = sum(sum(r.options.size_iterations) for r in requests)
    painter, done = Painter(), 0
    images: dict[tuple[int, int], Image.Image] = {}
    for cell, request in zip(cells, requests):
        def step(_: object) -> None:
            nonlocal done
            done += 1
            if on_step:
                on_step(done, total)

        result = painter.paint(request).result(step)
        images[(cell.row, cell.col)] = result.image
        done += request.options.iterations - result.steps  # a cell that stopped early
    if len(styles) > 1:
        for cell in cells:
            style_img = load_image(cell.styles[0], o.max_pixels)
            images[(cell.row, cell.col)] = _inset(images[(cell.row, cell.col)], style_img)
    first = fit_long_edge(photo, o.max_long_edge)
    return compose(images, row_labels, col_labels, first=first)
