"""Fixed runs whose outputs must not change when the engine is reshaped.

Every preset, each memory mode, masks, blend, the colour modes, multi-scale and a shipped fast
model, at tiny sizes, in fp32, with fixed seeds. ``python -m tests.golden`` records them into
``tests/golden.npz``; ``test_golden.py`` reruns them and compares to rounding. Record again
only for a change that is *meant* to alter results, and say so in the commit.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden.npz"
TINY = dict(max_long_edge=48, iterations=6, precision="fp32", seed=3)


def inputs(folder: Path) -> dict[str, Path]:
    """Small deterministic inputs made from the example images (and two masks)."""
    ex = ROOT / "examples"
    paths = {"content": folder / "c.png", "style": folder / "s.png", "style2": folder / "s2.png",
             "left": folder / "left.png", "right": folder / "right.png"}
    Image.open(ex / "tubingen.jpg").convert("RGB").resize((64, 48), Image.BICUBIC).save(paths["content"])
    Image.open(ex / "starry_night.jpg").convert("RGB").resize((64, 40), Image.BICUBIC).save(paths["style"])
    Image.open(ex / "tubingen.jpg").convert("RGB").rotate(90, expand=True).resize((40, 56), Image.BICUBIC) \
        .save(paths["style2"])
    left = np.zeros((48, 64), np.uint8)
    left[:, :32] = 255
    Image.fromarray(left).save(paths["left"])
    Image.fromarray(255 - left).save(paths["right"])
    return paths


def cases(p: dict[str, Path]) -> dict[str, tuple[tuple, dict]]:
    """name -> ((content, style), options) for impasto.stylize."""
    cs = (p["content"], p["style"])
    two = (p["content"], [p["style"], p["style2"]])
    out: dict[str, tuple[tuple, dict]] = {"default": (cs, {})}
    for preset in ("gatys", "keras-vgg16", "tf-adam", "tds", "mxnet"):
        out[f"preset-{preset}"] = (cs, {"preset": preset})
    for mode in ("full", "checkpoint", "tiled"):
        out[f"memory-{mode}"] = (cs, {"memory": mode, "tile": 64})
    out["tiled-small-tiles"] = (cs, {"memory": "tiled", "tile": 64, "max_long_edge": 160, "iterations": 3})
    out["masks"] = (two, {"masks": (p["left"], p["right"])})
    out["masks-tiled"] = (two, {"masks": (p["left"], p["right"]), "memory": "tiled", "tile": 64})
    out["blend"] = (two, {"style_blend": (0.7, 0.3)})
    for color in ("luminance", "histogram", "only"):
        out[f"color-{color}"] = (cs, {"color": color})
    out["multiscale"] = (cs, {"scales": (2,), "max_long_edge": 64})
    out["multiscale-noise"] = (cs, {"scales": (24, 48), "init": "noise"})
    out["style-scale"] = (cs, {"style_scale": 1.5})
    out["max-pool-noise"] = (cs, {"pooling": "max", "init": "noise", "tv_weight": 0.1})
    out["init-style-noise"] = (cs, {"init": "style", "init_noise": 0.3})
    out["adam"] = (cs, {"optimizer": "adam"})
    out["sgd"] = (cs, {"optimizer": "sgd"})
    out["layer-weights"] = (cs, {"style_layers": ("relu1_1", "relu3_1"), "style_layer_weights": (0.2, 0.8),
                                 "content_layers": ("relu3_2", "relu4_2"), "content_layer_weights": (1, 2)})
    out["stop-eps"] = (cs, {"stop_eps": 0.2, "stop_window": 2, "iterations": 20})
    out["denoise"] = (cs, {"denoise": 0.05})
    return out


def run_all(folder: Path) -> dict[str, np.ndarray]:
    """Every case's output image (uint8 HxWx3), plus the fast model's painting."""
    import impasto
    from impasto import fast

    from .conftest import fake_torchvision_vgg
    from impasto.features.weights import TORCHVISION, torch_hub_dir

    fake_torchvision_vgg(torch_hub_dir() / TORCHVISION["vgg16"][0], "vgg16")
    p = inputs(folder)
    results = {}
    for name, ((content, style), opts) in cases(p).items():
        o = {**TINY, **opts}
        if "preset" in o:  # a preset's own values win over TINY, but not its size and length
            o = {"preset": o.pop("preset"), **o}
        img = impasto.stylize(content, style, **o)
        results[name] = np.asarray(img, dtype=np.uint8)
    model = fast.load_model("candy")
    results["fast-candy"] = np.asarray(fast.stylize_image(model, p["content"], precision="fp32"), dtype=np.uint8)
    return results


def main() -> int:
    import os

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("TORCH_HOME", str(Path(d) / "torch-home"))
        results = run_all(Path(d))
    np.savez_compressed(GOLDEN, **results)
    print(f"wrote {GOLDEN} ({len(results)} outputs)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
