#!/usr/bin/env bash
# The float-sensitive tests a second time with the CPU's instruction sets forced lower, as on
# an older or different CPU: libtorch's ATen kernels at their portable level, oneDNN's
# convolutions at SSE4.1, Cycles without its AVX2 kernel. `make test` runs this after the full
# suite, so a test that holds only on the CPU it was written on fails here, on any machine.
# Usage: scripts/test-levels.sh [cargo test args...]; env TEST_LEVEL overrides the forced
# levels (a space-separated VAR=VALUE list). Output is cargo's; exit status is cargo's.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/cargo-env.sh
LEVEL="${TEST_LEVEL:-ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 CYCLES_CPU_NO_AVX2=1}"
# Tests whose assertions rest on float results of libtorch (parity with PyTorch, features of
# a trained checkpoint). TEST_LEVEL_ALL=1 adds the slow statistical ones (adapt_shift took 22
# min at this level on a 2-core VM at load 15-22; the fit tests, whose pixels come from
# Cycles): their margins at this level are in docs/DETERMINISM.md.
TESTS=(parity_methods parity_models fit_features)
if [ -n "${TEST_LEVEL_ALL:-}" ]; then TESTS+=(adapt_shift fit_per_class fit_planted); fi
args=()
for t in "${TESTS[@]}"; do args+=(--test "$t"); done
echo "test-levels: ${TESTS[*]} with $LEVEL"
# shellcheck disable=SC2086
env $LEVEL OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" ${CARGO:-cargo} test --release --no-fail-fast \
  "${args[@]}" "$@"
