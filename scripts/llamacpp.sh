#!/usr/bin/env bash
# Installs the real llama.cpp the GGUF export tests load their exports into:
# the npm package node-llama-cpp with its prebuilt CPU binaries for Linux x64
# (@node-llama-cpp/linux-x64), pinned in tests/llamacpp/package-lock.json,
# into tests/llamacpp/node_modules (about 85 MB). Needs Node.js >= 20 and
# npm (installed with apt-get when missing) and the npm registry. Does
# nothing when the pinned versions are already installed.
set -euo pipefail
cd "$(dirname "$0")/../tests/llamacpp"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "llamacpp: installing nodejs and npm" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    nodejs npm >&2
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "llamacpp: node-llama-cpp 3.22.1 needs Node.js >= 20 (found $(node --version))" >&2
  exit 1
fi

stamp=node_modules/.tracenas-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
  echo "llamacpp: node-llama-cpp is installed" >&2
  exit 0
fi
# --ignore-scripts: the prebuilt binaries are used as shipped (no download or
# build step at install time); --omit=optional: only the linux-x64 CPU build.
# (npm install, not npm ci: the lock holds no entries for the other
# platforms' optional binaries, which npm ci then refuses.)
npm install --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >&2
cp package-lock.json "$stamp"
echo "llamacpp: installed node-llama-cpp into tests/llamacpp/node_modules" >&2
