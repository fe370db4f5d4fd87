#!/usr/bin/env bash
# Builds the binaries that travel to a GPU machine and packs them with what a bare machine
# lacks, for scripts/gpu-check.sh there.
#   usage: scripts/gpu-bundle.sh [bundle-dir]          (default: gpu-bundle/, git-ignored)
# Output: <dir>/bundle.tar.gz  bin/{bpr,bpr_gpu_tests,zstd} and lib/ (OpenBLAS, fmt, libjpeg-turbo, libpng,
#         toml++, zlib, gomp, gfortran, quadmath, zstd's libraries: every non-CUDA, non-libc
#         library ldd lists), plus <dir>/cifar10-jpeg.tar.zst (the real data copy).
# The build is portable x86-64 (BPR_NATIVE=OFF: no -march=native, which could stop with an
# illegal instruction on another CPU) and a fat CUDA binary: BPR_CUDA_ARCHS from the
# environment, default "all" (every architecture nvcc supports from sm_75, PTX for the
# newest; "90" builds faster for an H100/H200 only). CUDA's own libraries (cuBLAS,
# cuSPARSE, cuDNN, nvJitLink) are not packed: gpu-check.sh finds them in the toolkit or in
# the nvidia-* Python packages there.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-gpu-bundle}
BUILD=build/gpu-bundle
export CUDACXX=${CUDACXX:-/usr/local/cuda/bin/nvcc}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBPR_NATIVE=OFF -DBPR_CUDA_ARCHS="${BPR_CUDA_ARCHS:-all}" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target bpr bpr_gpu_tests
rm -rf "$DIR/stage" && mkdir -p "$DIR/stage/bin" "$DIR/stage/lib"
cp "$BUILD/bpr" "$BUILD/tests/bpr_gpu_tests" "$DIR/stage/bin/"
cp "$(command -v zstd)" "$DIR/stage/bin/"
# Every shared library the binaries need except CUDA's and the C runtime's (the GPU
# machine's own glibc/libstdc++ are newer and stay in charge).
for exe in "$DIR"/stage/bin/*; do
  ldd "$exe" | awk '$3 ~ /^\// {print $3}'
done | sort -u | grep -vE '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so|/usr/local/cuda' |
  while read -r lib; do cp -L "$lib" "$DIR/stage/lib/"; done
tar -C "$DIR/stage" -czf "$DIR/bundle.tar.gz" bin lib
rm -rf "$DIR/stage"
ARCHIVE=../shared/data/cifar10-jpeg.tar.zst
[ -f "$ARCHIVE" ] && cp "$ARCHIVE" "$DIR/"
du -sh "$DIR"/*
echo "carry '$DIR' to the GPU machine and run: scripts/gpu-check.sh --bundle $DIR"
