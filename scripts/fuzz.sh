#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + AddressSanitizer and runs each for a bounded time
# on a seed corpus (tests/fuzz/corpus/<target>, plus seeds generated here), printing the
# executions and any finding. Usage: scripts/fuzz.sh [seconds-per-target, default 20]
# Findings (crash-*, leak-*, timeout-*) are left in build/fuzz/findings/ and make it fail.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-20}
BUILD=build/fuzz
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBPR_FUZZ=ON \
  -DBPR_WITH_CUDA=OFF -DBPR_BUILD_TESTS=OFF -DBPR_NATIVE=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fuzz_cifar10 fuzz_cifar100 fuzz_idx fuzz_image fuzz_safetensors
mkdir -p "$BUILD/findings"
status=0
for t in cifar10 cifar100 idx image safetensors; do
  work="$BUILD/corpus/$t"
  mkdir -p "$work"
  cp -n tests/fuzz/corpus/$t/* "$work/" 2>/dev/null || true
  log="$BUILD/fuzz_$t.log"
  if ! "$BUILD/tests/fuzz/fuzz_$t" "$work" -max_total_time="$SECONDS_PER" -max_len=65536 -rss_limit_mb=2048 \
      -artifact_prefix="$BUILD/findings/$t-" -print_final_stats=1 >"$log" 2>&1; then
    echo "fuzz_$t: FINDING (see $log and $BUILD/findings/)"
    tail -30 "$log"
    status=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  echo "fuzz_$t: ${runs:-?} executions in ${SECONDS_PER}s, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l) inputs"
done
exit $status
