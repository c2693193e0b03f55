#!/usr/bin/env bash
# Seconds to fit (descriptors + optimisation) with 10,000 target and 5,000 probe images, and
# descriptor throughput per core. Images are synthetic PNGs written once into a scratch folder
# (kept between runs; probe rendering is excluded from the figure by design).
# Usage: bench/fit_bench.sh [SCRATCH] [TARGET] [PROBE] [SIDE]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="${1:-${TMPDIR:-/tmp}/synthgen-fit-bench}"
cd "$repo"
cargo bench --bench fit_bench -- "$scratch" "${2:-10000}" "${3:-5000}" "${4:-128}"
