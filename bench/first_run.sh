#!/usr/bin/env bash
# A newcomer's first `make demo`, timed: a fresh clone of this branch with empty package and
# build caches (a new CARGO_HOME, a new target/, new venvs, pip without its cache), then
# `make demo` as the README says. setup.sh and the Makefile print each step's seconds (apt,
# bpy, the libtorch set, the release build, the render, the study); cargo's crate downloads
# are timed apart with `cargo fetch` first, so the build line is the compile alone.
# Debian packages already installed are not reinstalled (root's apt is the machine's);
# their download is timed apart into a scratch folder (DEMO packages only).
# Usage: bench/first_run.sh [BRANCH] (default: the current branch); env WORK (a scratch dir).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(git rev-parse --path-format=absolute --git-common-dir)
BRANCH=${1:-$(git rev-parse --abbrev-ref HEAD)}
WORK=${WORK:-$(mktemp -d /tmp/first-run.XXXXXX)}
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n) $(nproc) cores, branch $BRANCH at $(git rev-parse --short "$BRANCH"), in $WORK"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# apt: the demo's Debian packages downloaded again into a scratch cache (not installed).
mapfile -t apt_demo < <(sed -n '/^APT_DEMO=(/,/)/p' scripts/setup.sh | tr -d '()' | sed 's/APT_DEMO=//' | tr ' ' '\n' | grep -v '^$')
mkdir -p "$WORK/apt/partial"
t0=$SECONDS
apt-get install -qq --reinstall --download-only -o Dir::Cache::archives="$WORK/apt" "${apt_demo[@]}" >/dev/null
echo "apt download of the demo packages (${#apt_demo[@]}; installed here already): $((SECONDS - t0)) s, $(du -sh "$WORK/apt" | cut -f1)"
rm -rf "$WORK/apt"

git clone -q -b "$BRANCH" "$REPO" "$WORK/fresh"
cd "$WORK/fresh"
export CARGO_HOME="$WORK/cargo-home" PIP_NO_CACHE_DIR=1 PIP_FIND_LINKS=
unset CARGO_TARGET_DIR SYNTHGEN_VENV SYNTHGEN_TORCH_VENV
total0=$SECONDS
/usr/bin/time -f 'make demo: %e s wall, %U s user, %S s sys' make demo
echo "total: $((SECONDS - total0)) s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sizes: .venv $(du -sh .venv | cut -f1), target $(du -sh target | cut -f1), CARGO_HOME $(du -sh "$CARGO_HOME" | cut -f1)"
