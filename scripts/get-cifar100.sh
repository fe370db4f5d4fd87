#!/usr/bin/env bash
# Downloads the official CIFAR-100 binary version and unpacks it; checks that train.bin and
# test.bin have exactly 50,000 and 10,000 records of 3,074 bytes, and prints the archive's md5 to
# compare with the one published on https://www.cs.toronto.edu/~kriz/cifar.html.
#   usage: scripts/get-cifar100.sh [dest-dir, default data/]  ->  <dest>/cifar-100-binary/
# Needs network access to www.cs.toronto.edu. With the archive already at hand, unpack it
# yourself (tar -xzf cifar-100-binary.tar.gz) and point bpr at the folder:
#   bpr train --data cifar100:<dir>/cifar-100-binary          (100 fine labels)
#   bpr train --data cifar100:<dir>/cifar-100-binary:coarse   (the 20 superclasses)
set -euo pipefail
DEST=${1:-data}
URL=https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz
mkdir -p "$DEST"
archive="$DEST/cifar-100-binary.tar.gz"
if [ ! -f "$archive" ]; then
  curl -fL --retry 3 -o "$archive.part" "$URL"
  mv "$archive.part" "$archive"
fi
md5sum "$archive"
tar -xzf "$archive" -C "$DEST"
dir="$DEST/cifar-100-binary"
for f in train.bin:153700000 test.bin:30740000; do
  name=${f%%:*}; want=${f##*:}
  got=$(stat -c %s "$dir/$name")
  [ "$got" = "$want" ] || { echo "$dir/$name: $got bytes, expected $want (50,000 / 10,000 records of 3,074 bytes)"; exit 1; }
done
ls -l "$dir"
echo "use it with: bpr train --data cifar100:$dir   (or cifar100:$dir:coarse)"
