#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (GoogleTest + CTest).
set -euo pipefail

cd "$(dirname "$0")/.."
build_dir=${TRACENAS_BUILD_DIR:-build}
# Headless Chromium renders the HTML reports in the report tests.
TRACENAS_EXTRA_PACKAGES="chromium" bash scripts/setup.sh
# The real llama.cpp the GGUF export tests run their exports in.
bash scripts/llamacpp.sh
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc 2>/dev/null || echo 2)"

# The checked build: sanitizers over the unit tests of the input readers, and
# a fixed number of fuzz executions per harness (fuzz/README.md). Set
# TRACENAS_SKIP_CHECKED=1 to leave it out.
if [ "${TRACENAS_SKIP_CHECKED:-0}" != 1 ]; then
  bash scripts/sanitize.sh
fi
