"""Which style layer the default loss listens to, on the raw and on the normalised network.

    python docs/network/layer_shares.py

For the written images of ``python -m bench defaults`` (bench/results/defaults-256.json), the
share of each style layer in the 1/N^2-weighted Gram loss (impasto's default style term) at that
image, computed on ``--weights caffe`` and on ``--weights caffe-normalized``. The yardstick gives
every layer the same say; a loss in which one layer carries nearly everything leaves the others
to chance (BENCHMARKS.md, "The default look").
"""

import json
from pathlib import Path

import torch

from impasto import resolve
from impasto.features.network import load_network
from impasto.images.io import load_image, to_tensor
from impasto.losses.style import gram

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
RUNS = ("neural-style", "impasto previous-defaults", "impasto")

torch.set_num_threads(2)
data = json.loads((ROOT / "bench" / "results" / "defaults-256.json").read_text())
for weights in ("caffe", "caffe-normalized"):
    o = resolve(weights=weights, precision="fp32", style_layers=LAYERS)
    net = load_network(o)

    def grams(path: str) -> list[torch.Tensor]:
        with torch.no_grad():
            f = net.net(net.preprocess.to_net(to_tensor(load_image(path)).to(net.device)), LAYERS)
        return [gram(f[k].float())[0] for k in LAYERS]

    print(f"--weights {weights}: share of each style layer in the 1/N^2-weighted Gram loss")
    print(f"  {'pair':28s} {'image':28s} " + " ".join(f"{k:>7s}" for k in LAYERS))
    for key, pair in data["pairs"].items():
        target = grams(pair["inputs"]["style"]["file"])
        for run in RUNS:
            if run not in pair["runs"]:
                continue
            got = grams(pair["runs"][run]["output"])
            terms = [w * float((g - a).pow(2).sum()) / (4 * g.shape[0] ** 2)
                     for w, g, a in zip(o.style_layer_weights, got, target)]
            print(f"  {key:28s} {run:28s} " + " ".join(f"{t / sum(terms):7.1%}" for t in terms))
