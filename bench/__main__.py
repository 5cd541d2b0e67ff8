"""impasto's benchmarks against pastiche: ``python -m bench {speed,floor,quality,tradeoff,startup} [...]``;
on a GPU machine ``gpu`` and ``train-shipped`` (``bench/gpu.py``, ``bench/train_shipped.py``).

Every figure is measured in the run that prints it; results go to ``bench/results/*.json`` and a
Markdown table on stdout. See BENCHMARKS.md for the figures and the machines they came from.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import gpu, train_shipped
from .peers import CONTENT, MATCHED, STYLE, evaluate, evaluate_parts, pastiche_curve, run_impasto, run_pastiche

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


def spread(xs: list[float]) -> dict:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "runs": len(xs)}


def save(name: str, data: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    data = {"machine": machine(), "command": " ".join(["python -m bench", *sys.argv[1:]]), **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2))


def cmd_speed(a: argparse.Namespace) -> None:
    """Whole-run wall time, per-iteration time and peak RSS, impasto vs pastiche, interleaved."""
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for size in a.sizes:
            runs: dict[str, list] = {"impasto": [], "pastiche": []}
            for rep in range(a.repeats):
                for tool in ("pastiche", "impasto") if rep % 2 else ("impasto", "pastiche"):
                    out = tmp / f"{tool}.png"
                    if tool == "impasto":
                        log = tmp / "log.jsonl"
                        r = run_impasto(out, size, a.iterations, a.device, log=log)
                        secs = [json.loads(line)["seconds"] for line in log.read_text().splitlines()]
                        half = len(secs) // 2
                        per_it = (secs[-1] - secs[half - 1]) / (len(secs) - half)
                    else:
                        r = run_pastiche(out, size, a.iterations, a.device, info_step=max(1, a.iterations // 2))
                        curve = pastiche_curve(r.stdout)
                        (s0, t0, _), (s1, t1, _) = curve[-2], curve[-1]
                        per_it = (t1 - t0) / (s1 - s0)
                    runs[tool].append({"wall": r.wall, "per_iteration": per_it, "max_rss_mb": r.max_rss_mb})
                    print(f"  {size}px {tool}: {r.wall:.2f} s, {per_it * 1000:.0f} ms/it, {r.max_rss_mb:.0f} MB",
                          file=sys.stderr)
            rows[size] = {
                tool: {k: spread([x[k] for x in v]) for k in ("wall", "per_iteration", "max_rss_mb")}
                for tool, v in runs.items()
            }
    save(f"speed-{a.device}", {"iterations": a.iterations, "sizes": rows})
    print("| size | impasto wall (s) | pastiche wall (s) | wall ratio | impasto ms/it | pastiche ms/it | per-it ratio | impasto RSS MB | pastiche RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, r in rows.items():
        i, p = r["impasto"], r["pastiche"]
        print(f"| {size} | {i['wall']['median']:.2f} ({i['wall']['min']:.2f}-{i['wall']['max']:.2f}) "
              f"| {p['wall']['median']:.2f} ({p['wall']['min']:.2f}-{p['wall']['max']:.2f}) "
              f"| {i['wall']['median'] / p['wall']['median']:.2f} "
              f"| {i['per_iteration']['median'] * 1000:.0f} | {p['per_iteration']['median'] * 1000:.0f} "
              f"| {i['per_iteration']['median'] / p['per_iteration']['median']:.2f} "
              f"| {i['max_rss_mb']['median']:.0f} | {p['max_rss_mb']['median']:.0f} |")


def cmd_floor(a: argparse.Namespace) -> None:
    """Time of one impasto step against the VGG forward+backward alone (the floor)."""
    import torch

    from impasto import prepare
    from impasto.features.devices import precision_context, resolve_precision

    if a.device == "cpu":
        torch.set_num_threads(a.threads)
    rows = {}
    for size in a.sizes:
        run = prepare(CONTENT, STYLE, max_long_edge=size, iterations=a.steps + 3, device=a.device,
                      precision=a.precision, **MATCHED).run
        sync = torch.cuda.synchronize if run.device.type == "cuda" else (lambda: None)
        layers = run.options.layers
        x = run.x0.detach().clone().requires_grad_(True)

        grads: list = []

        def vgg_only() -> None:  # in the run's precision (bf16 autocast where that is the default)
            with precision_context(run.device, run.options.precision):
                feats = list(run.network.net(x, layers).values())
            if not grads:  # a fixed gradient per output, in the output's own dtype and layout
                grads.extend(torch.randn_like(f) for f in feats)
            torch.autograd.backward(feats, grads)
            x.grad = None

        for _ in range(2):
            vgg_only()
        sync()
        t = time.perf_counter()
        for _ in range(a.steps):
            vgg_only()
        sync()
        floor = (time.perf_counter() - t) / a.steps
        it = iter(run)
        for _ in range(3):
            next(it)
        sync()
        t = time.perf_counter()
        for _ in range(a.steps):
            next(it)
        sync()
        step = (time.perf_counter() - t) / a.steps
        rows[size] = {"precision": resolve_precision(run.device, a.precision), "vgg_fwd_bwd_ms": floor * 1000, "impasto_step_ms": step * 1000, "floor_fraction": floor / step}
        print(f"  {size}px: VGG fwd+bwd {floor * 1000:.1f} ms, impasto step {step * 1000:.1f} ms", file=sys.stderr)
    suffix = "" if a.precision == "auto" else f"-{a.precision}"
    save(f"floor-{a.device}{suffix}", {"steps": a.steps, "sizes": rows})
    print("| size | VGG fwd+bwd (ms) | impasto step (ms) | VGG share of the step |")
    print("|---|---|---|---|")
    for size, r in rows.items():
        print(f"| {size} | {r['vgg_fwd_bwd_ms']:.1f} | {r['impasto_step_ms']:.1f} | {r['floor_fraction']:.0%} |")


def cmd_quality(a: argparse.Namespace) -> None:
    """Time to the peer's N-iteration quality, and loss against seconds for both tools."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        p_out = tmp / "pastiche.png"
        pr = run_pastiche(p_out, a.size, a.iterations, a.device, info_step=10)
        p_curve = pastiche_curve(pr.stdout)
        p_final = evaluate(p_out, a.size)
        print(f"  pastiche {a.iterations} its: {pr.wall:.1f} s, loss {p_final:.4g}", file=sys.stderr)
        variants = {"impasto": {}}
        for spec in a.variants:
            name, _, kv = spec.partition(":")
            extra = dict(item.split("=") for item in kv.split(";") if item) if kv else {}
            variants[name] = extra
        out = {"pastiche": {"wall": pr.wall, "final_loss": p_final, "curve": p_curve}}
        for name, extra in variants.items():
            i_out, log = tmp / f"{name}.png", tmp / f"{name}.jsonl"
            its = int(extra.pop("iterations", a.iterations))
            every = a.every
            ir = run_impasto(i_out, a.size, its, a.device, log=log, save_every=every, **extra)
            recs = [json.loads(line) for line in log.read_text().splitlines()]
            setup = ir.wall - recs[-1]["seconds"]  # process start + loading, before step 1
            # Score the clamped images written every `every` steps at the final size, as the
            # peer's final image is scored: the optimiser's own (unclamped) loss reads lower.
            size_of = {r["step"]: r["long_edge"] for r in recs}
            scored = [(r, evaluate(i_out.with_name(f"{name}_{r['step']:04d}.png"), a.size))
                      for r in recs if r["step"] % every == 0 and size_of[r["step"]] == recs[-1]["long_edge"]]
            reach = next((r for r, loss in scored if loss <= p_final), None)
            i_final = evaluate(i_out, a.size)
            out[name] = {
                "wall": ir.wall, "final_loss": i_final, "extra": extra,
                "curve": [(r["step"], r["seconds"] + setup, r["total"]) for r in recs],
                "scored": [(r["step"], r["seconds"] + setup, loss) for r, loss in scored],
                "seconds_to_peer_quality": None if reach is None else reach["seconds"] + setup,
                "steps_to_peer_quality": None if reach is None else reach["step"],
            }
            print(f"  {name}: {ir.wall:.1f} s, final loss {i_final:.4g}, reaches pastiche's at "
                  f"{out[name]['seconds_to_peer_quality']}", file=sys.stderr)
    save(f"quality-{a.device}-{a.size}", {"size": a.size, "iterations": a.iterations, "results": out})
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        for name, r in out.items():
            line, = ax.plot([c[1] for c in r["curve"]], [c[2] for c in r["curve"]], label=f"{name} (optimiser's loss)")
            if "scored" in r:
                ax.plot([c[1] for c in r["scored"]], [c[2] for c in r["scored"]], "o", ms=3,
                        color=line.get_color(), label=f"{name} (written image)")
        ax.axhline(p_final, color="gray", ls=":", lw=1, label=f"pastiche's written image after {a.iterations} its")
        ax.set_yscale("log")
        ax.set_xlabel("seconds since process start")
        ax.set_ylabel("loss (the common objective)")
        ax.set_title(f"{a.size} px, {a.device}: loss against time")
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.plot)
    print(f"| tool | wall for {a.iterations} its (s) | final loss | s to pastiche's final loss | speed-up |")
    print("|---|---|---|---|---|")
    for name, r in out.items():
        reach = r.get("seconds_to_peer_quality", r["wall"])
        ratio = "" if reach is None else f"{pr.wall / reach:.2f}x"
        print(f"| {name} | {r['wall']:.1f} | {r['final_loss']:.4g} | {reach if reach is None else round(reach, 1)} | {ratio} |")


def cmd_tradeoff(a: argparse.Namespace) -> None:
    """Quality for the time: impasto at several style weights against the peer's N-iteration image.

    Each image is scored on the matched objective's two terms. Impasto's points (one per style
    weight, each run for fewer seconds than the peer) trace a content/style curve; the peer beats
    it only if its point lies below that curve.
    """
    import math

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pr = run_pastiche(tmp / "pastiche.png", a.size, a.iterations, a.device, info_step=a.iterations)
        peer = {"wall": pr.wall, **evaluate_parts(tmp / "pastiche.png", a.size)}
        print(f"  pastiche {a.iterations} its: {pr.wall:.1f} s, content {peer['content']:.4g}, "
              f"style {peer['style']:.4g}", file=sys.stderr)
        points = []
        for k in a.weights:
            out = tmp / f"impasto-{k}.png"
            r = run_impasto(out, a.size, a.budget, a.device, style_weight=MATCHED["style_weight"] * k)
            points.append({"style_weight_x": k, "wall": r.wall, **evaluate_parts(out, a.size)})
            print(f"  impasto style weight x{k:g}, {a.budget} its: {r.wall:.1f} s, content "
                  f"{points[-1]['content']:.4g}, style {points[-1]['style']:.4g}", file=sys.stderr)
    # impasto's style loss at the peer's content loss, interpolated in log-log along the curve
    curve = sorted(points, key=lambda p: p["content"])
    at_peer = None
    for lo, hi in zip(curve, curve[1:]):
        if lo["content"] <= peer["content"] <= hi["content"]:
            t = math.log(peer["content"] / lo["content"]) / math.log(hi["content"] / lo["content"])
            at_peer = math.exp(math.log(lo["style"]) + t * math.log(hi["style"] / lo["style"]))
    save(f"tradeoff-{a.device}-{a.size}", {"size": a.size, "peer_iterations": a.iterations, "impasto_iterations": a.budget,
                                            "pastiche": peer, "impasto": points, "impasto_style_at_peer_content": at_peer})
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        ax.plot([p["content"] for p in curve], [p["style"] for p in curve], "o-",
                label=f"impasto, {a.budget} its at style weight x{', x'.join(f'{k:g}' for k in a.weights)}")
        for p in curve:
            ax.annotate(f"x{p['style_weight_x']:g}, {p['wall']:.0f} s", (p["content"], p["style"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.plot([peer["content"]], [peer["style"]], "s", color="C3",
                label=f"pastiche, {a.iterations} its, {peer['wall']:.0f} s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("content loss of the written image")
        ax.set_ylabel("style loss of the written image")
        ax.set_title(f"{a.size} px, {a.device}: lower-left is better")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(a.plot)
    slowest = max(p["wall"] for p in points)
    print("| run | wall (s) | content loss | style loss |")
    print("|---|---|---|---|")
    print(f"| pastiche, {a.iterations} its | {peer['wall']:.1f} | {peer['content']:.4g} | {peer['style']:.4g} |")
    for p in curve:
        print(f"| impasto, style weight x{p['style_weight_x']:g}, {a.budget} its | {p['wall']:.1f} | "
              f"{p['content']:.4g} | {p['style']:.4g} |")
    if at_peer is None:
        print("\nthe peer's content loss lies outside impasto's curve: widen --weights")
    else:
        print(f"\nat the peer's content loss impasto's curve has style loss {at_peer:.4g} "
              f"({peer['style'] / at_peer:.2f}x lower than the peer's), each point in at most {slowest:.1f} s "
              f"against the peer's {peer['wall']:.1f} s")


def cmd_startup(a: argparse.Namespace) -> None:
    """Seconds from `import torch` done to the first iteration done (weights cached)."""
    import subprocess

    code = (
        "import time; t0=time.perf_counter(); import torch; t1=time.perf_counter();"
        "torch.set_num_threads(2);"
        "from impasto import prepare;"
        f"run=prepare(r'{CONTENT}', r'{STYLE}', max_long_edge={a.size}, iterations=1, device='{a.device}');"
        "next(iter(run)); t2=time.perf_counter(); print(t1-t0, t2-t1)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warms the cache
    rows = []
    for _ in range(a.repeats):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        imp, rest = map(float, out.split())
        rows.append((imp, rest))
    save(f"startup-{a.device}", {"size": a.size, "import_torch": spread([r[0] for r in rows]),
                                 "to_first_iteration": spread([r[1] for r in rows])})
    print(f"import torch: median {statistics.median(r[0] for r in rows):.2f} s; then weights + first iteration "
          f"at {a.size} px: min/median/max {min(r[1] for r in rows):.2f}/{statistics.median(r[1] for r in rows):.2f}/"
          f"{max(r[1] for r in rows):.2f} s")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    sizes = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    s = sub.add_parser("speed")
    s.add_argument("--sizes", type=sizes, default=[256, 512])
    s.add_argument("--iterations", type=int, default=50)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--device", default="cpu")
    s.set_defaults(func=cmd_speed)
    f = sub.add_parser("floor")
    f.add_argument("--sizes", type=sizes, default=[256, 512])
    f.add_argument("--steps", type=int, default=10)
    f.add_argument("--threads", type=int, default=2)
    f.add_argument("--device", default="cpu")
    f.add_argument("--precision", default="auto")
    f.set_defaults(func=cmd_floor)
    q = sub.add_parser("quality")
    q.add_argument("--size", type=int, default=256)
    q.add_argument("--iterations", type=int, default=500)
    q.add_argument("--device", default="cpu")
    q.add_argument("--variant", dest="variants", action="append", default=[],
                   help="NAME:key=value;key=value  extra impasto settings to compare, e.g. ms:scales=3")
    q.add_argument("--plot", help="loss against seconds, as PNG")
    q.add_argument("--every", type=int, default=10, help="score impasto's image every N steps")
    q.set_defaults(func=cmd_quality)
    t = sub.add_parser("tradeoff")
    t.add_argument("--size", type=int, default=256)
    t.add_argument("--iterations", type=int, default=500, help="the peer's iterations")
    t.add_argument("--budget", type=int, default=300, help="impasto's iterations per style weight")
    t.add_argument("--weights", type=lambda s: [float(v) for v in s.split(",")], default=[0.25, 0.5, 1, 2, 4],
                   help="impasto's style weights, as multiples of the matched weight")
    t.add_argument("--device", default="cpu")
    t.add_argument("--plot", help="content loss against style loss, as PNG")
    t.set_defaults(func=cmd_tradeoff)
    st = sub.add_parser("startup")
    st.add_argument("--size", type=int, default=256)
    st.add_argument("--repeats", type=int, default=5)
    st.add_argument("--device", default="cpu")
    st.set_defaults(func=cmd_startup)
    gpu.register(sub)
    train_shipped.register(sub)
    a = p.parse_args()
    sys.exit(a.func(a))


if __name__ == "__main__":
    main()
