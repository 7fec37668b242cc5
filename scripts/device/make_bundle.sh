#!/usr/bin/env bash
# Makes the dependency bundle scripts/device/run.sh builds with on a GPU
# machine that has no network: the Debian 12 packages TraceNAS needs besides
# LibTorch, downloaded as .deb files (apt-get download) into .device-bundle/
# (ignored by git; carried to the device machine). run.sh unpacks them there
# with dpkg -x into a folder of its own, never into /.
#
#   bash scripts/device/make_bundle.sh        # writes .device-bundle/ (about 14 MB)
#
# The bundle holds headers and libraries only; the compiler, CMake, ninja and
# LibTorch are the device machine's own. It must stay within 50 MiB.
set -euo pipefail

cd "$(dirname "$0")/../.."
out=.device-bundle
limit=$((50 * 1024 * 1024))

# Development packages (headers, CMake and pkg-config files) and the shared
# libraries they link to, as Debian 12 names them.
packages=(
  libyaml-cpp-dev libyaml-cpp0.7
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
  libboost1.74-dev libboost-filesystem1.74-dev libboost-filesystem1.74.0 libboost-system1.74-dev
  nlohmann-json3-dev
  libgtest-dev libgmock-dev
  libsentencepiece-dev libsentencepiece0
  libpcre2-dev libpcre2-8-0
  libutf8proc-dev libutf8proc2
)

tmp="$out.partial-$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp"
# apt-get download writes as the _apt user when it can; a folder it can write.
chmod 777 "$tmp"
(cd "$tmp" && apt-get download -q "${packages[@]}" >&2)

bytes=$(du -cb "$tmp"/*.deb | tail -1 | cut -f1)
if [ "$bytes" -gt "$limit" ]; then
  echo "make_bundle: the bundle is $bytes bytes, over the 50 MiB limit" >&2
  exit 1
fi
(cd "$tmp" && sha256sum ./*.deb > SHA256SUMS)
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "make_bundle: $out holds ${#packages[@]} packages, $bytes bytes" >&2
