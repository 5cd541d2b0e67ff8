"""The shipped styles on two photos, as one picture (docs/fast/samples.jpg).

    python docs/fast/samples.py

Rows: the shipped styles; columns: tubingen.jpg and BSDS500 val 42049 (never trained on).
"""

from pathlib import Path

from PIL import Image, ImageOps

from impasto.fast import stylize_image
from impasto.fast.model import shipped_models
from impasto.images.io import load_image, save_image

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = [ROOT / "examples/tubingen.jpg", ROOT.parent / "shared/datasets/bsds500/val/42049.jpg"]
SIDE, GAP = 320, 0  # each photo centre-cropped to 320x240
ORDER = ("starry_night", "the_scream", "mosaic", "candy")

photos = [ImageOps.fit(load_image(p), (SIDE, SIDE * 3 // 4), Image.LANCZOS) for p in PHOTOS if p.exists()]
styles = sorted(shipped_models(), key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
cell_w = max(p.width for p in photos)
cell_h = max(p.height for p in photos)
sheet = Image.new("RGB", (len(photos) * (cell_w + GAP) - GAP, len(styles) * (cell_h + GAP) - GAP), "white")
for r, name in enumerate(styles):
    for c, photo in enumerate(photos):
        sheet.paste(stylize_image(name, photo), (c * (cell_w + GAP), r * (cell_h + GAP)))
save_image(sheet, ROOT / "docs/fast/samples.jpg", quality=85)
print(f"docs/fast/samples.jpg: rows {', '.join(styles)}")
