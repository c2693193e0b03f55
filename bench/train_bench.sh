#!/usr/bin/env bash
# Training and loader throughput of `synthgen train` on this machine (CPU unless --device says
# otherwise). Usage: bench/train_bench.sh [device]; env ITERS (6), N_PER_CLASS (20), PROFILE
# (release; dev reuses the test build).
# Prints images/s for resnet18 / resnet50 at 112 and 224 px and the loader's decode + strong
# augmentation rate. Data: 10 classes of generated 320x240 PNGs in a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${1:-cpu}"
ITERS="${ITERS:-6}"
N_PER_CLASS="${N_PER_CLASS:-20}"
# dev reuses the test build (our crate at opt-level 1, dependencies at 2); release is faster.
PROFILE="${PROFILE:-release}"
PROFILE_DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
FEATURES=(${BENCH_FEATURES:---features train})
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cargo bench --profile "$PROFILE" "${FEATURES[@]}" --quiet --bench train_loader \
  -- write-data "$WORK/data" "$N_PER_CLASS" >/dev/null 2>&1

cargo build --profile "$PROFILE" "${FEATURES[@]}" --quiet
BIN="${CARGO_TARGET_DIR:-target}/$PROFILE_DIR/synthgen"
for arch in resnet18 resnet50; do
  for size in 112 224; do
    out="$WORK/run-$arch-$size"
    "$BIN" train --train "$WORK/data" --arch "$arch" --image-size "$size" --aug strong \
      --iters "$ITERS" --batch-size 32 --device "$DEVICE" --eval-every 100000 --out "$out" \
      >/dev/null 2>&1
    ips=$(grep -m1 '"images_per_second"' "$out/summary.json" | tr -dc '0-9.')
    echo "train $arch ${size}px batch 32 $ITERS steps on $DEVICE: $ips img/s (loader included)"
  done
done
cargo bench --profile "$PROFILE" "${FEATURES[@]}" --quiet --bench train_loader \
  -- loader "$WORK/data" 2>/dev/null | grep '^loader'
