#!/usr/bin/env bash
# The GPU check, one prepared script that a lent GPU machine runs as it is (every step has a
# time limit; on a lent machine, which has no bpy, all of them together are 7.5 minutes):
#   1. what the machine has: driver, GPU, the PyTorch and the synthgen binary found;
#   2. what synthgen says at start-up: the torch device (train) and the Cycles devices that the
#      bpy wheel sees (render);
#   3. with a GPU: Cycles CPU vs GPU on the same scenes (images/s, PSNR of each pair), when bpy
#      5.0.1 is there (it needs the .venv: Python 3.11 + the 360 MB wheel);
#   4. with a GPU: `synthgen train` vs PyTorch eager on CUDA, ResNet-50, 224 px, bf16 autocast,
#      the same images, steps and batch (bench/pytorch_train.py is the PyTorch side);
#   5. with a GPU: a 1-rank NCCL data-parallel smoke run, when the binary has data parallelism.
# Every result line goes to RESULT_DIR/gpu_check.txt (and to stdout). Without a GPU it says so,
# checks what it can (binary, start-up report, PyTorch) and exits 0. A check that cannot run
# says why and the script goes on.
#
# Usage: bench/gpu_check.sh [RESULT_DIR]   (default: $OUT when set, else out/gpu-check)
#        bench/gpu_check.sh --prepare      (on the build machine: fill .gpu-carry/ for a machine
#                                           without the venv, see below)
# What it finds, in order: the binary at ${CARGO_TARGET_DIR:-target}/release/synthgen, else
# .gpu-carry/synthgen; PyTorch in ${SYNTHGEN_TORCH_VENV:-.venv-torch}, else python3. The lent
# machines have PyTorch 2.11 (CUDA 13) in python3 but no internet and take at most 64 MiB along,
# so the 2 GB .venv cannot travel: `--prepare` copies the stripped binary and the libpython it
# links into .gpu-carry/ (about 30 MB), and the check then runs the binary on that machine's own
# libtorch 2.11 (LD_LIBRARY_PATH). Carry it with the device tool's `carry: [".gpu-carry"]`.
# Env: GPU_CHECK_ITERS (40), GPU_CHECK_BATCH (64), GPU_CHECK_IMAGES (8 per device, render).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARRY=$ROOT/.gpu-carry

if [ "${1:-}" = "--prepare" ]; then
  set -e
  source scripts/cargo-env.sh
  cargo build --release --quiet
  mkdir -p "$CARRY"
  BIN=${CARGO_TARGET_DIR:-target}/release/synthgen
  strip -o "$CARRY/synthgen" "$BIN"
  libpy=$(ldd "$BIN" | awk '/libpython3/ {print $3}')
  [ -n "$libpy" ] && strip -o "$CARRY/$(basename "$libpy")" "$libpy"
  du -sh "$CARRY"
  echo "prepared $CARRY: run bench/gpu_check.sh there with it carried"
  exit 0
fi

RESULT_DIR=${1:-${OUT:-out/gpu-check}}
mkdir -p "$RESULT_DIR"
RESULT=$(cd "$RESULT_DIR" && pwd)/gpu_check.txt
: >"$RESULT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ITERS=${GPU_CHECK_ITERS:-40}
BATCH=${GPU_CHECK_BATCH:-64}
IMAGES=${GPU_CHECK_IMAGES:-8}
T0=$SECONDS
say() { echo "$*" | tee -a "$RESULT"; }
section() { say ""; say "## $* ($((SECONDS - T0)) s)"; }

say "# synthgen GPU check, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "# commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

section "machine"
GPU=0
if [ -e /proc/driver/nvidia/version ] || nvidia-smi -L >/dev/null 2>&1; then
  if nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    GPU=1
    say "NVIDIA driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"
    nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | sed 's/^/GPU /' | tee -a "$RESULT"
  else
    say "an NVIDIA driver is loaded but nvidia-smi lists no GPU"
  fi
fi
((GPU)) || say "no NVIDIA GPU on this machine (no /proc/driver/nvidia, or nvidia-smi lists none): the GPU checks are skipped; checking what runs without one"

# PyTorch (with torchvision) for the eager side and the pixel comparison.
PY=""
for p in "${SYNTHGEN_TORCH_VENV:-$ROOT/.venv-torch}/bin/python" python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import torch, torchvision, numpy, PIL' 2>/dev/null; then
    PY=$p
    break
  fi
done
if [ -n "$PY" ]; then
  say "PyTorch: $PY: $("$PY" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda available:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1 | tail -1)"
else
  say "PyTorch: no Python with torch + torchvision + numpy + PIL found (.venv-torch or python3): the PyTorch side is skipped"
fi

# The synthgen binary, and the libraries it needs on this machine.
BIN=""
for b in "${CARGO_TARGET_DIR:-$ROOT/target}/release/synthgen" "$CARRY/synthgen"; do
  [ -x "$b" ] && BIN=$b && break
done
export SYNTHGEN_HOME=$ROOT
if [ -n "$BIN" ] && ! "$BIN" --version >/dev/null 2>&1; then
  # Built elsewhere: use this machine's libtorch (from its PyTorch) and the carried libpython.
  libs=("$CARRY")
  if [ -n "$PY" ]; then
    tdir=$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
    libs+=("$tdir/lib")
    for d in "$tdir"/../nvidia/*/lib "$tdir"/../nvidia/cu13/lib; do [ -d "$d" ] && libs+=("$(cd "$d" && pwd)"); done
  fi
  export LD_LIBRARY_PATH="$(
    IFS=:
    echo "${libs[*]}"
  )${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [ -z "$BIN" ]; then
  say "synthgen: no binary (target/release/synthgen or .gpu-carry/synthgen): run 'make build' or 'bench/gpu_check.sh --prepare' first"
elif ! "$BIN" --version >/dev/null 2>&1; then
  say "synthgen: $BIN does not start here: $("$BIN" --version 2>&1 | head -1)"
  BIN=""
else
  say "synthgen: $BIN ($("$BIN" --version))"
fi
BPY=0
if [ -n "$BIN" ] && [ -x "$ROOT/.venv/bin/python" ] && "$ROOT/.venv/bin/python" -c 'import importlib.util as u; assert u.find_spec("bpy")' 2>/dev/null; then
  BPY=1
fi
((BPY)) || say "bpy: no .venv with bpy 5.0.1 here (Python 3.11 + a 360 MB wheel, over what a lent machine takes along): the Cycles checks are skipped"

section "start-up report"
if [ -n "$BIN" ] && [ -n "$PY" ]; then
  "$PY" bench/write_images.py "$WORK/tiny" 2 4 >/dev/null
  timeout 90 "$BIN" train --train "$WORK/tiny" --arch resnet_tiny --image-size 32 --iters 1 --batch-size 4 \
    --device auto --eval-every 100000 --out "$WORK/tiny-run" >"$WORK/tiny.log" 2>&1
  say "train (exit $?): $(grep -m1 'torch device' "$WORK/tiny.log" || tail -1 "$WORK/tiny.log")"
fi
if ((BPY)); then
  timeout 90 "$BIN" render --preset demo --classes chair --per-class 1 --workers 1 --set render.resolution=32 \
    --set render.samples=1 --out "$WORK/tiny-render" >"$WORK/render.log" 2>&1
  say "render (exit $?): $(grep -m1 'Cycles' "$WORK/render.log" || tail -1 "$WORK/render.log")"
fi

if ((!GPU)); then
  section "done: no GPU, nothing more to check"
  exit 0
fi

section "Cycles: CPU vs GPU on the same scenes"
if ((BPY)); then
  # The same preset, seed and flags: the sampler gives both runs the same scenes.
  common=(--preset demo --classes chair,table --per-class $((IMAGES / 2)) --workers 1 --seed 3
    --set render.resolution=224 --set render.samples=64)
  for dev in cpu gpu; do
    t=$SECONDS
    timeout 120 "$BIN" render "${common[@]}" --set render.device=$dev --out "$WORK/render-$dev" \
      >"$WORK/render-$dev.log" 2>&1
    rc=$?
    n=$(find "$WORK/render-$dev" -path '*/masks' -prune -o -name '*.png' -print 2>/dev/null | wc -l)
    say "render.device=$dev: exit $rc, $n images in $((SECONDS - t)) s ($(awk -v n="$n" -v s=$((SECONDS - t)) 'BEGIN {printf "%.2f", s ? n / s : 0}') images/s, start-up included); $(grep -m1 'Cycles' "$WORK/render-$dev.log")"
  done
  if [ -n "$PY" ]; then
    "$PY" - "$WORK/render-cpu" "$WORK/render-gpu" <<'EOF' 2>&1 | tee -a "$RESULT"
import math, pathlib, sys
import numpy as np
from PIL import Image
a, b = (pathlib.Path(p) for p in sys.argv[1:3])
psnrs = []
for f in sorted(a.rglob("*.png")):
    if "masks" in f.parts:
        continue
    g = b / f.relative_to(a)
    if not g.exists():
        continue
    x = np.asarray(Image.open(f).convert("RGB"), dtype=np.float64)
    y = np.asarray(Image.open(g).convert("RGB"), dtype=np.float64)
    mse = ((x - y) ** 2).mean()
    psnrs.append(99.0 if mse == 0 else 10 * math.log10(255 ** 2 / mse))
if psnrs:
    print(f"PSNR CPU vs GPU over {len(psnrs)} image pairs: min {min(psnrs):.1f} dB, mean {sum(psnrs) / len(psnrs):.1f} dB")
else:
    print("PSNR: no image pairs to compare")
EOF
  fi
else
  say "skipped: no bpy here (see above)"
fi

section "train: synthgen vs PyTorch eager on CUDA (resnet50, 224 px, bf16, batch $BATCH, $ITERS steps)"
if [ -n "$BIN" ] && [ -n "$PY" ]; then
  "$PY" bench/write_images.py "$WORK/data" 10 40 >/dev/null
  w=$(nproc)
  t=$SECONDS
  timeout 150 "$BIN" train --train "$WORK/data" --arch resnet50 --image-size 224 --aug none \
    --iters "$ITERS" --batch-size "$BATCH" --device cuda --workers "$w" --eval-every 100000 \
    --out "$WORK/train-synthgen" >"$WORK/train.log" 2>&1
  rc=$?
  ours=$(grep -m1 '"images_per_second"' "$WORK/train-synthgen/summary.json" 2>/dev/null | tr -dc '0-9.')
  say "synthgen train: exit $rc in $((SECONDS - t)) s, ${ours:-?} images/s; $(grep -m1 'torch device' "$WORK/train.log")"
  ((rc == 0)) || tail -3 "$WORK/train.log" | tee -a "$RESULT"
  t=$SECONDS
  theirs=$(timeout 150 "$PY" bench/pytorch_train.py "$WORK/data" resnet50 224 "$BATCH" "$ITERS" "$w" cuda "$w" 2>"$WORK/pytorch.log" |
    awk '/^images_per_second/ {print $2}')
  say "PyTorch eager: in $((SECONDS - t)) s, ${theirs:-?} images/s"
  [ -n "$theirs" ] || tail -3 "$WORK/pytorch.log" | tee -a "$RESULT"
  if [ -n "$ours" ] && [ -n "$theirs" ]; then
    say "ratio synthgen / PyTorch: $(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.2f", a / b}')"
  fi
else
  say "skipped: needs the synthgen binary and PyTorch (see above)"
fi

section "data parallel: 1-rank NCCL smoke run"
if [ -z "$BIN" ]; then
  say "skipped: no synthgen binary"
elif ! grep -aq -i nccl "$BIN"; then
  say "skipped: this synthgen binary has no NCCL data-parallel support (no 'nccl' in it)"
else
  t=$SECONDS
  RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29517 timeout 60 \
    "$BIN" train --train "$WORK/data" --arch resnet18 --image-size 112 --aug none --iters 5 \
    --batch-size 32 --device cuda --eval-every 100000 --out "$WORK/train-ddp" >"$WORK/ddp.log" 2>&1
  rc=$?
  say "RANK=0 WORLD_SIZE=1 train: exit $rc in $((SECONDS - t)) s; $(grep -i -m1 -E 'nccl|rank' "$WORK/ddp.log" || echo 'no rank/NCCL line in its log')"
  ((rc == 0)) || tail -3 "$WORK/ddp.log" | tee -a "$RESULT"
fi

section "done"
exit 0
