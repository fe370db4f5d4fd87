#!/usr/bin/env bash
# Checkpoints from elsewhere and honest reports, through the CLI: a PyTorch-style state_dict
# (no bpr metadata, no masks, no num_batches_tracked) gets its architecture inferred and
# needs --data; NaN weights are refused unless `eval --allow-nonfinite`; each command's
# --help lists only the data flags it uses; prune tables carry MAC shares; a run without a
# validation split prints "val –".
#   usage: checkpoint_cli.sh <bpr-binary> <work-dir>
set -uo pipefail
BPR=$1 W=$2
rm -rf "$W" && mkdir -p "$W"
source "$(dirname "$0")/cli_lib.sh"  # fail, expect_error
data=(--data synthetic --train-size 128 --test-size 64)
"$BPR" train --model vgg11 --width 0.0625 "${data[@]}" --epochs 1 --max-steps 3 --out "$W/run" > "$W/train.txt" ||
  fail "train"
grep -q "| val – |" "$W/train.txt" || { cat "$W/train.txt"; fail "no validation split: expected 'val –'"; }
python3 - "$W" <<'PY' || fail "python rewrite"
import json, math, struct, sys
w = sys.argv[1]
def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]
def write(path, header, tensors):
    out, off = {}, 0
    if "__metadata__" in header: out["__metadata__"] = header["__metadata__"]
    blobs = []
    for name, (info, data) in tensors.items():
        out[name] = {"dtype": info["dtype"], "shape": info["shape"], "data_offsets": [off, off + len(data)]}
        off += len(data); blobs.append(data)
    h = json.dumps(out).encode(); h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
header, data = read(w + "/run/checkpoint.safetensors")
t = {k: (v, bytearray(data[v["data_offsets"][0]:v["data_offsets"][1]])) for k, v in header.items() if k != "__metadata__"}
plain = {k: v for k, v in t.items() if not k.endswith("_mask") and not k.startswith("optim.") and "num_batches" not in k}
write(w + "/plain.safetensors", {}, plain)           # as torch's save_file(model.state_dict()) minus the counters
t["features.0.weight"][1][0:4] = struct.pack("<f", math.nan)
write(w + "/nan.safetensors", header, t)
PY
# a state_dict from elsewhere: architecture inferred, the data set must be named
expect_error "no bpr metadata names the data set it was trained on: pass --data" eval "$W/plain.safetensors"
grep -q "inferred from the tensor shapes: vgg11, width 0.0625, 3 input channels, 10 classes, 32x32 input" "$W/out.txt" ||
  fail "no inference line"
"$BPR" eval "$W/plain.safetensors" "${data[@]}" > "$W/eval.txt" 2>&1 || { cat "$W/eval.txt"; fail "eval of plain"; }
grep -q "note: .*no num_batches_tracked for 8 BatchNorm layers" "$W/eval.txt" || fail "no num_batches_tracked note"
grep -qE "accuracy [0-9.]+%" "$W/eval.txt" || fail "plain eval printed no accuracy"
expect_error "takes 3-channel 32x32 inputs and 10 classes" eval "$W/plain.safetensors" --data fashion-mnist
# non-finite weights: refused by every load, shown only by eval --allow-nonfinite
expect_error "tensor 'features.0.weight' holds 1 non-finite value \(NaN or Inf\) of 108" eval "$W/nan.safetensors"
expect_error "holds 1 non-finite value" prune "$W/nan.safetensors" --sparsity 0.5 --out "$W/p.safetensors"
expect_error "holds 1 non-finite value" finetune "$W/nan.safetensors" --epochs 1 --out "$W/f.safetensors"
"$BPR" eval "$W/nan.safetensors" --allow-nonfinite > "$W/out.txt" 2>&1 || fail "eval --allow-nonfinite"
# each command's help: only the data flags it uses
"$BPR" eval --help > "$W/h_eval.txt"; "$BPR" prune --help > "$W/h_prune.txt"; "$BPR" finetune --help > "$W/h_ft.txt"
for f in --batch --no-augment --drop-last --prefetch; do
  ! grep -q -- "$f\b" "$W/h_eval.txt" || fail "eval --help lists $f"
done
grep -q -- "--allow-nonfinite" "$W/h_eval.txt" || fail "eval --help lacks --allow-nonfinite"
! grep -q -- "--allow-nonfinite" "$W/h_prune.txt" || fail "prune --help lists --allow-nonfinite"
grep -q -- "--batch" "$W/h_prune.txt" && ! grep -q -- "--no-augment" "$W/h_prune.txt" || fail "prune --help flags"
grep -q -- "--no-augment" "$W/h_ft.txt" || fail "finetune --help lacks --no-augment"
# MACs from the model's input size, with each layer's share
"$BPR" prune "$W/run/checkpoint.safetensors" --sparsity 0.9 --out "$W/p90.safetensors" > "$W/prune.txt" || fail "prune"
grep -q "MAC share" "$W/prune.txt" || fail "prune table lacks MAC share"
grep -qE "^total .* MMAC per example" "$W/prune.txt" || fail "prune table lacks the MAC totals"
echo PASS
