#!/usr/bin/env bash
# Adds up cargo's per-binary "test result:" lines into one closing line.
log=${1:?usage: test-summary.sh <cargo test log>}
awk '/^test result:/ {
  for (i = 1; i <= NF; i++) {
    if ($(i) ~ /^passed;?$/) p += $(i-1);
    if ($(i) ~ /^failed;?$/) f += $(i-1);
    if ($(i) ~ /^ignored;?$/) s += $(i-1);
  }
} END { printf "summary: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
