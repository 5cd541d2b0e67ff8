"""Peak memory of one style-transfer run at print size on the CPU (docs/beyond.md).

    python docs/beyond/memory.py 2048 checkpoint 3     # long edge, --memory, iterations

Prints the wall time per step and the process's peak resident set (ru_maxrss), which counts
everything: weights, images, activations, optimiser state; on a GPU also the most memory
torch allocated there.
"""

import resource
import sys
import time

import torch

from impasto import prepare

size, memory, iters = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
precision = sys.argv[4] if len(sys.argv) > 4 else "auto"
torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
t0 = time.monotonic()
run = prepare("examples/tubingen.jpg", "examples/starry_night.jpg", max_long_edge=size, iterations=iters,
              memory=memory, precision=precision)
setup = time.monotonic() - t0
times = []
for step in run:
    times.append(time.monotonic())
    print(f"step {step.step}: total {step.losses['total']:.4g}", flush=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
if torch.cuda.is_available():
    print(f"GPU max allocated {torch.cuda.max_memory_allocated() / 1024**3:.2f} GiB")
w, h = run.run.content_size
steps = [b - a for a, b in zip([t0 + setup] + times[:-1], times)]
print(f"{w}x{h} memory={memory} precision={precision}: setup {setup:.1f} s, "
      f"steps {', '.join(f'{s:.1f}' for s in steps)} s, peak RSS {peak:.2f} GiB")
