#!/usr/bin/env bash
# Sparse checkpoints and inference through the CLI: `bpr export --sparse` writes the kept
# weights only; eval gives the same accuracy and loss from it as from the dense checkpoint;
# finetune and infer load it; corrupt CSR pieces (out-of-range or unsorted columns, a count
# mismatch) are one error line; `bpr infer` classifies a PNG (resized) and a data set spec.
#   usage: sparse_cli.sh <bpr-binary> <work-dir>
set -uo pipefail
BPR=$1 W=$2
rm -rf "$W" && mkdir -p "$W"
source "$(dirname "$0")/cli_lib.sh"  # fail, expect_error
"$BPR" train --model vgg11 --width 0.125 --data synthetic --epochs 3 --out "$W/run" > "$W/train.txt" || fail "train"
"$BPR" prune "$W/run/checkpoint.safetensors" --sparsity 0.95 --out "$W/pruned.safetensors" > "$W/prune.txt" ||
  fail "prune"
"$BPR" finetune "$W/pruned.safetensors" --epochs 2 --out "$W/p95.safetensors" > "$W/ft95.txt" || fail "finetune"
"$BPR" export "$W/p95.safetensors" --sparse "$W/s95.safetensors" > "$W/export.txt" || fail "export"
grep -qE "wrote .*s95.safetensors: 9 masked weights as CSR, .* \(95.00% sparse\); .*x smaller" "$W/export.txt" ||
  { cat "$W/export.txt"; fail "export summary"; }
# the training checkpoint holds momentum: left out of the export
"$BPR" export "$W/run/checkpoint.safetensors" --sparse "$W/s0.safetensors" > "$W/export0.txt" || fail "export dense"
grep -q "optimizer state tensors left out" "$W/export0.txt" || fail "optimizer state not reported"
expect_error "already in the sparse layout" export "$W/s95.safetensors" --sparse "$W/again.safetensors"
expect_error "must not overwrite" export "$W/p95.safetensors" --sparse "$W/p95.safetensors"

# same numbers from both files
"$BPR" eval "$W/p95.safetensors" > "$W/eval_dense.txt" || fail "eval dense"
"$BPR" eval "$W/s95.safetensors" > "$W/eval_sparse.txt" || fail "eval sparse"
a=$(grep -oE "accuracy .*" "$W/eval_dense.txt") b=$(grep -oE "accuracy .*" "$W/eval_sparse.txt")
[ -n "$a" ] && [ "$a" = "$b" ] || fail "eval differs: '$a' vs '$b'"
"$BPR" finetune "$W/s95.safetensors" --epochs 1 --max-steps 2 --out "$W/ft.safetensors" > "$W/ft.txt" ||
  { cat "$W/ft.txt"; fail "finetune from the sparse file"; }
"$BPR" eval "$W/ft.safetensors" > "$W/eval_ft.txt" || fail "eval of the finetuned model"
grep -q "sparsity 95.00%" "$W/eval_ft.txt" || fail "finetune lost the masks"

# inference: a PNG of another size (resized to 32x32) and the first test images of a spec
python3 - "$W/cat.png" <<'PY' || fail "png"
import struct, sys, zlib
w, h = 48, 40
rows = b"".join(b"\x00" + bytes((x * 5 + y * 3 + c * 40) % 256 for x in range(w) for c in range(3)) for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
      chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
"$BPR" infer "$W/s95.safetensors" "$W/cat.png" synthetic --limit 4 --top 2 > "$W/infer.txt" ||
  { cat "$W/infer.txt"; fail "infer"; }
grep -qE "cat.png \(resized 48x40 -> 32x32\): class[0-9] [0-9.]+%, class[0-9] [0-9.]+%$" "$W/infer.txt" ||
  { cat "$W/infer.txt"; fail "infer line for the png"; }
[ "$(grep -cE "^synthetic test #[0-3]: .*\(label class[0-9]: (right|wrong)\)$" "$W/infer.txt")" = 4 ] ||
  { cat "$W/infer.txt"; fail "infer lines for the spec"; }
grep -qE "^latency at batch 1: median [0-9.]+ ms, .* over 15 forwards \(5 images x 3\)" "$W/infer.txt" ||
  { cat "$W/infer.txt"; fail "latency line"; }
grep -qE "^[0-4] of 4 labelled images right" "$W/infer.txt" || fail "accuracy line"
# infer prepares images as the test loader does: on the whole synthetic test set (512) it
# gets eval's accuracy, up to 2 images (infer runs the BN-folded network, whose logits differ
# from the unfused ones in the last float bits, which may flip a near-tie; a preprocessing
# error would move dozens)
"$BPR" infer "$W/s95.safetensors" synthetic --limit 512 --reps 1 > "$W/infer512.txt" || fail "infer 512"
right=$(grep -oE "^[0-9]+ of 512 labelled" "$W/infer512.txt" | cut -d' ' -f1)
acc=$(grep -oE "accuracy [0-9.]+%" "$W/eval_sparse.txt" | grep -oE "[0-9.]+")
python3 -c "import sys; sys.exit(0 if abs($right - $acc * 512 / 100) <= 2.01 else 1)" ||
  fail "infer got $right of 512 right, eval says $acc%"
python3 -c "import sys; sys.exit(0 if $acc > 50 else 1)" || fail "the test model did not learn ($acc%)"
expect_error "no-such.png: no such image file, and not a data set spec" infer "$W/s95.safetensors" "$W/no-such.png"
printf 'not an image' > "$W/junk.png"
expect_error "junk.png" infer "$W/s95.safetensors" "$W/junk.png"

# corrupt sparse files: each is one error naming the tensor
python3 - "$W" <<'PY' || fail "python rewrite"
import json, struct, sys
w = sys.argv[1]
b = open(w + "/s95.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
header, data = json.loads(b[8:8 + n]), b[8 + n:]
def write(name, edit):
    t = {k: (dict(v), bytearray(data[v["data_offsets"][0]:v["data_offsets"][1]]))
         for k, v in header.items() if k != "__metadata__"}
    edit(t)
    out, off, blobs = {"__metadata__": header["__metadata__"]}, 0, []
    for k, (info, d) in t.items():
        info["data_offsets"] = [off, off + len(d)]; off += len(d); blobs.append(bytes(d)); out[k] = info
    h = json.dumps(out).encode(); h += b" " * (-len(h) % 8)
    open(w + "/" + name, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
col = "features.0.weight.col_indices"
def out_of_range(t): t[col][1][0:4] = struct.pack("<i", 10**6)
def unsorted(t):
    d = t[col][1]; d[0:4], d[4:8] = d[4:8], d[0:4]
def short(t):
    info, d = t["features.0.weight.values"]; del d[-4:]; info["shape"] = [info["shape"][0] - 1]
write("range.safetensors", out_of_range)
write("unsorted.safetensors", unsorted)
write("short.safetensors", short)
PY
expect_error "'features.0.weight.col_indices'\[0\] = 1000000 is out of range \[0, 27\)" eval "$W/range.safetensors"
expect_error "'features.0.weight.col_indices' are not strictly increasing in row 0" eval "$W/unsorted.safetensors"
expect_error "'features.0.weight' holds [0-9]+ values but [0-9]+ column indices" infer "$W/short.safetensors" synthetic
echo PASS
