#!/usr/bin/env bash
# libtorch's thread policy on a busy machine, side by side in one run: `synthgen train`
# (resnet_tiny, 64 px, batch 64, no augmentation, CPU) beside 0, 1 and 2 other busy processes
# (shell busy loops, each bounded by `timeout`), under each policy:
#   default        synthgen's own policy (no thread variables set)
#   omp1, omp2     OMP_NUM_THREADS=1 / 2 (fixed teams)
#   passive        OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep instead of spinning)
#   spin0          GOMP_SPINCOUNT=0
# Policies are interleaved within each repetition so that drifting load hits all alike.
# Then `train --stream` (Blender workers render while libtorch trains on the same cores):
# default against omp1 and omp2, wall seconds for the same images, after one warm-up run
# (the first stream run fills the asset cache), interleaved over STREAM_REPS repetitions.
# Usage: bench/threads.sh; env ITERS (20), REPS (3), BUSY ("0 1 2"; "" skips the table),
# POLICIES, STREAM (1), STREAM_ITERS (12), STREAM_REPS (2), NO_BUILD=1 uses the existing
# binary, SYNTHGEN_BIN another one.
# Prints one line per run and a table of median images/s with the best fixed count's rate
# (omp1 or omp2, same condition) divided by the default's: at most 1.25 is the target.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS="${ITERS:-20}"
REPS="${REPS:-3}"
BUSY_LEVELS="${BUSY-0 1 2}"
POLICIES="${POLICIES:-default omp1 omp2 passive spin0}"
STREAM="${STREAM:-1}"
STREAM_ITERS="${STREAM_ITERS:-12}"
STREAM_REPS="${STREAM_REPS:-2}"
WORK="$(mktemp -d)"
BUSY_PIDS=()
stop_busy() {
  for p in "${BUSY_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${BUSY_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  BUSY_PIDS=()
}
trap 'stop_busy; rm -rf "$WORK"' EXIT
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
BIN="${SYNTHGEN_BIN:-target/release/synthgen}"
PY="${SYNTHGEN_TORCH_VENV:-.venv-torch}/bin/python"

# 4 classes x 64 smooth 72 px PNGs (decode is cheap next to the step, as with rendered data).
"$PY" - "$WORK/data" <<'PY'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
for c in range(4):
    d = Path(sys.argv[1]) / f"class{c}"
    d.mkdir(parents=True)
    for i in range(64):
        small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
        Image.fromarray(small).resize((72, 72), Image.BILINEAR).save(d / f"{i:03d}.png")
PY

policy_env() {
  case "$1" in
    default) echo "" ;;
    omp1) echo "OMP_NUM_THREADS=1" ;;
    omp2) echo "OMP_NUM_THREADS=2" ;;
    passive) echo "OMP_WAIT_POLICY=PASSIVE" ;;
    spin0) echo "GOMP_SPINCOUNT=0" ;;
    *) echo "unknown policy $1" >&2; exit 2 ;;
  esac
}

start_busy() {
  for _ in $(seq 1 "$1"); do
    timeout 1800 sh -c 'while :; do :; done' &
    BUSY_PIDS+=($!)
  done
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# train resnet_tiny 64 px batch 64, $ITERS steps, $REPS repetitions"
RESULTS="$WORK/results.txt"
for busy in $BUSY_LEVELS; do
  start_busy "$busy"
  sleep 1
  for rep in $(seq 1 "$REPS"); do
    for policy in $POLICIES; do
      out="$WORK/run-$busy-$policy-$rep"
      env -u OMP_NUM_THREADS -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT $(policy_env "$policy") \
        "$BIN" train --train "$WORK/data" --arch resnet_tiny --image-size 64 --batch-size 64 \
        --iters "$ITERS" --aug none --device cpu --eval-every 100000 --out "$out" \
        >"$out.log" 2>&1 || { echo "run failed: $out.log" >&2; cat "$out.log" >&2; exit 1; }
      ips=$(grep -m1 '"images_per_second"' "$out/summary.json" | tr -dc '0-9.')
      echo "busy $busy rep $rep $policy: $ips img/s (load $(cut -d' ' -f1 /proc/loadavg))"
      echo "$busy $policy $ips" >>"$RESULTS"
      rm -rf "$out"
    done
  done
  stop_busy
done

[ -s "$RESULTS" ] && python3 - "$RESULTS" "$POLICIES" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
policies = sys.argv[2].split()
busy_levels = sorted({int(r[0]) for r in rows})
med = {(b, p): statistics.median(float(r[2]) for r in rows if int(r[0]) == b and r[1] == p)
       for b in busy_levels for p in policies}
print("\n| other busy processes | " + " | ".join(policies) + " | best fixed / default |")
print("|---" * (len(policies) + 2) + "|")
for b in busy_levels:
    fixed = [med[(b, p)] for p in ("omp1", "omp2") if (b, p) in med]
    ratio = f"{max(fixed) / med[(b, 'default')]:.2f}" if fixed and (b, "default") in med else "-"
    print(f"| {b} | " + " | ".join(f"{med[(b, p)]:.0f}" for p in policies) + f" | {ratio} |")
PY

[ "$STREAM" = 1 ] || exit 0
echo
echo "# train --stream demo: resnet_tiny 64 px, batch 8, $STREAM_ITERS steps, 2 render workers at 64 px, 16 samples; load $(cut -d' ' -f1-3 /proc/loadavg)"
export SYNTHGEN_CACHE="$WORK/cache"
for run in warmup $(for r in $(seq 1 "$STREAM_REPS"); do echo default omp1 omp2; done); do
  policy=${run/warmup/default}
  out="$WORK/stream-$run"
  rm -rf "$out"
  t0=$(date +%s.%N)
  env -u OMP_NUM_THREADS -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT $(policy_env "$policy") \
    "$BIN" train --stream demo --set render.resolution=64 --set render.samples=16 \
    --set "classes=[chair, table]" --set workers.count=2 --arch resnet_tiny --image-size 64 \
    --aug none --batch-size 8 --iters "$STREAM_ITERS" --device cpu --eval-every 100000 \
    --out "$out" >"$out.log" 2>&1 || { echo "stream run failed: $out.log" >&2; cat "$out.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  python3 - "$run" "$t0" "$t1" "$out/summary.json" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
policy, t0, t1, path, load = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
s = json.load(open(path))
st = s.get("stream") or {}
print(f"stream {policy}: {t1 - t0:.1f} s wall, train {s['images_per_second']:.1f} img/s, "
      f"render {st.get('render_per_second', float('nan')):.2f} img/s, trainer waits "
      f"{100 * st.get('consumer_wait_share', float('nan')):.0f}% (load {load})")
PY
done
