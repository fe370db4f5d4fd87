#!/usr/bin/env bash
# bpr train -> prune -> finetune -> regrow -> eval on a tiny synthetic set, through the CLI.
#   usage: phases_cli.sh <bpr-binary> <work-dir>
set -euo pipefail
BPR=$1 W=$2
rm -rf "$W" && mkdir -p "$W"
common=(--data synthetic --train-size 128 --test-size 64)
"$BPR" train --model vgg11 --width 0.0625 "${common[@]}" --epochs 1 --max-steps 3 --quiet --out "$W/run"
"$BPR" prune "$W/run/checkpoint.safetensors" --sparsity 0.9 --out "$W/p90.safetensors" | tee "$W/prune.txt"
grep -qE "^total +36428 +3643 " "$W/prune.txt"     # exactly round(0.1 * 36428) weights kept
"$BPR" prune "$W/p90.safetensors" --amount 0.5 --allocation erk --out "$W/p95.safetensors" | tee "$W/prune2.txt"
grep -qE "^total +36428 +1822 " "$W/prune2.txt"    # round_half_even(0.5 * 3643)
"$BPR" finetune "$W/p95.safetensors" --epochs 1 --max-steps 2 --out "$W/f95.safetensors" | tee "$W/ft.txt"
grep -qE "^total +36428 +1822 " "$W/ft.txt"        # finetuning never revives a pruned weight
"$BPR" regrow "$W/f95.safetensors" --dense "$W/run/checkpoint.safetensors" --fraction 0.01 --policy greedy \
  --ssim-batches 1 --saliency-batches 2 --out "$W/r94.safetensors" | tee "$W/regrow.txt"
grep -qE "^total +36428 +2186 " "$W/regrow.txt"    # + int(0.01 * 36428) = 364 regrown
"$BPR" eval "$W/r94.safetensors" | tee "$W/eval.txt"
grep -q "sparsity 94.00%" "$W/eval.txt"
if "$BPR" prune "$W/p95.safetensors" --sparsity 0.5 --out "$W/bad.safetensors" 2>"$W/err.txt"; then
  echo "FAIL: pruning to a lower sparsity was accepted"; exit 1
fi
grep -q "masks only shrink" "$W/err.txt"
echo PASS
