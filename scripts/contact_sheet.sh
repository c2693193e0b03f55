#!/usr/bin/env bash
# Contact sheets of a class's catalog models at one fixed view, from real renders: every model
# of each class once (the render's model rotation visits them in catalog order), original
# materials, scale 1, one sun, no background, at the camera of the factor-ablation mini's
# `camera_fixed` arm (camera location 1, azimuth 315: the front three-quarter view, as every
# Sweet Home 3D model faces -Y, azimuth 270, once its modelRotation is applied; AZIMUTH=...
# for another). One PNG per class, each tile labelled with its catalog key:
#   scripts/contact_sheet.sh OUT_DIR CLASS...      (e.g. docs/contact_sheets chair sofa)
# Renders are kept under target/contact_sheets/ (RENDERS=...) and reused. Needs a release build.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$repo/target/release/synthgen"
[ -x "$bin" ] || { echo "no release build at $bin; run cargo build --release" >&2; exit 2; }
[ $# -ge 2 ] || { echo "usage: $0 OUT_DIR CLASS..." >&2; exit 2; }
out="$(mkdir -p "$1" && cd "$1" && pwd)"; shift
azimuth="${AZIMUTH:-315}"
renders="${RENDERS:-$repo/target/contact_sheets}/az$azimuth"
mkdir -p "$renders"
export SYNTHGEN_HOME="$repo"
for class in "$@"; do
  if [ ! -f "$renders/$class/manifest.jsonl" ]; then
    # Models of the class (the refusal of an unknown class lists every class with its
    # count): that many images visit each model once.
    count="$("$bin" render --preset base --classes no_such_class --out "$renders/probe" 2>&1 \
        | grep -o "[ ,]$class ([0-9]*)" | grep -o "[0-9]*" | head -1 || true)"
    [ -n "$count" ] || { echo "could not count the models of $class" >&2; exit 2; }
    rm -rf "$renders/$class.partial"
    "$bin" render --preset base --classes "$class" --per-class "$count" --seed 1 --workers 2 \
      --out "$renders/$class.partial" --set split.use=all \
      --set render.resolution=128 --set render.samples=16 \
      --set factors.camera.distance=3.5 --set factors.camera.elevation=20 \
      --set "factors.camera.azimuth=$azimuth" --set factors.camera.roll=0 \
      --set factors.camera.look_at_jitter=0 --set factors.background.kind=none \
      --set factors.scale.size=1 --set factors.material.keep_original_probability=1 \
      --set factors.light.count=1 --set factors.light.kind=sun --set factors.light.elevation=50 \
      --set "factors.light.azimuth=$azimuth" --set factors.light.world.kind=uniform \
      --set validate.max_attempts=1 --set validate.min_coverage=0.005 >&2 || true   # a refused view leaves its tile out
    mv "$renders/$class.partial" "$renders/$class"
  fi
  "$repo/.venv-torch/bin/python" "$repo/scripts/contact_sheet.py" "$renders/$class" \
    "$out/$class.png" "$class" "$azimuth"
done
