#!/usr/bin/env bash
# Long-run memory: renders N tiny images (default 2000, 32 px, 4 samples, 1 worker that
# recycles every 500 jobs) and samples the resident memory (VmRSS) of the parent and of its
# worker processes every 2 s into SCRATCH/rss.csv, then prints the run's recycle/restart
# summary and, per process, its RSS range after warm-up (bench/rss_summary.py).
# Usage: bench/rss_bench.sh [SCRATCH=/tmp/synthgen_rss] [N=2000]
set -euo pipefail
SCRATCH=${1:-/tmp/synthgen_rss}
N=${2:-2000}
BIN=${SYNTHGEN_BIN:-target/release/synthgen}
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
PER_CLASS=$(( (N + 1) / 2 ))
"$BIN" render --preset demo --classes chair,table --per-class "$PER_CLASS" \
    --out "$SCRATCH/ds" --set render.resolution=32 --set render.samples=4 \
    --set render.denoise=false --set validate.min_coverage=0.005 --workers 1 \
    >"$SCRATCH/render.log" 2>&1 &
PARENT=$!
echo "t_s,kind,pid,rss_kib,images" >"$SCRATCH/rss.csv"
START=$(date +%s)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
while kill -0 "$PARENT" 2>/dev/null; do
    T=$(( $(date +%s) - START ))
    IMAGES=$(cat "$SCRATCH/ds/manifest.jsonl" 2>/dev/null | wc -l)
    R=$(rss "$PARENT"); [ -n "$R" ] && echo "$T,parent,$PARENT,$R,$IMAGES" >>"$SCRATCH/rss.csv"
    for W in $(cat /proc/"$PARENT"/task/*/children 2>/dev/null); do
        R=$(rss "$W"); [ -n "$R" ] && echo "$T,worker,$W,$R,$IMAGES" >>"$SCRATCH/rss.csv"
    done
    sleep 2
done
wait "$PARENT" || echo "render exited with $?"
tail -6 "$SCRATCH/render.log"
python3 "$(dirname "$0")/rss_summary.py" "$SCRATCH/rss.csv"
