"""Same weights at two sizes: the loss values and the look (docs/beyond.md).

    python docs/beyond/size.py 256,1024 60

Prints each run's weighted loss terms at the start (the content photo itself) and at the end,
and saves the results; the normalisation in losses.py should make the numbers comparable.
"""

import sys
import time

import torch

from impasto import prepare, resolve
from impasto.features.network import load_network
from impasto.images.io import save_image

torch.set_num_threads(1)
sizes = [int(v) for v in sys.argv[1].split(",")]
iters = int(sys.argv[2])
net = load_network(resolve())
for size in sizes:
    t = time.process_time()
    run = prepare("examples/tubingen.jpg", "examples/starry_night.jpg", max_long_edge=size, iterations=iters, network=net)
    steps = list(run)
    first, last = steps[0].losses, steps[-1].losses
    print(f"{size:5d} px: step 1 " + ", ".join(f"{k} {v:.3g}" for k, v in first.items())
          + f" | step {len(steps)} " + ", ".join(f"{k} {v:.3g}" for k, v in last.items())
          + f" | cpu {time.process_time() - t:.0f} s", flush=True)
    save_image(run.best_image(), f"docs/beyond/size_{size}.jpg", quality=85)
