#!/usr/bin/env bash
# The test command: installs what is missing, builds (release preset) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
ctest --preset release -j"$(nproc)"
