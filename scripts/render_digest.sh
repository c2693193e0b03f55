#!/usr/bin/env bash
# Renders the demo and base presets at a fixed seed with a few images per class and prints the
# sha256 of every image and mask, so two builds can be compared byte for byte:
#   scripts/render_digest.sh [REPO] > digest.txt   (REPO: a checkout with a release build;
#                                                  default: this one)
# then `diff` two digests. It uses REPO's binary, presets and Blender scripts.
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
cd "$out"
find demo base -type f \( -name '*.png' -o -name '*.jpg' \) -print0 | sort -z | xargs -0 sha256sum
