#!/usr/bin/env bash
# On the GPU machine (the device tool's call): install what .gpu-carry/ brought, then run
# `python3 -m bench ARGS`. Nothing there reaches the internet; the machine's python3 has torch.
#   bash bench/device.sh gpu --out "$OUT"
#   bash bench/device.sh train-shipped --device cuda --out "$OUT"
# Rehearse here with the venv active: bash bench/device.sh gpu --tiny --device cpu --out /tmp/gpu-tiny
set -euo pipefail
cd "$(dirname "$0")/.."
site=${IMPASTO_SITE:-/tmp/impasto-site}
mkdir -p "$site"
shopt -s nullglob
wheels=(.gpu-carry/wheels/*/*.whl)
if (( ${#wheels[@]} )); then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "${wheels[@]}"
fi
for t in .gpu-carry/wheels/*/*.tar.xz; do tar -xJf "$t" -C "$site"; done
export PYTHONPATH="$site:$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export IMPASTO_CACHE=${IMPASTO_CACHE:-/tmp/impasto-cache}
python3 -c "import sys, torch, impasto; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
exec python3 -m bench "$@"
