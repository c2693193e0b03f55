#!/usr/bin/env bash
# 2-rank data-parallel training, synthgen against PyTorch's DistributedDataParallel, side by
# side in one run on the CPU: both launched by torchrun with 2 processes, Gloo, one libtorch
# thread per rank (OMP_NUM_THREADS=1), torchvision ResNet-18 from the same initial weights,
# per-rank batch BATCH, SGD momentum 0.9, weight decay 1e-4, clipping 1.0, no augmentation.
# synthgen reads PNGs through its loader (one worker per rank); the PyTorch side
# (tests/parity/ddp_train.py) decodes its images once before the timer, so its figure has no
# decoding in it. images/s: every rank's images over every step, the first included.
# Usage: bench/ddp_vs_pytorch.sh; env ITERS (10), SIZE (64), BATCH (16 per rank), ROUNDS (2),
# SYNTHGEN_TORCH_VENV (.venv-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS="${ITERS:-10}"
SIZE="${SIZE:-64}"
BATCH="${BATCH:-16}"
ROUNDS="${ROUNDS:-2}"
VENV="${SYNTHGEN_TORCH_VENV:-.venv-torch}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
# 4 classes x 16 R x R PNGs (R = round(SIZE * 256 / 224)) and init.safetensors.
"$VENV/bin/python" tests/parity/torchvision_train_step.py prepare resnet18 "$SIZE" 4 16 7 "$WORK"
source scripts/cargo-env.sh 2>/dev/null || true
cargo build --release --quiet
BIN="$(pwd)/${CARGO_TARGET_DIR:-target}/release/synthgen"
load() { cut -d' ' -f1 /proc/loadavg; }
port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export OMP_NUM_THREADS=1

printf '%-5s %-9s %4s %10s %14s %14s %6s %s\n' round arch px batch synthgen_img/s pytorch_img/s ratio load_before
for round in $(seq "$ROUNDS"); do
  l1=$(load)
  out="$WORK/run-$round"
  "$VENV/bin/torchrun" --no-python --nproc-per-node 2 --master-port "$(port)" "$BIN" train \
    --train "$WORK/data" --arch resnet18 --image-size "$SIZE" --aug none --iters "$ITERS" \
    --batch-size "$BATCH" --device cpu --eval-every 100000 --init "$WORK/init.safetensors" \
    --init-keep-head --out "$out" >/dev/null 2>&1
  ours=$(grep -m1 '"images_per_second"' "$out/summary.json" | tr -dc '0-9.')
  l2=$(load)
  theirs=$("$VENV/bin/torchrun" --nproc-per-node 2 --master-port "$(port)" \
    tests/parity/ddp_train.py resnet18 "$SIZE" 0.01 "$ITERS" "$WORK" "$BATCH" 2>/dev/null |
    awk '/^pytorch_ddp images\/s/ {print $3}')
  ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.2f", a / b}')
  printf '%-5s %-9s %4s %10s %14.1f %14.1f %6s %s/%s\n' "$round" resnet18 "$SIZE" "2x$BATCH" \
    "$ours" "$theirs" "$ratio" "$l1" "$l2"
done
