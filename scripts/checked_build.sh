# Sourced by scripts/sanitize.sh and scripts/fuzz.sh: the checked build tree
# (clang 14, AddressSanitizer + UndefinedBehaviorSanitizer, libFuzzer coverage),
# in $TRACENAS_CHECKED_BUILD_DIR (default build-checked). LibTorch and the other
# Debian libraries are not instrumented. fuzz/README.md explains it.
build_dir=${TRACENAS_CHECKED_BUILD_DIR:-build-checked}

# What the sanitizer runtimes are told (the reasons are in fuzz/README.md):
# leaks are not reported (LibTorch and its registries keep allocations for the
# life of the process); the first error ends the process with its report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$PWD/scripts/ubsan.supp}
export OMP_WAIT_POLICY=PASSIVE

checked_configure() {
  bash scripts/setup.sh --packages-only
  local missing=()
  for p in clang-14 libclang-rt-14-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >&2
  fi
  if [ ! -f "$build_dir/build.ninja" ]; then
    CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
      -DTRACENAS_BUILD_BENCH=OFF -DTRACENAS_SANITIZE=address,undefined -DTRACENAS_FUZZ=ON >&2
  else
    cmake "$build_dir" >/dev/null  # refreshes the harness list and the seed lists
  fi
}

# Builds the named targets of the checked tree.
checked_build() {
  checked_configure
  cmake --build "$build_dir" -j "$(nproc 2>/dev/null || echo 2)" --target "$@" >&2
}
