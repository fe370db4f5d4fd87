#!/usr/bin/env bash
# bpr checkpoints of the ResNet and MobileNetV2 load into the PyTorch definitions by name:
# train a few steps, prune to 50 %, then tests/golden/check_torch_load.py (strict
# load_state_dict, masks 0/1, pruned weights zero, a finite forward). Skipped (77) without torch.
#   torch_load_cli.sh <bpr> <work dir> <source dir>
set -euo pipefail
source "$(dirname "$0")/cli_lib.sh"
BPR=$1 WORK=$2 SRC=$3
PY=/usr/bin/python3
"$PY" -c "import torch" 2>/dev/null || { echo "skipped: $PY has no torch"; exit 77; }
rm -rf "$WORK" && mkdir -p "$WORK"
for spec in "resnet20 0.25" "mobilenetv2 0.125"; do
  set -- $spec
  run="$WORK/$1"
  "$BPR" train --model "$1" --width "$2" --train-size 64 --test-size 32 --epochs 1 --batch 16 --out "$run" --quiet \
    || fail "train $1"
  "$BPR" prune "$run/checkpoint.safetensors" --sparsity 0.5 --out "$run/pruned.safetensors" > "$WORK/prune.log" \
    || fail "prune $1: $(tail -1 "$WORK/prune.log")"
  out=$("$PY" "$SRC/tests/golden/check_torch_load.py" "$run/pruned.safetensors" "$1" "$2") || fail "torch load $1: $out"
  echo "$1: $out"
done
echo PASS
