# Sourced by the Makefile: the build and run environment that setup.sh prepared.
# (.cargo/config.toml sets the same for plain `cargo` calls inside the repo.)
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYO3_PYTHON="${PYO3_PYTHON:-$_root/.venv/bin/python}"
export LIBTORCH="${LIBTORCH:-$_root/.venv/lib/python3.11/site-packages/torch}"
unset _root
