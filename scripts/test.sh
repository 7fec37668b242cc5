#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (GoogleTest + CTest).
set -euo pipefail

cd "$(dirname "$0")/.."
build_dir=${TRACENAS_BUILD_DIR:-build}
bash scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc 2>/dev/null || echo 2)"
