"""Measure the Caffe VGG-19's mean activation per filter on photos: the normalisation of Gatys
et al. (CVPR 2016), shipped as ``src/impasto/data/vgg19_caffe_means.pt``.

    python docs/network/normalize.py ../shared/datasets/bsds500/train

Every photo at its own size (BSDS500: 481x321), the network as trained (max pooling), fp32; the
mean of each ReLU's output over positions, then over photos. ``--weights caffe-normalized``
divides each filter by its mean (``features/weights.normalized``).
"""

import sys
from pathlib import Path

import torch

from impasto import resolve
from impasto.features.layers import conv_names
from impasto.features.network import load_network
from impasto.images.atomic import atomic_path
from impasto.images.io import load_image, to_tensor

OUT = Path(__file__).resolve().parents[2] / "src" / "impasto" / "data" / "vgg19_caffe_means.pt"

torch.set_num_threads(2)
photos = sorted(Path(sys.argv[1]).glob("*.jpg"))
net = load_network(resolve(weights="caffe", pooling="max", precision="fp32"), layers=("relu5_4",))
relus = ["relu" + name[4:] for name in conv_names("vgg19")]
sums = {k: torch.zeros(net.net.convs["conv" + k[4:]].out_channels) for k in relus}
with torch.no_grad():
    for i, path in enumerate(photos):
        feats = net.net(net.preprocess.to_net(to_tensor(load_image(path))), relus)
        for k in relus:
            sums[k] += feats[k].mean((0, 2, 3))
        if (i + 1) % 20 == 0:
            print(f"{i + 1}/{len(photos)}", flush=True)
means = {"conv" + k[4:]: (sums[k] / len(photos)).contiguous() for k in relus}
dead = {k: int((v <= 0).sum()) for k, v in means.items() if (v <= 0).any()}
print("filters never active:", dead or "none")
print({k: f"{float(v.mean()):.3g}" for k, v in means.items()})
with atomic_path(OUT) as tmp:
    torch.save(means, tmp)
print(f"wrote {OUT} from {len(photos)} photos")
