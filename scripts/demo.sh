#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, builds, and trains a narrow VGG16
# on the embedded default data set, writing a run folder to runs/demo. Extra arguments go to
# `bpr train` (e.g. --epochs 10).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
./build/release/bpr train --model vgg16 --width 0.25 --epochs 4 --out runs/demo "$@"
