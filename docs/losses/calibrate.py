"""How hard each style loss pulls, against the paper's Gram loss: the SCALE constants of
``impasto/losses/style.py``.

    python docs/losses/calibrate.py 256                # the default network
    python docs/losses/calibrate.py 256 caffe          # SCALES["caffe"]

For each photo/painting pair, at the photo (the default start), the gradient norm of the style
term with respect to the image, Gram against W2 and sliced (SCALE = 1, fixed directions). The
printed geometric mean of the ratios is the SCALE (for that network) that makes one
--style-weight pull about as hard with every loss.
"""

import math
import sys
from pathlib import Path

import torch

import impasto
from impasto.features.network import load_network
from impasto.losses import style as S

torch.set_num_threads(2)
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "images"
size = int(sys.argv[1]) if len(sys.argv) > 1 else 256
weights = sys.argv[2] if len(sys.argv) > 2 else impasto.resolve().weights
photos = [SHARED / "content" / n for n in ("tubingen.jpg", "golden_gate.jpg")]
paintings = [SHARED / "style" / n for n in ("starry_night.jpg", "the_scream.jpg", "picasso_selfport1907.jpg",
                                           "shipwreck.jpg")]
S.W2Loss.SCALES = S.SlicedLoss.SCALES = {"caffe": 1.0, weights: 1.0}
net = load_network(impasto.resolve(weights=weights, precision="fp32"))
ratios: dict[str, list[float]] = {"w2": [], "sliced": []}
for photo in photos:
    for painting in paintings:
        pull = {}
        for loss in ("gram", "w2", "sliced"):
            run = impasto.prepare(photo, painting, weights=weights, max_long_edge=size, iterations=1, style_loss=loss, scales=(1,),
                                  content_weight=0.0, tv_weight=0.0, precision="fp32", network=net).run
            x = run.x0.clone().requires_grad_(True)
            run.objective(x)[1].backward()  # the unweighted style term
            pull[loss] = float(x.grad.norm())
        for loss in ratios:
            ratios[loss].append(pull["gram"] / pull[loss])
        print(f"{photo.name:16s} {painting.name:26s} " + "  ".join(f"{k} {v:.3g}" for k, v in pull.items()), flush=True)
for loss, rs in ratios.items():
    gm = math.exp(sum(map(math.log, rs)) / len(rs))
    print(f"{loss}: SCALE = {gm:.3g} (ratios {min(rs):.3g} to {max(rs):.3g})")
