#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing (including the Debian package
# dataset-fashion-mnist, the embedded default data set), builds, and trains a narrow VGG16 on
# Fashion-MNIST, writing a run folder to runs/demo. Extra arguments go to `bpr train`
# (e.g. --epochs 5, or --data cifar10:<dir> for CIFAR-10 binary).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
./build/release/bpr train --data fashion-mnist --model vgg16 --width 0.25 --epochs 1 --lr 0.05 --out runs/demo "$@"
