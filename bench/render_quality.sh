#!/usr/bin/env bash
# Render cost and quality per Cycles setting (issue 11, deliverable 2): the same scenes under
# each `render.*` setting of the preset, interleaved over rounds, against a high-sample
# reference of those scenes. Prints a Markdown table (see bench/render_quality.py).
# Usage: bench/render_quality.sh [RES] [SPP] [REF_SPP] [PER_CLASS] [ROUNDS]
# BENCH_CLASSES picks the classes (default: the overhead benchmark's few-model classes, so
# consecutive images share a model as in a full-size run). Python: .venv-torch (numpy, Pillow).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
res="${1:-128}"; spp="${2:-16}"; ref_spp="${3:-512}"; per_class="${4:-4}"; rounds="${5:-3}"
classes="${BENCH_CLASSES:-guitar,piano,skateboard,train}"
work="$(mktemp -d "${TMPDIR:-/tmp}/synthgen-quality-XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "$(date -u +%FT%TZ) $(nproc) cores, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
"${SYNTHGEN_TORCH_VENV:-$repo/.venv-torch}/bin/python" "$repo/bench/render_quality.py" "${SYNTHGEN_BIN:-$repo/target/release/synthgen}" "$work" \
  "$res" "$spp" "$ref_spp" "$per_class" "$classes" "$rounds"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
