#!/usr/bin/env bash
# Lists Rust functions longer than N lines (default 120) outside tests, longest first:
#   scripts/long_functions.sh [N]
# A function runs from its `fn` line to the line where its braces close; items inside
# `#[cfg(test)]` modules and files under tests/ are skipped.
set -euo pipefail
limit="${1:-120}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
find src -name '*.rs' ! -name '*tests.rs' -print0 | sort -z | xargs -0 awk -v limit="$limit" '
FNR == 1 { depth = 0; intest = 0; infn = 0; testdepth = -1 }
{
    line = $0
    sub(/\/\/.*$/, "", line)
    if (line ~ /#\[cfg\(test\)\]/) pendingtest = 1
    if (!infn && !intest && match(line, /(^|[^a-zA-Z_])fn [a-zA-Z_][a-zA-Z0-9_]*/)) {
        name = substr(line, RSTART, RLENGTH); sub(/^[^f]*fn /, "", name)
        infn = 1; start = FNR; fndepth = depth; opened = 0
    }
    n = gsub(/\{/, "{", line); m = gsub(/\}/, "}", line)
    if (pendingtest && n > 0) { intest = 1; testdepth = depth; pendingtest = 0 }
    if (infn && n > 0) opened = 1
    depth += n - m
    if (infn && opened && depth <= fndepth) {
        len = FNR - start + 1
        if (len > limit) printf "%5d %s:%d %s\n", len, FILENAME, start, name
        infn = 0
    } else if (infn && !opened && line ~ /;[[:space:]]*$/) {
        infn = 0
    }
    if (intest && depth <= testdepth) { intest = 0; testdepth = -1 }
}' | sort -rn
