#!/usr/bin/env bash
# Configures and builds bpr with a CMake preset (default: release). Finds nvcc under
# /usr/local/cuda when it is not on PATH, so the CUDA sources are compiled when present.
# BPR_CUDA_ARCHS in the environment picks the GPU architectures (default: all from sm_75;
# CI builds two to save time).
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET="${1:-release}"
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
cmake --preset "$PRESET" ${BPR_CUDA_ARCHS:+"-DBPR_CUDA_ARCHS=$BPR_CUDA_ARCHS"} >/dev/null
cmake --build --preset "$PRESET" -j"$(nproc)"
