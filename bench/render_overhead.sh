#!/usr/bin/env bash
# Render benchmark (issue: render pipeline). For each setting it renders the same scenes three
# ways, side by side in one run:
#   synthgen   `synthgen render` with one worker: wall time per image
#   pure       the time inside bpy.ops.render.render for those images (manifest render_seconds)
#   fresh      one fresh Blender process per image (`python -m synthgen_blender <request>`) on
#              the first FRESH_N of the same requests (kept with --keep-requests)
# and prints a Markdown table: synthgen's overhead over pure render time, and its throughput
# against the fresh-process baseline.
# Usage: bench/render_overhead.sh [N_128] [N_224] [FRESH_N]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
n128="${1:-48}"; n224="${2:-24}"; fresh_n="${3:-6}"
bin="$repo/target/release/synthgen"
python="$repo/.venv/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/synthgen-bench-XXXXXX")"
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }

bench_one() { # resolution samples images
  local res=$1 spp=$2 n=$3 out="$work/ds_${1}" req="$work/req_${1}" fresh="$work/fresh_${1}"
  local per_class=$(( (n + 3) / 4 ))
  local t0 t1
  t0=$(now)
  "$bin" render --preset demo --out "$out" --per-class "$per_class" --workers 1 \
    --set render.resolution="$res" --set render.samples="$spp" --keep-requests "$req" >/dev/null 2>&1
  t1=$(now)
  mkdir -p "$fresh"
  local f0 f1
  f0=$(now)
  for r in $(ls "$req"/*.json | head -n "$fresh_n"); do
    # Each request is replayed as it is, with only its output moved out of the deleted work dir.
    "$python" -c 'import json,sys; q=json.load(open(sys.argv[1])); q["output"]=sys.argv[2]; json.dump(q,open(sys.argv[1],"w"))' \
      "$r" "$fresh/$(basename "$r" .json).png"
    (cd "$repo/blender_scripts" && "$python" -m synthgen_blender "$r" 2>/dev/null | tail -n 1) >>"$fresh/replies.jsonl"
  done
  f1=$(now)
  "$python" - "$out/manifest.jsonl" "$fresh/replies.jsonl" "$t0" "$t1" "$f0" "$f1" "$res" "$spp" <<'PY'
import json, sys
manifest, replies, t0, t1, f0, f1, res, spp = sys.argv[1:9]
recs = [json.loads(l) for l in open(manifest)]
reps = [json.loads(l) for l in open(replies)]
assert all(r["ok"] for r in reps), reps
n = len(recs)
wall = (float(t1) - float(t0)) / n
pure = sum(r["render_seconds"] for r in recs) / n
fresh = (float(f1) - float(f0)) / len(reps)
fresh_pure = sum(r["render_seconds"] for r in reps) / len(reps)
print(f"| {res} px / {spp} spp | {n} | {wall:.3f} s | {pure:.3f} s | {100 * (wall / pure - 1):.1f}% "
      f"| {fresh:.3f} s ({len(reps)} images; {fresh_pure:.3f} s rendering) | {fresh / wall:.2f}x |")
PY
}

echo "| setting | images | synthgen wall / image | pure render / image | overhead | fresh process / image | synthgen vs fresh |"
echo "|---|---|---|---|---|---|---|"
bench_one 128 16 "$n128"
bench_one 224 64 "$n224"
