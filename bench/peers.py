"""Every tool's command line, on the CPU and on the GPU: impasto, pastiche and neural-style-pt run
from their CLIs, as users run them, on the same files.

Every tool gets the same pre-resized PNGs (``bench.inputs``) and is told to run at exactly their
size, so none resamples: pastiche with ``--size``/``--style-size`` equal to the files' long edge
(its ``load_image`` then asks PIL for the same size, which returns a copy), neural-style-pt with
``-image_size`` equal to it and ``-style_scale 1`` (its size arithmetic gives the file's own
size; the bench's torchvision stand-in refuses any real resize), impasto with
``--max-long-edge`` equal to it (``fit_long_edge`` returns the image untouched).

Two settings per tool:

* ``defaults``: what a user gets without flags (only the size is given, and the steps when asked);
* ``matched``: all three minimise pastiche's default loss, which ``bench.yardstick`` computes as
  ``matched``. pastiche's defaults *are* that loss. neural-style-pt: ``-content_weight 0.01``
  (on the MSE, as pastiche), ``-style_weight 10`` (its Gram is divided by C*H*W, so weight w on
  the MSE is pastiche's w / C^2), no TV, content init. impasto: ``MATCHED`` below, in its units:

  * its content term is 1/2 * sum_c mean_pos (F-P)^2 * 4096 (its 512 px reference), so
    content_weight = 0.02 / (512 * 4096) gives pastiche's 0.01 * sum / (C * M);
  * its style term per layer is sum (G-A)^2 / (4 C^2), so a layer weight of 40 / C^2 gives
    pastiche's 10 / C^2 * sum (G-A)^2 / C^2.

  One difference remains that no flag removes: neural-style-pt scales pixels by 256/255 before
  subtracting the Caffe mean (``ToTensor() * 256``), so its own loss reads ~1.3 % higher than
  pastiche's on the same image; the yardstick scores its written files like everyone's.

Intermediate images are written every ``save_every`` steps by each tool's own option, and each
one's time is its file's modification time minus the moment the process was started: the same
clock for every tool, with process start, imports, weight loading and writing included. A run
that keeps no intermediate images (``save_every`` None, the GPU's whole runs) also prints no
losses along the way, and on CUDA neural-style-pt gets no seed: each printed loss makes the host
wait for the device, and a seed makes neural-style-pt choose deterministic (slower) cuDNN
algorithms.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .impasto_api import flag, resolve_precision
from .inputs import Inputs
from .ns_weights import convert as neural_style_model
from .record import cpu_stall, threads

SHIMS = Path(__file__).resolve().parent / "shims"  # torchvision stand-in, neural-style-pt only
TOOLS = ("impasto", "pastiche", "neural-style")
SETTINGS = ("matched", "defaults")
PRECISIONS = ("auto", "fp32", "bf16", "tf32")
# impasto's schedules on top of a setting: c2f = its default coarse-to-fine sizes and stop rule
SCHEDULES = {"c2f": ("--scales", "3", "--stop-eps", "0.005")}
CHANNELS = (64, 128, 256, 512, 512)
MATCHED = dict(  # pastiche's default loss in impasto's units (see the module docstring)
    weights="caffe",
    pooling="max",
    content_layers=("relu4_2",),
    style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    style_layer_weights=tuple(40.0 / c**2 for c in CHANNELS),
    content_weight=0.02 / (512 * 4096),
    style_weight=1.0,
    tv_weight=0.0,
    init="content",
    scales=(1,),  # one size and every step, as the peers run
    stop_eps=0.0,
)
NEURAL_STYLE_MATCHED = dict(content_weight=0.01, style_weight=10, tv_weight=0, init="image", pooling="max")
PEER_STEPS = {"pastiche": 1000, "neural-style": 1000}  # their --num-steps / -num_iterations defaults
SNAPSHOT = re.compile(r"^out_(\d+)\.png$")  # every tool's intermediate files, named alike below


@dataclass(frozen=True)
class Spec:
    """One way of running one tool."""

    tool: str
    settings: str = "matched"  # or "defaults"
    steps: int | None = None  # None: the tool's own default
    precision: str = "fp32"  # impasto: auto, fp32, bf16, tf32; the peers always compute in fp32
    extra: tuple[str, ...] = ()  # more flags, after the others (so they override)
    device: str = "cpu"
    cuda_graph: bool | None = None  # impasto's --cuda-graph on/off; None leaves its default

    @property
    def label(self) -> str:
        prec = f", {self.precision}" if self.tool == "impasto" else ""
        more = f", {' '.join(self.extra)}" if self.extra else ""
        return f"{self.tool} ({self.settings}{prec}{more})"


def parse_specs(text: str, steps: int | None) -> list[Spec]:
    """'impasto:auto,pastiche,neural-style:defaults' -> Specs (settings default to matched)."""
    out = []
    for item in text.split(","):
        tool, *parts = item.strip().split(":")
        if tool not in TOOLS:
            raise SystemExit(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")
        settings = next((p for p in parts if p in SETTINGS), "matched")
        precision = next((p for p in parts if p in PRECISIONS), "fp32")
        unknown = [p for p in parts if p not in SETTINGS + PRECISIONS + tuple(SCHEDULES)]
        if unknown:
            raise SystemExit(f"unknown part {unknown[0]!r} in {item!r}: settings {SETTINGS}, precision {PRECISIONS}, "
                             f"schedule {tuple(SCHEDULES)}")
        extra = sum((SCHEDULES[p] for p in parts if p in SCHEDULES), ())
        out.append(Spec(tool, settings, steps, precision, extra))
    return out


@dataclass
class Outcome:
    spec: Spec
    command: list[str]
    wall: float  # seconds, process start to exit
    max_rss_mb: float
    stdout: str
    contention: float  # fraction of the wall time some task waited for a CPU (record.cpu_stall)
    snapshots: dict[int, tuple[float, Path]]  # step -> (seconds since start, file)
    final: tuple[float, Path]  # the output file (impasto's: the best image seen)

    def per_step(self) -> float:
        """Seconds per step between the last two snapshots (the steady state)."""
        (a, (ta, _)), (b, (tb, _)) = sorted(self.snapshots.items())[-2:]
        return (tb - ta) / (b - a)


def precision_of(spec: Spec) -> str:
    """What the row computed in: impasto's 'auto' resolved on this CPU; the peers are fp32."""
    if spec.tool != "impasto" or spec.precision != "auto":
        return spec.precision
    import torch

    return f"{resolve_precision(torch.device('cpu'), 'auto')} (auto)"


def impasto_flags(options: dict) -> list[str]:
    """{'content_weight': 0.01} -> ['--content-weight', '0.01'], spelled as impasto's CLI spells them."""
    return [x for k, v in options.items() for x in (flag(k), _text(v))]


def neural_style_flags(options: dict) -> list[str]:
    """{'content_weight': 0.01} -> ['-content_weight', '0.01']."""
    return [x for k, v in options.items() for x in ("-" + k, _text(v))]


def _text(v: object) -> str:
    return ",".join(str(x) for x in v) if isinstance(v, tuple) else str(v)


def command(spec: Spec, inputs: Inputs, out: Path, save_every: int | None) -> tuple[list[str], dict]:
    """The command line (and extra environment) that runs ``spec`` on ``inputs`` into ``out``,
    writing an image every ``save_every`` steps (None: none but the output)."""
    c, s, n = str(inputs.content), str(inputs.style), inputs.size
    cuda = spec.device.startswith("cuda")
    if spec.tool == "impasto":
        options: dict = {"max_long_edge": n, "device": spec.device, "precision": spec.precision}
        if save_every is not None:
            options["save_every"] = save_every
        if spec.cuda_graph is not None:
            options["cuda_graph"] = "on" if spec.cuda_graph else "off"
        if spec.settings == "matched":
            options.update(MATCHED)
        if spec.steps is not None:
            options["iterations"] = spec.steps
        cmd = [sys.executable, "-m", "impasto", "stylize", c, s, "-o", str(out), "--quiet", *impasto_flags(options)]
        return cmd + list(spec.extra), {}
    if spec.tool == "pastiche":  # its defaults are the matched loss
        cmd = [sys.executable, "-m", "pastiche", "--content", c, "--styles", s, "--output", str(out),
               "--size", str(n), "--style-size", str(n), "--device", spec.device, "--seed", "0"]
        if save_every is not None:
            cmd += ["--workspace", str(out.parent), "--workspace-prefix", "out_", "--workspace-step", str(save_every)]
        if spec.steps is not None:
            cmd += ["--num-steps", str(spec.steps)]
            if save_every is None:
                cmd += ["--info-step", str(spec.steps)]
        return cmd + list(spec.extra), {}
    if spec.tool == "neural-style":
        cmd = [*neural_style_program(), "-content_image", c, "-style_image", s, "-output_image", str(out),
               "-model_file", str(neural_style_model()), "-disable_check",
               *(["-gpu", "0", "-backend", "cudnn", "-cudnn_autotune"] if cuda else ["-gpu", "c", "-backend", "nn"]),
               "-image_size", str(n), "-style_scale", "1"]
        if not cuda:
            cmd += ["-seed", "0"]
        cmd += ["-save_iter", str(save_every)] if save_every is not None else ["-print_iter", "0", "-save_iter", "0"]
        if spec.settings == "matched":
            cmd += neural_style_flags(NEURAL_STYLE_MATCHED)
        if spec.steps is not None:
            cmd += ["-num_iterations", str(spec.steps)]
        return cmd + list(spec.extra), torchvision_env()
    raise ValueError(f"unknown tool {spec.tool!r}; choose from {', '.join(TOOLS)}")


def neural_style_program() -> list[str]:
    """Its console script when pip installed it beside this Python; else (installed with
    ``--target``, as on the GPU machine) its main function through this Python."""
    exe = Path(sys.executable).with_name("neural-style")
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", "from neural_style.neural_style import main; main()"]


def torchvision_env() -> dict[str, str]:
    """The stand-in on neural-style-pt's path where torchvision is not installed."""
    if importlib.util.find_spec("torchvision") is not None:
        return {}
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(SHIMS), os.environ.get("PYTHONPATH", "")) if p)}


def run(spec: Spec, inputs: Inputs, folder: Path, save_every: int) -> Outcome:
    """Run ``spec`` in a fresh ``folder``; time it, read its peak RSS and its snapshots' times."""
    if spec.tool != "impasto" and spec.precision != "fp32":
        raise ValueError(f"{spec.tool} computes in fp32 only")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    out = folder / "out.png"
    cmd, env = command(spec, inputs, out, save_every)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads()), **env}
    start, t0, stall = time.time(), time.perf_counter(), cpu_stall()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    stdout = p.stdout.read()
    _, status, rusage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    contention = (cpu_stall() - stall) / wall
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{spec.label} failed:\n{' '.join(cmd)}\n{stdout[-2000:]}")
    snaps = {}
    for f in folder.iterdir():
        m = SNAPSHOT.match(f.name)
        if m:
            snaps[int(m.group(1))] = (f.stat().st_mtime - start, f)
    final = (out.stat().st_mtime - start, out)
    if spec.tool != "impasto":  # the peers' output is their last step
        snaps.setdefault(spec.steps or PEER_STEPS[spec.tool], final)
    return Outcome(spec, cmd, wall, rusage.ru_maxrss / 1024.0, stdout, contention, snaps, final)


def quiet_run(spec: Spec, inputs: Inputs, folder: Path, every: int, limit: float = 0.05, tries: int = 3) -> Outcome:
    """``run``, repeated (after a pause) while others' work competed for the CPU for more than
    ``limit`` of its time; the least disturbed of ``tries`` is kept (each in its own folder, so its
    images stay) and its contention recorded."""
    best: Outcome | None = None
    for attempt in range(tries):
        o = run(spec, inputs, folder.with_name(f"{folder.name}-{attempt}"), every)
        print(f"  {inputs.size}px {spec.label}: {o.wall:.2f} s, {o.max_rss_mb:.0f} MB, contention {o.contention:.0%}",
              file=sys.stderr)
        best = o if best is None or o.contention < best.contention else best
        if o.contention <= limit:
            break
        time.sleep(20 * (attempt + 1))
    return best
