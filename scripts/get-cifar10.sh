#!/usr/bin/env bash
# Downloads the official CIFAR-10 binary version and checks its checksum, then unpacks it.
#   usage: scripts/get-cifar10.sh [dest-dir, default data/]  ->  <dest>/cifar-10-batches-bin/
# Needs network access to www.cs.toronto.edu (the project's own machines have none: there,
# use the JPEG copy in ../shared/data with `bpr data pack` instead; see docs/data.md).
set -euo pipefail
DEST=${1:-data}
URL=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
MD5=c32a1d4ab5d03f1284b67883e8d87530   # published on the CIFAR-10 page for cifar-10-binary.tar.gz
mkdir -p "$DEST"
archive="$DEST/cifar-10-binary.tar.gz"
if [ ! -f "$archive" ]; then
  curl -fL --retry 3 -o "$archive.part" "$URL"
  mv "$archive.part" "$archive"
fi
echo "$MD5  $archive" | md5sum -c -
tar -xzf "$archive" -C "$DEST"
ls -l "$DEST/cifar-10-batches-bin"
echo "use it with: bpr train --data cifar10:$DEST/cifar-10-batches-bin"
