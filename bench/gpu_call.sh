#!/usr/bin/env bash
# The one device-tool call of a session with ~15 minutes of GPU: train the shipped styles, then
# every GPU figure, each under its own time limit, packed into at most four files under $OUT
# (the tool brings back eight). Carry: .gpu-carry (BENCHMARKS.md, "GPU").
#   run(command="bash bench/gpu_call.sh", carry=[".gpu-carry"], timeout_s=595)
# Rehearsal here: OUT=/tmp/gpu-call DEVICE=cpu TINY=--tiny bash bench/gpu_call.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:?set OUT}
device=${DEVICE:-cuda}
tiny=${TINY:-}
mkdir -p "$out" /tmp/impasto-train /tmp/impasto-gpu
{
  if [ "${TRAIN_LIMIT:-210}" != 0 ]; then  # TRAIN_LIMIT=0: GPU figures only
    timeout "${TRAIN_LIMIT:-210}" bash bench/device.sh train-shipped --device "$device" $tiny \
      --out /tmp/impasto-train --budget "${TRAIN_BUDGET:-150}"
    echo "train-shipped exit $?"
    tar -C /tmp/impasto-train -cf "$out/train.tar" .
  fi
  timeout "${GPU_LIMIT:-360}" bash bench/device.sh gpu --device "$device" $tiny \
    --out /tmp/impasto-gpu --budget "${GPU_BUDGET:-330}" --parts "${GPU_PARTS:-floor,speed,tests,fast,sizes,video,big}"
  echo "gpu exit $?"
  tar -C /tmp/impasto-gpu -cf "$out/gpu.tar" .
} 2>&1 | tee "$out/call.log"
