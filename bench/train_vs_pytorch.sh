#!/usr/bin/env bash
# `synthgen train` against PyTorch eager, side by side in one run, on the CPU: the same step
# (torchvision ResNet, SGD momentum 0.9, weight decay 1e-4, clipping 1.0), batch 32, no
# augmentation, the same images (10 classes of 320 x 240 PNGs) and the same threads (every
# core for libtorch, one loader worker on each side).
# Usage: bench/train_vs_pytorch.sh; env ITERS (5), ARCHS ("resnet18 resnet50"),
# SIZES ("112 224"), SYNTHGEN_TORCH_VENV (.venv-torch).
# Prints images/s of each side and the ratio synthgen / PyTorch, with the load average before
# each run (other work on the machine lowers both sides), and the CPU seconds (user + sys, whole
# process with its loader, start-up included: about 4 s for Python's `import torch`) per image
# of each side with their ratio PyTorch / synthgen, which load disturbs far less.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS="${ITERS:-5}"
ARCHS="${ARCHS:-resnet18 resnet50}"
SIZES="${SIZES:-112 224}"
PY="${SYNTHGEN_TORCH_VENV:-.venv-torch}/bin/python"
THREADS=$(nproc)
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n) $THREADS cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$PY" bench/write_images.py "$WORK/data" 10 20
source scripts/cargo-env.sh 2>/dev/null || true
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/synthgen"
load() { cut -d' ' -f1 /proc/loadavg; }

# Runs "$@" with its output in $WORK/stdout; prints its CPU seconds (user + sys, with the
# children it reaped: PyTorch's DataLoader worker process).
cpu() { /usr/bin/time -f '%U %S' -o "$WORK/cpu" "$@" >"$WORK/stdout" 2>/dev/null && awk '{print $1 + $2}' "$WORK/cpu"; }
images=$((32 * ITERS))

printf '%-9s %4s %6s %14s %14s %6s %13s %13s %9s %s\n' arch px batch synthgen_img/s pytorch_img/s ratio \
  synthgen_cpu/img pytorch_cpu/img cpu_ratio load_before
for arch in $ARCHS; do
  for size in $SIZES; do
    l1=$(load)
    out="$WORK/run-$arch-$size"
    c1=$(cpu env -u OMP_NUM_THREADS "$BIN" train --train "$WORK/data" --arch "$arch" --image-size "$size" \
      --aug none --iters "$ITERS" --batch-size 32 --device cpu --eval-every 100000 --out "$out")
    ours=$(grep -m1 '"images_per_second"' "$out/summary.json" | tr -dc '0-9.')
    l2=$(load)
    c2=$(cpu "$PY" bench/pytorch_train.py "$WORK/data" "$arch" "$size" 32 "$ITERS" "$THREADS")
    theirs=$(awk '/^images_per_second/ {print $2}' "$WORK/stdout")
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.2f", a / b}')
    printf '%-9s %4s %6s %14.1f %14.1f %6s %13.3f %13.3f %9.2f %s/%s\n' "$arch" "$size" 32 "$ours" "$theirs" \
      "$ratio" "$(awk -v c="$c1" -v n="$images" 'BEGIN {print c / n}')" \
      "$(awk -v c="$c2" -v n="$images" 'BEGIN {print c / n}')" \
      "$(awk -v a="$c1" -v b="$c2" 'BEGIN {print b / a}')" "$l1" "$l2"
  done
done
