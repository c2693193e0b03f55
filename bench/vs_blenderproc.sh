#!/usr/bin/env bash
# synthgen against BlenderProc 2.8.0 (PyPI) on its supported Blender (the PyPI bpy 4.2 wheel,
# in a venv of its own), side by side in one run: the same mesh (a Sweet Home 3D chair, in a
# ShapeNet-layout folder), the same camera, lamp, world and material distributions, resolution,
# samples, denoiser (Open Image Denoise) and threads, one material and lamp change per image,
# the same validation (coverage 2%..90%, at most 5% of the border; a rejected view is
# re-sampled). BlenderProc's side is bench/blenderproc_dr.py (its API run inside the venv).
# Then a bare Cycles render of the same mesh in both Blender versions (bench/bare_cycles.py),
# so the ratio of the pipelines can be told from that of the renderers.
# Prints kept images/s (whole process, start-up included, and after start-up) and CPU seconds
# (user + sys, the worker processes included) per kept image of each side, with the load.
# Usage: bench/vs_blenderproc.sh; env IMAGES (16), RES (224), SAMPLES (64), THREADS (nproc),
# BARE_IMAGES (6), BPROC_VENV (.venv-bproc; created when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=${IMAGES:-16}
RES=${RES:-224}
SAMPLES=${SAMPLES:-64}
THREADS=${THREADS:-$(nproc)}
BARE_IMAGES=${BARE_IMAGES:-6}
BPROC_VENV=${BPROC_VENV:-.venv-bproc}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
load() { cut -d' ' -f1 /proc/loadavg; }

if ! "$BPROC_VENV/bin/python" -c 'import importlib.metadata as m; assert m.version("blenderproc") == "2.8.0" and m.version("bpy").startswith("4.2.")' 2>/dev/null; then
  echo "installing BlenderProc 2.8.0 and bpy 4.2.0 into $BPROC_VENV"
  python3.11 -m venv "$BPROC_VENV"
  "$BPROC_VENV/bin/pip" install -q --disable-pip-version-check bpy==4.2.0 blenderproc==2.8.0
fi
bash scripts/setup.sh demo >/dev/null
source scripts/cargo-env.sh
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/synthgen

# The mesh: Kator Legaz's dining chair from Debian's sweethome3d-furniture, as ShapeNet v2.
SN=$WORK/ShapeNetCore
MODEL=$SN/03001627/sh3d_dining_chair/models
mkdir -p "$MODEL"
python3 - "$MODEL" <<'EOF'
import sys, zipfile
z = zipfile.ZipFile("/usr/share/sweethome3d/furniture/KatorLegaz.sh3f")
for ext in ("obj", "mtl"):
    data = z.read(f"katorlegaz/dining-chair/dining-chair.{ext}").decode()
    if ext == "obj":
        data = data.replace("dining-chair.mtl", "model_normalized.mtl")
    open(f"{sys.argv[1]}/model_normalized.{ext}", "w").write(data)
EOF
echo '[{"synsetId": "03001627", "name": "chair", "children": [], "numInstances": 1}]' >"$SN/taxonomy.json"
MESH=$MODEL/model_normalized.obj

# synthgen: the base preset narrowed to the distributions the BlenderProc script draws from.
cat >"$WORK/vs-blenderproc.yaml" <<EOF
name: vs-blenderproc
extends: base
seed: 1
catalog: shapenet
classes: [chair]
images_per_class: $IMAGES
render: {resolution: $RES, samples: $SAMPLES, denoise: true, threads: $THREADS}
workers: {count: 1}
output: {masks: false}
factors:
  scale: {size: 1}
  material: {keep_original_probability: 0, family: plastic}
  light: {count: 1, kind: point, world: {kind: uniform}}
  background: {kind: none}
EOF

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# $IMAGES kept images per side, ${RES} px, $SAMPLES samples, OIDN, $THREADS threads; mesh: Sweet Home 3D dining chair ($(grep -c '^f ' "$MESH") faces)"
# Runs "$@"; sets WALL and CPU (user + sys of it and its children).
timed() {
  /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$@" >"$WORK/stdout" 2>"$WORK/stderr" || {
    cat "$WORK/stderr" >&2
    return 1
  }
  read -r WALL u s <"$WORK/time"
  CPU=$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')
}
row() { # side kept renders wall cpu steady_seconds load
  printf '%-22s %5s %7s %8.1f %10.3f %12.3f %12.2f %s\n' "$1" "$2" "$3" "$4" \
    "$(awk -v n="$2" -v w="$4" 'BEGIN {print n / w}')" "$(awk -v n="$2" -v w="$6" 'BEGIN {print n / w}')" \
    "$(awk -v n="$2" -v c="$5" 'BEGIN {print c / n}')" "$7"
}
printf '%-22s %5s %7s %8s %10s %12s %12s %s\n' side kept renders wall_s kept_img/s steady_img/s cpu_s/img load_before

l=$(load)
timed "$BIN" render --preset "$WORK/vs-blenderproc.yaml" --shapenet "$SN" --out "$WORK/synthgen"
kept=$(find "$WORK/synthgen/chair" -name '*.png' | wc -l)
# Renders that reached Cycles (kept + rejected), and the run's seconds after its worker started.
read -r renders steady < <(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(s["images_total"] + sum(s["rejected_attempts"].values()), s["wall_seconds"] - s["seconds_outside_render"]["worker_start"])' "$WORK/synthgen/summary.json")
row "synthgen (bpy 5.0.1)" "$kept" "$renders" "$WALL" "$CPU" "$steady" "$l"
S_WALL=$WALL S_KEPT=$kept S_CPU=$CPU

l=$(load)
timed env BPROC_TEMP="$WORK/bproc-temp" "$BPROC_VENV/bin/python" bench/blenderproc_dr.py "$MESH" "$WORK/bproc" \
  "$IMAGES" "$RES" "$SAMPLES" "$THREADS" 1
summary=$(tail -1 "$WORK/stdout")
read -r kept renders steady < <(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(s["kept"], s["renders"], s["seconds"])' "$summary")
row "BlenderProc 2.8.0" "$kept" "$renders" "$WALL" "$CPU" "$steady" "$l"
echo "ratio synthgen / BlenderProc, kept images/s (whole process): $(awk -v a="$S_KEPT" -v aw="$S_WALL" -v b="$kept" -v bw="$WALL" 'BEGIN {printf "%.2f", (a / aw) / (b / bw)}');" \
  "CPU s per kept image BlenderProc / synthgen: $(awk -v a="$S_CPU" -v an="$S_KEPT" -v b="$CPU" -v bn="$kept" 'BEGIN {printf "%.2f", (b / bn) / (a / an)}')"

echo "# bare Cycles, the same mesh and settings, $BARE_IMAGES renders (median s/render, first one apart)"
for py in .venv/bin/python "$BPROC_VENV/bin/python"; do
  l=$(load)
  timed "$py" bench/bare_cycles.py "$MESH" "$WORK/bare" "$BARE_IMAGES" "$RES" "$SAMPLES" "$THREADS"
  python3 - "$(tail -1 "$WORK/stdout")" "$l" <<'EOF'
import json, statistics, sys
s = json.loads(sys.argv[1])
t = s["seconds"]
print(f"Blender {s['blender']:<8} first {t[0]:.2f} s, median of the rest {statistics.median(t[1:]):.3f} s/render, load before {sys.argv[2]}")
EOF
done
