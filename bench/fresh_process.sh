#!/usr/bin/env bash
# Baseline "one fresh Blender process per image": N renders of MODEL.obj via
# `python -m synthgen_blender request.json`, printing the mean wall time per image and the mean
# render_seconds the replies report (their difference is process start + bpy import + load).
# Usage: bench/fresh_process.sh [MODEL.obj] [N] [RESOLUTION] [SAMPLES]
# Compare with: .venv/bin/python blender_scripts/tests/bench_worker.py MODEL.obj
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
model="${1:-$repo/blender_scripts/tests/data/cube.obj}"
count="${2:-5}"
resolution="${3:-128}"
samples="${4:-16}"
python="$repo/.venv/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/synthgen-fresh-XXXXXX")"
trap 'rm -rf "$work"' EXIT
export PYTHONPATH="$repo/blender_scripts:$repo/blender_scripts/tests"

# Request files first (not timed), built by the same helper as the checks.
"$python" - "$model" "$count" "$resolution" "$samples" "$work" <<'PY'
import json, sys
from request_builders import model_ref, render_request
model, count, resolution, samples, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
for i in range(count):
    request = render_request(model_ref(model), f"{work}/img_{i}.png", f"f{i}", resolution=resolution,
                             samples=samples, seed=i, camera__azimuth_deg=37.0 * i)
    with open(f"{work}/req_{i}.json", "w") as handle:
        json.dump(request, handle)
PY

start=$(date +%s.%N)
for ((i = 0; i < count; i++)); do
  "$python" -m synthgen_blender "$work/req_$i.json" 2>/dev/null | tail -n 1 >>"$work/replies.jsonl"
done
end=$(date +%s.%N)

"$python" - "$work/replies.jsonl" "$start" "$end" "$count" "$resolution" "$samples" <<'PY'
import json, sys
path, start, end, count, res, spp = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
replies = [json.loads(line) for line in open(path)]
assert len(replies) == count and all(r["ok"] for r in replies), replies
render = sum(r["render_seconds"] for r in replies) / count
load = sum(r["load_seconds"] for r in replies) / count
wall = (end - start) / count
print(f"fresh process per image, {res}px/{spp}spp, {count} images: total {wall:.3f} s/image, "
      f"render {render:.3f} s, load {load:.3f} s, process start + bpy import + setup "
      f"{wall - render - load:.3f} s")
PY
