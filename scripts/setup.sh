#!/usr/bin/env bash
# Idempotent setup in two parts; every step checks first and does nothing when its result is
# already there.
#   scripts/setup.sh demo   what `make demo` needs: Debian runtime libraries, furniture models,
#                           fonts and photos, and one Python 3.11 venv with bpy and the libtorch
#                           set that tch links (plus the CUDA libraries when an NVIDIA driver
#                           is found).
#   scripts/setup.sh test   the rest, for `make test` and bench/: Chromium, Slurm + munge, and
#                           the full PyTorch venv used by the parity tests and benchmarks.
#   scripts/setup.sh        both (`make setup`).
# To add a package, add it to the list of the part that needs it below.
set -euo pipefail
cd "$(dirname "$0")/.."

PART=${1:-all}
case "$PART" in demo | test | all) ;; *)
  echo "usage: scripts/setup.sh [demo|test|all]" >&2
  exit 2
  ;;
esac

# --- demo part -------------------------------------------------------------------------------
APT_DEMO=(libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libice6 libxext6
  libgl1 libglx0 libglvnd0 libxcb1 libbsd0 libegl1 libegl-mesa0 libgl1-mesa-dri
  sweethome3d-furniture fonts-dejavu-core mate-backgrounds lomiri-wallpapers)
VENV=${SYNTHGEN_VENV:-.venv}
BPY_VERSION=5.0.1
# tch links libtorch_cpu; the two CUDA runtime libraries are what libtorch_cpu itself needs
# to load (no GPU required). On a machine with an NVIDIA driver the rest of torch's CUDA
# dependencies (read from torch's own METADATA) are added, see install_cuda_libraries.
TORCH_VERSION=2.11.0
TORCH_SET=(torch==$TORCH_VERSION nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85)

# --- test part -------------------------------------------------------------------------------
APT_TEST=(chromium slurm-wlm munge)
# Full PyTorch + torchvision (the wheels with their dependencies) in a venv of their own, for
# the parity tests against PyTorch and the benchmarks only.
TORCH_VENV=${SYNTHGEN_TORCH_VENV:-.venv-torch}
TORCH_VENV_SET=(torch==$TORCH_VERSION torchvision==0.26.0 safetensors==0.8.0 numpy pillow webdataset==1.0.2 wids==0.1.11)
# Import names that must be found in the PyTorch venv (extend with TORCH_VENV_SET).
TORCH_VENV_IMPORTS=(torch torchvision safetensors numpy PIL webdataset wids)

PIP_FLAGS=(-q --disable-pip-version-check)
START=$SECONDS
say() { printf 'setup: %s\n' "$*"; }
# Runs "$@" and says how long it took (setup's minutes are reported by step).
timed() {
  local what=$1 t0=$SECONDS
  shift
  "$@"
  say "$what: $((SECONDS - t0)) s"
}

apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo="" t0=$SECONDS
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "Debian packages: $((SECONDS - t0)) s"
}

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
make_venv() {
  [ -x "$1/bin/python" ] && return 0
  say "creating the Python venv in $1"
  "$PY" -m venv "$1"
}

# Is an NVIDIA driver loaded on this machine?
nvidia_driver() {
  [ -e /proc/driver/nvidia/version ] || { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }
}

# torch's CUDA dependencies as its METADATA states them (cuda-toolkit[...], nvidia-*), with
# their environment markers dropped; one per line.
torch_cuda_requirements() {
  "$VENV/bin/python" - <<'EOF'
import importlib.metadata as m
for r in m.requires("torch") or []:
    req, _, marker = r.partition(";")
    name = req.strip().lower()
    if "extra ==" in marker:
        continue
    if name.startswith(("cuda-toolkit", "nvidia-")):
        print(req.strip())
EOF
}

install_cuda_libraries() {
  nvidia_driver || return 0
  local reqs marker="$VENV/.cuda-libraries"
  mapfile -t reqs < <(torch_cuda_requirements)
  ((${#reqs[@]})) || return 0
  [ -f "$marker" ] && [ "$(cat "$marker")" = "${reqs[*]}" ] && return 0
  say "NVIDIA driver found: installing torch's CUDA libraries (${reqs[*]}; a few GB)"
  timed "CUDA libraries" "$VENV/bin/pip" install "${PIP_FLAGS[@]}" "${reqs[@]}"
  printf '%s' "${reqs[*]}" >"$marker"
}

setup_demo() {
  apt_install "${APT_DEMO[@]}"
  make_venv "$VENV"
  "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "bpy 5.0.1 needs CPython 3.11"'
  local want_bpy=1 want_torch=1 pids=()
  "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('bpy') == '$BPY_VERSION'" 2>/dev/null && want_bpy=0
  [ -f "$VENV/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so" ] && want_torch=0
  # The two downloads (bpy ~360 MB, the libtorch set ~900 MB) run side by side: pip keeps one
  # connection at a time, which leaves most of the bandwidth unused.
  if ((want_bpy)); then
    say "installing bpy==$BPY_VERSION (about 360 MB)"
    timed "bpy" "$VENV/bin/pip" install "${PIP_FLAGS[@]}" "bpy==$BPY_VERSION" &
    pids+=($!)
  fi
  if ((want_torch)); then
    say "installing the libtorch set for tch (${TORCH_SET[*]})"
    timed "libtorch set" "$VENV/bin/pip" install "${PIP_FLAGS[@]}" --no-deps "${TORCH_SET[@]}" &
    pids+=($!)
  fi
  local p failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  ((failed == 0)) || { say "a pip install failed (see above)"; exit 1; }
  install_cuda_libraries
}

torch_venv_ok() {
  "$TORCH_VENV/bin/python" - "$TORCH_VERSION" "${TORCH_VENV_IMPORTS[@]}" <<'EOF' 2>/dev/null
import importlib.metadata as m, importlib.util, sys
assert m.version("torch").split("+")[0] == sys.argv[1]
for name in sys.argv[2:]:
    assert importlib.util.find_spec(name), name
EOF
}

setup_test() {
  apt_install "${APT_TEST[@]}"
  if ! torch_venv_ok; then
    make_venv "$TORCH_VENV"
    say "installing ${TORCH_VENV_SET[*]} into $TORCH_VENV (a few GB)"
    timed "PyTorch venv" "$TORCH_VENV/bin/pip" install "${PIP_FLAGS[@]}" "${TORCH_VENV_SET[@]}"
  fi
}

case "$PART" in
demo) setup_demo ;;
test) setup_test ;;
all) setup_demo && setup_test ;;
esac
say "ok ($PART, $((SECONDS - START)) s)"
