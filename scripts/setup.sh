#!/usr/bin/env bash
# Idempotent setup: Debian packages, a Python 3.11 venv with bpy, the libtorch set for tch.
# Every step checks first and does nothing when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${SYNTHGEN_VENV:-.venv}
APT_PACKAGES=(libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libice6 libxext6
  libgl1 libglx0 libglvnd0 libxcb1 libbsd0 libegl1 libegl-mesa0 libgl1-mesa-dri
  sweethome3d-furniture fonts-dejavu-core chromium
  mate-backgrounds lomiri-wallpapers slurm-wlm munge)
BPY_VERSION=5.0.1
TORCH_SET=(torch==2.11.0 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85)

say() { printf 'setup: %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
  say "creating the Python venv in $VENV"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "bpy 5.0.1 needs CPython 3.11"'

if ! "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('bpy') == '$BPY_VERSION'" 2>/dev/null; then
  say "installing bpy==$BPY_VERSION (about 360 MB)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "bpy==$BPY_VERSION"
fi

if [ ! -f "$VENV/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so" ]; then
  say "installing the libtorch set for tch (${TORCH_SET[*]})"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "${TORCH_SET[@]}"
fi
# Full PyTorch + torchvision (the wheels with their dependencies, used on the CPU) in a venv of
# their own, for the parity tests against PyTorch and bench/train_vs_pytorch.sh only.
TORCH_VENV=${SYNTHGEN_TORCH_VENV:-.venv-torch}
TORCH_PARITY_SET=(torch==2.11.0 torchvision==0.26.0 safetensors==0.8.0 numpy pillow webdataset==1.0.2 wids==0.1.11)
if ! "$TORCH_VENV/bin/python" -c "import importlib.metadata as m, safetensors, numpy, PIL, webdataset, wids
assert m.version('torch').split('+')[0] == '2.11.0' and m.version('torchvision').split('+')[0] == '0.26.0'" 2>/dev/null; then
  [ -x "$TORCH_VENV/bin/python" ] || { say "creating the PyTorch venv in $TORCH_VENV"; "$PY" -m venv "$TORCH_VENV"; }
  say "installing ${TORCH_PARITY_SET[*]} into $TORCH_VENV (a few GB)"
  "$TORCH_VENV/bin/pip" install -q --disable-pip-version-check "${TORCH_PARITY_SET[@]}"
fi
say "ok"
