#!/usr/bin/env bash
# Real CIFAR-10 end to end: unpack the JPEG copy, pack it with `bpr data pack`, read it back
# with the CIFAR-10 binary reader (`bpr data info`: 5,000 per class train, 1,000 test), and
# train a narrow VGG for a bounded number of steps that must clearly beat chance on the test set.
#   usage: real_data.sh <bpr-binary> <work-dir> <archive>
# Without the archive it skips (exit 77) with the reason, unless BPR_REQUIRE_REAL_DATA is set
# (CI sets it), in which case a missing archive is a failure.
set -euo pipefail
BPR=$1 WORK=$2 ARCHIVE=${BPR_CIFAR_ARCHIVE:-$3}
if [ ! -f "$ARCHIVE" ]; then
  echo "SKIP: CIFAR-10 archive not found at $ARCHIVE (set BPR_CIFAR_ARCHIVE)"
  if [ -n "${BPR_REQUIRE_REAL_DATA:-}" ]; then echo "FAIL: BPR_REQUIRE_REAL_DATA is set, the skip is an error"; exit 1; fi
  exit 77
fi
mkdir -p "$WORK"
if [ ! -d "$WORK/jpeg/train" ]; then
  rm -rf "$WORK/jpeg" && mkdir -p "$WORK/jpeg"
  tar --zstd -xf "$ARCHIVE" -C "$WORK/jpeg"
fi
"$BPR" data pack "$WORK/jpeg" "$WORK/bin"
"$BPR" data info "$WORK/bin" | tee "$WORK/info.txt"
grep -q "^cifar10/train: 50000 images, 3x32x32" "$WORK/info.txt"
grep -q "^cifar10/test: 10000 images, 3x32x32" "$WORK/info.txt"
[ "$(grep -cE '^ +[0-9] [a-z]+ +5000$' "$WORK/info.txt")" -eq 10 ] || { echo "FAIL: train classes are not 5,000 each"; exit 1; }
[ "$(grep -cE '^ +[0-9] [a-z]+ +1000$' "$WORK/info.txt")" -eq 10 ] || { echo "FAIL: test classes are not 1,000 each"; exit 1; }
rm -rf "$WORK/run"
"$BPR" train --data "cifar10:$WORK/bin" --model vgg11 --width 0.25 --epochs 1 --max-steps 150 --lr 0.05 \
  --log-every 50 --out "$WORK/run"
acc=$(sed -n 's/.*"final_test_acc": \([0-9.e+-]*\).*/\1/p' "$WORK/run/summary.json")
echo "test accuracy after 150 steps: $acc (chance: 0.10)"
awk -v a="$acc" 'BEGIN { exit !(a > 0.25) }' || { echo "FAIL: test accuracy $acc does not clearly beat chance"; exit 1; }
echo "PASS"
