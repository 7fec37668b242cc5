#!/usr/bin/env bash
# Installs what is missing, builds, and runs the quickstart pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec ./"${TRACENAS_BUILD_DIR:-build}"/bin/tracenas run configs/quickstart.yaml "$@"
