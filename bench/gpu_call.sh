#!/usr/bin/env bash
# The one device-tool call, in order of value, each phase under its own time limit (about 9
# minutes in all): (a) the arbitrary-style decoder, (b) the four shipped styles retrained on the
# engine's default look, (c) the GPU figures. Results come back as five files under $OUT (the
# tool returns eight of at most 16 MiB): call.log, any.tar, decoder.ckpt, train.tar, gpu.tar.
# First, here: python -m bench gpu-carry && python -m bench train-shipped --pack-data
#   run(command="bash bench/gpu_call.sh", carry=[".gpu-carry"], timeout_s=595)
# Rehearsal here: OUT=/tmp/gpu-call DEVICE=cpu TINY=--tiny bash bench/gpu_call.sh
# A phase's limit of 0 skips it (ANY_LIMIT, TRAIN_LIMIT, GPU_LIMIT); *_BUDGET is its training or
# measuring time inside that limit, the rest is start-up and writing. GPU_PARTS: the figures to
# measure (default: bench gpu's own).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:?set OUT}
device=${DEVICE:-cuda}
tiny=${TINY:-}
any=/tmp/impasto-any train=/tmp/impasto-train gpu=/tmp/impasto-gpu
# The limits are the GPU machine's; a CPU rehearsal (a busy 2-core machine, where decoding the
# data alone takes a minute) gets four times as long.
scale=1
[ "$device" = cpu ] && scale=4
any_limit=$(( ${ANY_LIMIT:-205} * scale )) train_limit=$(( ${TRAIN_LIMIT:-195} * scale )) gpu_limit=$(( ${GPU_LIMIT:-130} * scale ))
mkdir -p "$out" "$any" "$train" "$gpu"
{
  date -u +"start %H:%M:%S"
  if [ "$any_limit" != 0 ]; then
    timeout "$any_limit" bash bench/device.sh train-any --device "$device" $tiny \
      --out "$any" --budget "${ANY_BUDGET:-165}"
    echo "train-any exit $?"
    [ -f "$any/decoder.ckpt" ] && mv "$any/decoder.ckpt" "$out/decoder.ckpt"
    tar -C "$any" -cf "$out/any.tar" .
  fi
  date -u +"decoder done %H:%M:%S"
  if [ "$train_limit" != 0 ]; then
    timeout "$train_limit" bash bench/device.sh train-shipped --device "$device" $tiny \
      --out "$train" --budget "${TRAIN_BUDGET:-150}"
    echo "train-shipped exit $?"
    tar -C "$train" -cf "$out/train.tar" .
  fi
  date -u +"styles done %H:%M:%S"
  if [ "$gpu_limit" != 0 ]; then
    timeout "$gpu_limit" bash bench/device.sh gpu --device "$device" $tiny \
      --out "$gpu" --budget "${GPU_BUDGET:-110}" ${GPU_PARTS:+--parts "$GPU_PARTS"}
    echo "gpu exit $?"
    tar -C "$gpu" -cf "$out/gpu.tar" .
  fi
  date -u +"end %H:%M:%S"
} 2>&1 | tee "$out/call.log"
