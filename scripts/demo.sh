#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing (including the Debian package
# dataset-fashion-mnist, the embedded default data set), builds, and runs the whole
# bidirectional pruning-regrowth pipeline on a narrow VGG16 with configs/demo.toml: dense
# training, a one-shot LAMP pruning curve, regrowth from the sparsest point, final finetune,
# reports and plots in runs/demo. Extra arguments go to `bpr pipeline` (e.g. --resume, or
# --set regrow.policy=rl).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
./build/release/bpr pipeline --config configs/demo.toml --out runs/demo "$@"
