#!/usr/bin/env bash
# Installs the Debian 12 packages TraceNAS builds on (only those missing) and
# builds it into ./build (Release). Safe to run again: it installs nothing that
# is present and rebuilds only what changed.
#
#   bash scripts/setup.sh            install + build
#   TRACENAS_BUILD_DIR=out bash scripts/setup.sh
#   bash scripts/setup.sh --packages-only   install, do not build
#   TRACENAS_EXTRA_PACKAGES="chromium" bash scripts/setup.sh   also these packages
set -euo pipefail

cd "$(dirname "$0")/.."
build_dir=${TRACENAS_BUILD_DIR:-build}

packages=(
  g++ cmake ninja-build make binutils
  libtorch-dev libopenblas0-pthread
  libboost-dev libboost-filesystem-dev
  libyaml-cpp-dev libspdlog-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  libsentencepiece-dev libpcre2-dev libutf8proc-dev libgloo-dev
  clang-format git python3
)
# More packages for one caller (the test command adds chromium for the report tests).
read -r -a extra <<<"${TRACENAS_EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
else
  echo "setup: every package is present" >&2
fi

if [ "${1:-}" = "--packages-only" ]; then exit 0; fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$build_dir" -j "$jobs" >&2
echo "setup: built $build_dir/bin/tracenas" >&2
