"""Renders docs/presets.jpg: each preset (that has its weights here), side by side.

    python docs/core/presets.py [ITERATIONS] [LONG_EDGE]
"""

import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

import impasto

ROOT = Path(__file__).resolve().parents[2]
ITER = int(sys.argv[1]) if len(sys.argv) > 1 else 300
SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 192
tiles = []
for name in ("gatys", "tf-adam", "tds", "mxnet"):
    t = time.perf_counter()
    img = impasto.stylize(ROOT / "examples/tubingen.jpg", ROOT / "examples/starry_night.jpg",
                          preset=name, max_long_edge=SIZE, iterations=ITER)
    print(f"{name}: {time.perf_counter() - t:.0f} s", flush=True)
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 8 * len(name) + 6, 14), fill=(0, 0, 0))
    d.text((3, 2), name, fill=(255, 255, 255))
    tiles.append(img)
sheet = Image.new("RGB", (sum(t.width for t in tiles), max(t.height for t in tiles)), "white")
x = 0
for t in tiles:
    sheet.paste(t, (x, 0))
    x += t.width
sheet.save(ROOT / "docs/presets.jpg", quality=88)
