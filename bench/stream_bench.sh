#!/usr/bin/env bash
# Streamed training against render-then-train of the same images (demo preset, embedded
# catalog, CPU). Usage: bench/stream_bench.sh [device]; env ITERS (16), BATCH (8), RES (64),
# RENDER_WORKERS (2), ARCH (resnet_tiny), SIZE (64); NO_BUILD=1 uses the existing binary.
# Prints wall seconds and images/s of both ways and the stream's render rate and wait shares (from the streamed run's summary.json).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${1:-cpu}"
ITERS="${ITERS:-16}"; BATCH="${BATCH:-8}"; RES="${RES:-64}"; RW="${RENDER_WORKERS:-2}"
ARCH="${ARCH:-resnet_tiny}"; SIZE="${SIZE:-64}"
N=$((ITERS * BATCH))
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export SYNTHGEN_CACHE="$WORK/cache"
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
BIN=target/release/synthgen
SETS=(--set render.resolution="$RES" --set render.samples=16 --set "classes=[chair, table]"
  --set workers.count="$RW")
TRAIN=(--arch "$ARCH" --image-size "$SIZE" --aug strong --batch-size "$BATCH" --iters "$ITERS"
  --device "$DEVICE" --eval-every 100000)
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $N images at $RES px"
t0=$(date +%s.%N)
"$BIN" render --preset demo --out "$WORK/data" --per-class $((N / 2)) "${SETS[@]}" >/dev/null 2>&1
t1=$(date +%s.%N)
"$BIN" train --train "$WORK/data" --out "$WORK/folder" "${TRAIN[@]}" >/dev/null 2>&1
t2=$(date +%s.%N)
"$BIN" train --stream demo "${SETS[@]}" --out "$WORK/stream" "${TRAIN[@]}" >/dev/null 2>&1
t3=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" "$t3" "$N" "$WORK/stream/summary.json" <<'PY'
import json, sys
t0, t1, t2, t3, n = map(float, sys.argv[1:6])
s = json.load(open(sys.argv[6]))["stream"]
print(f"render-then-train: render {t1-t0:.1f} s + train {t2-t1:.1f} s = {t2-t0:.1f} s, {n/(t2-t0):.2f} images/s")
print(f"streamed:          {t3-t2:.1f} s, {n/(t3-t2):.2f} images/s; render {s['render_per_second']:.2f} img/s, "
      f"trainer waits {100*s['consumer_wait_share']:.0f}%, workers wait {100*s['worker_wait_share']:.0f}%")
PY
