#!/usr/bin/env bash
# The paper's S2RDA-49 domain adaptation protocol: the six-row benchmark table's methods
# (source-only, DANN, MCD, RCA, SRDC, DisClusterDA) from rendered synthetic images to real
# images of the 49 classes.
#
# Usage: examples/s2rda49_adapt.sh SYNTHETIC REAL_TRAIN REAL_TEST OUT [INIT]
#   SYNTHETIC   labelled renders: a synthgen output folder, an ImageFolder or an image list
#   REAL_TRAIN  unlabelled real target images (labels, if present, are never trained on)
#   REAL_TEST   labelled real images for evaluation (same 49 class names as SYNTHETIC)
#   OUT         one run folder per method is created inside
#   INIT        optional pre-trained weights (safetensors; the backbone lr is then x0.1)
# Env: SYNTHGEN (binary, default: synthgen on PATH), DEVICE (auto), EPOCHS (20), METHODS.
# Protocol (PAPER.md): ResNet-50, 20 epochs of max(len(source), len(target)) iterations, batch
# 64 + 64, SGD momentum 0.9, wd 1e-4, lr 1e-4 (MCD 1e-3), 200 evaluations per run; the table
# reports best Acc and best Mean, printed below next to the last checkpoint's.
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,15p' "$0"
  exit 2
fi
SYN="$1"; REAL="$2"; TEST="$3"; OUT="$4"; INIT="${5:-}"
BIN="${SYNTHGEN:-synthgen}"
DEVICE="${DEVICE:-auto}"
EPOCHS="${EPOCHS:-20}"
METHODS="${METHODS:-source-only dann mcd rca srdc disclusterda}"
mkdir -p "$OUT"
for m in $METHODS; do
  args=(adapt --method "$m" --source "$SYN" --target "$REAL" --target-eval "$TEST"
        --arch resnet50 --epochs "$EPOCHS" --batch-size 64 --device "$DEVICE" --out "$OUT/$m")
  [ -n "$INIT" ] && args+=(--init "$INIT")
  echo "== $m"
  "$BIN" "${args[@]}"
done
echo "== summary (best Acc / best Mean | last Acc / last Mean, %)"
for m in $METHODS; do
  python3 - "$OUT/$m/summary.json" "$m" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["evals"]["target_eval"]
f = lambda v: "-" if v is None else f"{100 * v:.2f}"
print(f"{sys.argv[2]:12s} {f(s['best_acc'][1])} / {f(s['best_mean'][1])} | {f(s['last_acc'])} / {f(s['last_mean'])}")
PY
done
