#!/usr/bin/env bash
# Loader throughput per core: synthgen's decode + strong augmentation from an ImageFolder and
# from WebDataset shards, and a PyTorch DataLoader over the same shards with the PyPI
# `webdataset` package and torchvision's version of the same transforms, at 64/128/224 px.
# Usage: bench/loader.sh [per class (default 30: 300 images of 320 x 240)]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cargo-env.sh
per_class=${1:-30}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1
echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(uptime)"
cargo bench --bench train_loader -- write-data "$dir/folder" "$per_class" >/dev/null
cargo bench --bench train_loader -- shards "$dir/folder" "$dir/shards"
n=$((per_class * 10))
last=$(( (n + 99) / 100 - 1 ))
"${SYNTHGEN_TORCH_VENV:-.venv-torch}/bin/python" bench/wds_loader.py \
  "$dir/shards/bench-{000000..$(printf %06d "$last")}.tar" "$n"
