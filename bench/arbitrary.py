"""The arbitrary-style network judged on photos and paintings it never trained on.

    python -m bench arbitrary --decoder DECODER.pt [--size 512] [--photos 4] [--paintings 6]
                              [--sheet docs/arbitrary/sheet.jpg] [--no-engine] [--no-speed]

For each held-out photo (BSDS500, ``impasto.arbitrary.training.split``) and each unseen painting
(the classic paintings in ../shared/images/style, alternating with held-out WikiArt ones), both
files pre-resized once to ``--size`` (``bench.inputs``):

* the engine's default run (``impasto stylize`` with no flags but the size), the reference;
* the network's one-pass result (``instant``) for the decoder file given (a checkpoint works);

each scored by the yardstick (``bench.yardstick``: content and style error, fp32). The engine's
outputs do not depend on the decoder, so they are kept in bench/work and reused for the same
input files. ``--speed`` (default on) times the instant painting of a 512x512 photo in this
process (after a warm-up) and a whole fresh process that loads the network, paints and saves.
Results go to ``bench/results/arbitrary-SIZE.json`` (``--results NAME``); ``--sheet`` draws one row per pair: photo,
painting, then one cell per column (``COLUMNS``; a column missing from a pair stays blank).
Time it on a quiet machine (``flock /tmp/impasto-cpu.lock python -m bench.arbitrary ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import record
from .impasto_api import ArbitraryModel, arbitrary_split, stylize_arbitrary
from .inputs import resized_inputs
from .paths import SHARED, WORK
from .peers import Spec, run
from .yardstick import Yardstick

DATASETS = SHARED / "datasets"
BSDS = (DATASETS / "bsds500" / "train", DATASETS / "bsds500" / "val")
WIKIART = DATASETS / "wikiart" / "train"
CLASSICS = SHARED / "images" / "style"
COLUMNS = ("engine default", "instant")  # the sheet's columns, in order; others may be added to a result


def unseen_photos(count: int) -> list[Path]:
    """Held-out BSDS500 photos, spread over the sorted list (so the first few are not all alike)."""
    held = sorted(arbitrary_split(BSDS)[1])
    return _spread(held, count)


def unseen_paintings(count: int) -> list[Path]:
    """Classic paintings (never in the training folders) alternating with held-out WikiArt ones
    spread over the movements."""
    classics = sorted(p for p in CLASSICS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    wikiart = _spread(sorted(arbitrary_split([WIKIART])[1]), count)
    out: list[Path] = []
    for a, b in zip(classics, wikiart):
        out += [a, b]
    return (out + classics[len(out) // 2:] + wikiart[len(out) // 2:])[:count]


def _spread(items: list[Path], count: int) -> list[Path]:
    if count >= len(items):
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def engine_default(inputs, folder: Path) -> dict:
    """The engine's default run on the pair, reused when its output for these exact inputs exists."""
    done = folder / "run.json"
    if done.is_file():
        kept = json.loads(done.read_text())
        if kept.get("inputs") == inputs.record():
            return kept
    o = run(Spec("impasto", "defaults", None, "auto"), inputs, folder, 10**6)
    kept = {"inputs": inputs.record(), "output": str(o.final[1]), "wall": o.wall, "contention": o.contention,
            "command": o.command}
    done.write_text(json.dumps(kept, indent=2))
    return kept


def instant(model, inputs, out: Path) -> dict:
    """The network's one-pass painting of the pair, at the photo's size, timed in this process."""
    t0 = time.perf_counter()
    img = stylize_arbitrary(model, inputs.content, [inputs.style])
    wall = time.perf_counter() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return {"output": str(out), "wall": wall}


def speed(model, decoder: Path, photo: Path, painting: Path, repeat: int = 3) -> dict:
    """512x512 in this process (median and best of ``repeat`` after a warm-up), and a whole fresh
    process (imports, loading the encoder and the decoder, painting, saving)."""
    from PIL import Image

    folder = WORK / "arbitrary" / "speed"
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(photo) as im:
        side = min(im.size)
        square = im.convert("RGB").crop((0, 0, side, side)).resize((512, 512), Image.LANCZOS)
    sq = folder / "photo512.png"
    square.save(sq)
    stylize_arbitrary(model, sq, [painting], long_edge=512)
    walls, cpus = [], []
    stall, start = record.cpu_stall(), time.perf_counter()
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        stylize_arbitrary(model, sq, [painting], long_edge=512)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    script = ("import sys; from impasto.arbitrary import ArbitraryModel, stylize; "
              "m = ArbitraryModel.load(sys.argv[1], device='cpu'); "
              "stylize(m, sys.argv[2], [sys.argv[3]], long_edge=512).save(sys.argv[4])")
    cmd = [sys.executable, "-c", script, str(decoder), str(sq), str(painting), str(folder / "out.png")]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": str(record.threads())})
    whole = time.perf_counter() - t
    contention = (record.cpu_stall() - stall) / (time.perf_counter() - start)
    walls.sort()
    return {"size": "512x512", "painting": str(painting), "painting_wall_median": walls[len(walls) // 2],
            "painting_wall_best": walls[0], "painting_cpu_seconds": min(cpus), "whole_process": whole,
            "whole_process_command": "python -c 'load the network, stylize at 512, save' (a fresh process)",
            "contention": contention}  # the fraction of the time others' work waited for a CPU


def sheet(pairs: dict, out: Path, columns: tuple[str, ...] = COLUMNS, cell: int = 192) -> None:
    """One row per pair: photo, painting, then ``columns`` (blank where a pair lacks one), scores beneath."""
    from PIL import Image, ImageDraw

    label = 30
    img = Image.new("RGB", (cell * (2 + len(columns)), (cell + label) * len(pairs)), "white")
    d = ImageDraw.Draw(img)
    for r, (key, pair) in enumerate(pairs.items()):
        y = r * (cell + label)
        cells = [(key.split(" x ")[0], pair["inputs"]["content"]["file"], None),
                 (key.split(" x ")[-1], pair["inputs"]["style"]["file"], None)]
        cells += [(c, pair["runs"][c]["output"], pair["runs"][c]) if c in pair["runs"] else (c, None, None)
                  for c in columns]
        for c, (title, path, score) in enumerate(cells):
            if path is not None:
                with Image.open(path) as im:
                    im = im.convert("RGB")
                    im.thumbnail((cell, cell))
                    img.paste(im, (c * cell, y))
            text = title[:30] if score is None else (f"{title}\ncontent {score['content_error']:.2f} "
                                                     f"style {score['style_error']:.2f} {score['wall']:.1f} s")
            d.multiline_text((c * cell + 3, y + cell + 2), text, fill="black", spacing=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, quality=90)


def summary(pairs: dict) -> list[str]:
    """A markdown table: each pair's errors, and the instant result's errors over the engine's."""
    lines = ["| pair | engine content | engine style | instant content | instant style | content ratio | style ratio |",
             "|---|---|---|---|---|---|---|"]
    ratios = []
    for key, pair in pairs.items():
        e, i = pair["runs"].get("engine default"), pair["runs"].get("instant")
        if not e or not i:
            continue
        rc, rs = i["content_error"] / e["content_error"], i["style_error"] / e["style_error"]
        ratios.append((rc, rs))
        lines.append(f"| {key} | {e['content_error']:.3f} | {e['style_error']:.3f} | {i['content_error']:.3f} | "
                     f"{i['style_error']:.3f} | {rc:.2f}x | {rs:.2f}x |")
    if ratios:
        gc = _geomean([r[0] for r in ratios])
        gs = _geomean([r[1] for r in ratios])
        lines.append(f"| geometric mean of the ratios | | | | | {gc:.2f}x | {gs:.2f}x |")
    return lines


def _geomean(xs: list[float]) -> float:
    import math

    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoder", type=Path, required=True, help="decoder file or checkpoint to judge")
    p.add_argument("--size", type=int, default=512, help="long edge of the pre-resized inputs")
    p.add_argument("--photos", type=int, default=4)
    p.add_argument("--paintings", type=int, default=6)
    p.add_argument("--sheet", type=Path, help="draw the sheet here (.jpg or .png)")
    p.add_argument("--no-engine", action="store_true", help="skip the engine's default runs (instant only)")
    p.add_argument("--no-speed", action="store_true", help="skip the 512x512 timing")
    p.add_argument("--results", help="results name (default arbitrary-SIZE): bench/results/NAME.json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("arbitrary", help="the arbitrary-style network against the engine on unseen pairs; speed")
    add_flags(p)
    p.set_defaults(func=cmd_arbitrary)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.arbitrary", description=__doc__.split("\n")[0])
    add_flags(p)
    return cmd_arbitrary(p.parse_args(argv))


def cmd_arbitrary(a: argparse.Namespace) -> int:
    record.commit()
    model = ArbitraryModel.load(a.decoder, device="cpu")
    steps = model.train.get("steps_done")
    name = a.results or f"arbitrary-{a.size}"
    data = record.load(name) or {"size": a.size, "pairs": {}}
    data["decoder"] = {"file": str(a.decoder), "steps_done": steps, "train": model.train}
    photos, paintings = unseen_photos(a.photos), unseen_paintings(a.paintings)
    for photo in photos:
        for painting in paintings:
            inputs = resized_inputs(a.size, photo, painting)
            judge = Yardstick(inputs.content, inputs.style)
            key = f"{photo.stem} x {painting.stem}"
            pair = data["pairs"].setdefault(key, {"inputs": inputs.record(), "runs": {}})
            pair["inputs"] = inputs.record()
            folder = WORK / "arbitrary" / f"{a.size}-{photo.stem}-{painting.stem}"
            if not a.no_engine:
                e = engine_default(inputs, folder / "engine")
                pair["runs"]["engine default"] = {**e, **judge.score(Path(e["output"]))}
            i = instant(model, inputs, folder / "instant.png")
            pair["runs"]["instant"] = {**i, "decoder_steps": steps, **judge.score(Path(i["output"]))}
            print(f"  {key}: " + ", ".join(f"{k} content {r['content_error']:.3f} style {r['style_error']:.3f} "
                                          f"{r['wall']:.1f} s" for k, r in pair["runs"].items()), file=sys.stderr)
    if not a.no_speed:
        data["speed"] = speed(model, a.decoder, photos[0], paintings[0])
        s = data["speed"]
        print(f"  512x512: painting {s['painting_wall_median']:.2f} s (best {s['painting_wall_best']:.2f}, "
              f"{s['painting_cpu_seconds']:.2f} CPU s), whole process {s['whole_process']:.2f} s", file=sys.stderr)
    path = record.save(name, data)
    print("\n".join(summary(data["pairs"])))
    print(f"results: {path} ({record.describe(record.machine())}; decoder {a.decoder}, {steps} steps)")
    if a.sheet:
        sheet(data["pairs"], a.sheet)
        print(f"sheet: {a.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
