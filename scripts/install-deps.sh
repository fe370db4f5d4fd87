#!/usr/bin/env bash
# Installs bpr's build and test dependencies from Debian packages (run as root or via sudo).
# The CUDA toolkit is optional and not installed here: when /usr/local/cuda exists the build
# compiles and links the CUDA sources too.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# build: compilers, CMake, libraries (libdnnl-dev: oneDNN 2.6, the CPU convolutions' fast path;
# without it CMake builds the im2col + OpenBLAS path alone); data: libjpeg-turbo and libpng (JPEG/PNG), zstd (the CIFAR-10 copy),
# Fashion-MNIST (the default real data set); fuzzing: clang with libFuzzer and its OpenMP;
# multi-process runs: Open MPI (libopenmpi-dev to build, openmpi-bin for mpirun).
PKGS=(cmake ninja-build g++ pkg-config libfmt-dev doctest-dev libopenblas-dev libdnnl-dev libcli11-dev nlohmann-json3-dev libtomlplusplus-dev
      zlib1g-dev libturbojpeg0-dev libpng-dev zstd dataset-fashion-mnist clang libclang-rt-14-dev libomp-dev
      libopenmpi-dev openmpi-bin)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
