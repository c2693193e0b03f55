#!/usr/bin/env bash
# Scale without a cluster: a synthetic layout of SAMPLES tiny samples in shards of 1,000 over
# 10 `--shard I/10` task folders (bench/scale_layout.py, records templated from a real manifest
# line), then `merge` (index + combined manifest), `validate`, one loader epoch and the
# random-access list that `adapt` builds over shards, each under
# /usr/bin/time -v (wall time, max RSS). Run it at 100000 and 1000000 and compare.
# Usage: bench/scale.sh SAMPLES TEMPLATE_DIR (a webdataset render's --out, for its manifest
# line and preset.yaml) [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
samples=$1 template=$2 work=${3:-$(mktemp -d)}
py=${SYNTHGEN_TORCH_VENV:-.venv-torch}/bin/python
bin=target/release/synthgen
echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(uptime)"
[ -d "$work/task1" ] || "$py" bench/scale_layout.py "$work" "$samples" 10 1000 "$template/manifest.jsonl" "$template/preset.yaml"
rm -rf "$work/merged"
measure() { /usr/bin/time -v "$@" 2> "$work/time.txt" | tail -n 2; grep -E "Elapsed|Maximum resident" "$work/time.txt"; }
echo "== merge";    measure "$bin" merge "$work"/task{1..10} --out "$work/merged"
echo "== validate"; measure "$bin" validate "$work/merged"
echo "== loader epoch"
source scripts/cargo-env.sh
cargo bench --bench train_loader -- epoch "$work/merged/wids-index.json" >/dev/null 2>&1 || true
measure cargo bench --bench train_loader -- epoch "$work/merged/wids-index.json"
echo "== random-access list"
cargo bench --bench train_loader -- list "$work/merged/wids-index.json" >/dev/null 2>&1 || true
measure cargo bench --bench train_loader -- list "$work/merged/wids-index.json"
