#!/usr/bin/env bash
# Iterations/s of each `synthgen adapt` method on this machine (CPU unless an argument says
# otherwise). Usage: bench/adapt_bench.sh [device]; env ARCH (resnet18), SIZE (64), BATCH (16
# per domain), ITERS (8), N_PER_CLASS (20), PROFILE (release).
# Data: the trainer bench's 10 classes of generated 320x240 PNGs (bench/train_loader.rs), used as source and (labels
# ignored) as target. Evaluation, checkpoints and t-SNE are kept out of the timed loop.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${1:-cpu}"
ARCH="${ARCH:-resnet18}"
SIZE="${SIZE:-64}"
BATCH="${BATCH:-16}"
ITERS="${ITERS:-8}"
N_PER_CLASS="${N_PER_CLASS:-20}"
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
for method in source-only dann mcd rca srdc disclusterda; do
  out="$WORK/run-$method"
  "$BIN" adapt --method "$method" --source "$WORK/data" --target "$WORK/data" --arch "$ARCH" \
    --image-size "$SIZE" --batch-size "$BATCH" --iters "$ITERS" --eval-every 100000 \
    --tsne-points 0 --device "$DEVICE" --out "$out" >/dev/null 2>&1
  its=$(grep -m1 '"iterations_per_second"' "$out/summary.json" | tr -dc '0-9.')
  echo "adapt $method $ARCH ${SIZE}px batch $BATCH+$BATCH $ITERS iterations on $DEVICE: $its it/s"
done
