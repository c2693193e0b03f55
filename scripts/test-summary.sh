#!/usr/bin/env bash
# Adds up cargo's per-binary "test result:" lines into one closing line, named by the optional
# label (e.g. the forced CPU levels of scripts/test-levels.sh).
log=${1:?usage: test-summary.sh <cargo test log> [label]}
label=${2:+ $2}
awk -v label="$label" '/^test result:/ {
  for (i = 1; i <= NF; i++) {
    if ($(i) ~ /^passed;?$/) p += $(i-1);
    if ($(i) ~ /^failed;?$/) f += $(i-1);
    if ($(i) ~ /^ignored;?$/) s += $(i-1);
  }
} END { printf "summary%s: %d passed, %d failed, %d skipped\n", label, p, f, s }' "$log"
