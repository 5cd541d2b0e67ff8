"""Make the figures of docs/beyond.md (small JPEGs; CPU-friendly sizes).

    python docs/beyond/figures.py color blend scale masks grid3 grid2

Each figure is a strip of labelled panels; every panel is an ordinary impasto run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from impasto import Options, prepare, resolve
from impasto.features.network import load_network
from impasto.grid import _font, render_grid
from impasto.images.io import fit_long_edge, load_image, save_image

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "beyond"
CONTENT = ROOT / "examples" / "tubingen.jpg"
STYLES = ROOT.parent / "shared" / "images" / "style"
STARRY = ROOT / "examples" / "starry_night.jpg"
SCREAM = STYLES / "the_scream.jpg"
SIZE, ITERS = 256, 60
NET = load_network(resolve())


def run(content, style, **kw) -> Image.Image:
    t = time.monotonic()
    r = prepare(content, style, network=NET, **{"max_long_edge": SIZE, "iterations": ITERS, **kw})
    last = None
    for last in r:
        pass
    if last is not None:
        print(f"  {kw} -> total {last.losses['total']:.4g} in {time.monotonic() - t:.0f} s", flush=True)
    return r.best_image()


def strip(panels: list[tuple[str, Image.Image]], name: str, height: int = SIZE * 3 // 4) -> None:
    """Panels side by side, each scaled to ``height``, a label above each."""
    ims = [(t, im.resize((max(1, round(im.width * height / im.height)), height), Image.LANCZOS)) for t, im in panels]
    font = _font(14)
    top, pad = 22, 4
    w = sum(im.width for _, im in ims) + pad * (len(ims) + 1)
    canvas = Image.new("RGB", (w, height + top + pad), "white")
    d = ImageDraw.Draw(canvas)
    x = pad
    for text, im in ims:
        tw = d.textbbox((0, 0), text, font=font)[2]
        d.text((x + (im.width - tw) // 2, 3), text, fill="black", font=font)
        canvas.paste(im, (x, top))
        x += im.width + pad
    save_image(canvas, OUT / f"{name}.jpg", quality=85)
    print("wrote", OUT / f"{name}.jpg", flush=True)


def photo(p) -> Image.Image:
    return fit_long_edge(load_image(p), SIZE)


def fig_color() -> None:
    panels = [("content", photo(CONTENT)), ("style", photo(STARRY))]
    for mode in ("style", "luminance", "histogram", "only"):
        panels.append((f"--color {mode}", run(CONTENT, STARRY, color=mode)))
    strip(panels, "color")


def fig_blend() -> None:
    panels = []
    for w in (1.0, 0.7, 0.3):
        panels.append((f"--style-blend {w:g},{1 - w:g}", run(CONTENT, [STARRY, SCREAM], style_blend=(w, 1 - w))))
    strip(panels, "blend")


def fig_scale() -> None:
    panels = [(f"--style-scale {s:g}", run(CONTENT, STARRY, style_scale=s)) for s in (0.5, 1.0, 2.0)]
    strip(panels, "style_scale")


def fig_masks() -> None:
    c = photo(CONTENT)
    sky = Image.new("L", c.size, 0)
    sky.paste(255, (0, 0, c.width, int(c.height * 0.42)))
    ground = Image.eval(sky, lambda v: 255 - v)
    sky.save(OUT / "mask_sky.png")
    out = run(CONTENT, [STARRY, SCREAM], masks=(sky, ground))
    shown = sky.convert("RGB")
    ImageDraw.Draw(shown).rectangle((0, 0, shown.width - 1, shown.height - 1), outline=(128, 128, 128))
    strip([("mask (starry night)", shown), ("result: starry sky, scream ground", out)], "masks")


def fig_grid3() -> None:
    t = time.monotonic()
    # Adam: the L-BFGS of the core diverges at alpha/beta = 1e-5 with only conv1_1..conv2_1 (reported).
    img = render_grid(CONTENT, [STARRY], Options(max_long_edge=112, iterations=80, optimizer="adam", lr=4.0),
                      on_step=lambda d, n: print(f"  grid {d}/{n}", flush=True) if d % 200 == 0 else None)
    save_image(img, OUT / "grid_figure3.jpg", quality=85)
    print(f"wrote grid_figure3.jpg in {time.monotonic() - t:.0f} s", flush=True)


def fig_grid2() -> None:
    styles = [STARRY, SCREAM, STYLES / "shipwreck.jpg", STYLES / "picasso_selfport1907.jpg"]
    img = render_grid(CONTENT, styles, Options(max_long_edge=160, iterations=60))
    save_image(img, OUT / "grid_figure2.jpg", quality=85)
    print("wrote grid_figure2.jpg", flush=True)


def fig_equal() -> None:
    """From docs/beyond/equal_time.py's images (run it first for 256 px, noise and content)."""
    panels = []
    for init in ("noise", "content"):
        for name in ("multi-scale", "single-scale"):
            panels.append((f"{name}, {init} init", load_image(OUT / f"equal_time_256_{init}_{name}.jpg")))
    strip(panels, "multiscale_equal_time")


def fig_size() -> None:
    """From docs/beyond/size.py's images: the same weights at 256 and 1024 px."""
    small, large = load_image(OUT / "size_256.jpg"), load_image(OUT / "size_1024.jpg")
    w, h = large.size
    crop = large.crop((w // 2, h // 4, w // 2 + w // 4, h // 4 + h // 4))
    strip([("256 px", small), ("1024 px, shown at 256", large), ("1024 px, a quarter at full size", crop)],
          "size_invariance")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        globals()[f"fig_{name}"]()
