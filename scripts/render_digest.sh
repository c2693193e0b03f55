#!/usr/bin/env bash
# Renders the demo and base presets at a fixed seed with a few images per class and prints the
# sha256 of every image and mask, so two builds can be compared byte for byte:
#   scripts/render_digest.sh [REPO] > digest.txt   (REPO: a checkout with a release build;
#                                                  default: this one)
# then `diff` two digests. It uses REPO's binary, presets and Blender scripts.
# Besides demo/ and base/ (digest of those lines alone: 23c0f6f0...aab7), hdri/ and hdri_top/
# are demo images whose backdrop is the HDRI projected through the camera (the world's own
# HDRI, so its rotation and strength apply; rolled cameras; straight-down views), which
# exercise src/scene/camera.rs and src/composite/hdri.rs. About 30 s in all.
set -euo pipefail
repo="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)"
bin="$repo/target/release/synthgen"
[ -x "$bin" ] || { echo "no release build at $bin; run cargo build --release in $repo" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
export SYNTHGEN_HOME="$repo"
"$bin" render --preset demo --seed 1 --per-class 3 --out "$out/demo" >&2
"$bin" render --preset base --seed 7 --per-class 2 --classes chair,table,lamp \
    --set render.resolution=96 --set render.samples=16 --workers 1 --out "$out/base" >&2
"$bin" render --preset demo --seed 3 --per-class 3 --set factors.background.kind=hdri \
    --set factors.light.world.kind=hdri --set 'factors.camera.roll={uniform: [-40, 40]}' \
    --out "$out/hdri" >&2
"$bin" render --preset demo --seed 5 --per-class 1 --set factors.background.kind=hdri \
    --set factors.camera.elevation=90 --set factors.camera.look_at_jitter=0 \
    --out "$out/hdri_top" >&2
cd "$out"
find demo base hdri hdri_top -type f \( -name '*.png' -o -name '*.jpg' \) -print0 | sort -z | xargs -0 sha256sum
