#!/usr/bin/env bash
# Render benchmark (issue: render pipeline). For each setting it renders the same scenes three
# ways, side by side in one run:
#   synthgen   `synthgen render` with one worker: wall time per image
#   pure       the time inside bpy.ops.render.render for those images (manifest render_seconds)
#   fresh      one fresh Blender process per image (`python -m synthgen_blender <request>`) on
#              the first FRESH_N of the same requests (kept with --keep-requests)
# and prints a Markdown table: synthgen's overhead over pure render time, its throughput
# against the fresh-process baseline, the share of renders that validation threw away, and
# the views re-sampled before rendering because their predicted mask broke a threshold.
# The default classes have one or two models each, so a worker keeps its model loaded across
# views, as it does in a full-size run (12,000 images per class over a few hundred models);
# BENCH_CLASSES=chair,table,... measures the other extreme (a new model almost every image).
# BENCH_WORKERS=2 runs synthgen with two workers (the fresh baseline stays one process at a
# time); the last column splits synthgen's time outside the render call by phase (summary.json
# `seconds_outside_render`, summed over workers, per render).
# Usage: bench/render_overhead.sh [N_128] [N_224] [FRESH_N]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
n128="${1:-48}"; n224="${2:-24}"; fresh_n="${3:-6}"
classes="${BENCH_CLASSES:-guitar,piano,skateboard,train}"
workers="${BENCH_WORKERS:-1}"
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
  "$bin" render --preset demo --out "$out" --per-class "$per_class" --workers "$workers" --classes "$classes" \
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
  "$python" - "$out/summary.json" "$fresh/replies.jsonl" "$t0" "$t1" "$f0" "$f1" "$res" "$spp" <<'PY'
import json, sys
summary, replies, t0, t1, f0, f1, res, spp = sys.argv[1:9]
s = json.load(open(summary))
reps = [json.loads(l) for l in open(replies)]
assert all(r["ok"] for r in reps), reps
n = s["images_total"]
renders = n + sum(s["rejected_attempts"].values())
wall = float(t1) - float(t0)
pure = (s["render_seconds"] + s["rejected_render_seconds"]) / s["workers"]
fresh = (float(f1) - float(f0)) / len(reps)
fresh_pure = sum(r["render_seconds"] for r in reps) / len(reps)
rejected = renders - n
predicted = sum(s.get("predicted_rejections", {}).values())
phases = dict(s.get("seconds_outside_render", {}), worker_setup=s["setup_seconds"], model_load=s["load_seconds"])
top = sorted(phases.items(), key=lambda kv: -kv[1])[:4]
split = ", ".join(f"{k} {1000 * v / renders:.0f}" for k, v in top)
print(f"| {res} px / {spp} spp | {n} ({renders} renders) | {wall / renders:.3f} s | {pure / renders:.3f} s "
      f"| {100 * (wall / pure - 1):.1f}% | {fresh:.3f} s ({len(reps)} images; {fresh_pure:.3f} s rendering) "
      f"| {fresh / (wall / renders):.2f}x | {s['model_reuses']}/{n} "
      f"| {rejected} ({100 * rejected / renders:.1f}%) | {predicted} | {split} |")
PY
}

echo "| setting | images | synthgen wall / render | pure render / render | overhead | fresh process / image | synthgen throughput vs fresh | model reused | rejected renders | views re-sampled before rendering | largest phases outside the render, ms / render |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
bench_one 128 16 "$n128"
bench_one 224 64 "$n224"
