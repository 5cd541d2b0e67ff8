"""Multi-scale against single-scale at equal CPU time, scored at the final size (docs/beyond.md).

    python docs/beyond/equal_time.py 512 content 120,60,30

Runs the coarse-to-fine schedule (sizes halving up to the final long edge, the given iteration
counts), notes the CPU time it took, then runs a single-scale optimisation at the final size
until it has used the same CPU time. Both results are scored by the same final-size loss.
CPU time (one thread) rather than wall time, because the machine is shared.
"""

import sys
import time

import torch

from impasto import prepare, resolve
from impasto.engine.inputs import load_inputs
from impasto.engine.transfer import Transfer
from impasto.features.network import load_network
from impasto.images.io import save_image, to_tensor

torch.set_num_threads(1)
final, init = int(sys.argv[1]), sys.argv[2]
iters = [int(v) for v in sys.argv[3].split(",")]
C, S = "examples/tubingen.jpg", "examples/starry_night.jpg"
net = load_network(resolve())
sizes = [final // 2 ** (len(iters) - 1 - i) for i in range(len(iters))]

t = time.process_time()
o = resolve(scales=tuple(sizes), init=init)
ms = Transfer(o, load_inputs(C, S, o), net, size_steps=iters)
for _ in ms:
    pass
budget = time.process_time() - t
ms_img = ms.best_image()

t = time.process_time()
ss = prepare(C, S, max_long_edge=final, iterations=100000, init=init, network=net)
n = 0
for step in ss:
    n = step.step
    if time.process_time() - t >= budget:
        break
used = time.process_time() - t
ss_img = ss.best_image()

judge = prepare(C, S, max_long_edge=final, iterations=1, precision="fp32").run  # one yardstick
for name, img, cpu, what in (("multi-scale", ms_img, budget, f"{sizes} x {iters} it"),
                             ("single-scale", ss_img, used, f"{final} x {n} it")):
    with torch.no_grad():
        _, parts = judge.loss(judge._net_input(to_tensor(img)))
    c, s, tv, total = parts.tolist()
    print(f"{name:12s} {what:28s} cpu {cpu:6.1f} s  final-size loss {total:.4g} "
          f"(content {c:.3g}, style {s:.3g}, tv {tv:.3g})", flush=True)
    save_image(img, f"docs/beyond/equal_time_{final}_{init}_{name}.jpg", quality=85)
