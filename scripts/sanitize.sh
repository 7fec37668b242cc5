#!/usr/bin/env bash
# The checked build's CI step: builds the core, the plugins, the unit tests and
# the fuzz harnesses with AddressSanitizer and UndefinedBehaviorSanitizer
# (clang 14; scripts/checked_build.sh), runs the unit tests of the code that
# reads user files, then every fuzz harness for a fixed number of executions.
#
#   bash scripts/sanitize.sh              tests + 20,000 executions per harness
#   TRACENAS_FUZZ_RUNS=0 bash scripts/sanitize.sh   tests only
#
# The first sanitizer report fails the step. fuzz/README.md says what
# is instrumented, what is suppressed and why.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/checked_build.sh

runs=${TRACENAS_FUZZ_RUNS:-20000}
start=$(date +%s)
checked_configure
checked_build tracenas_tests $(sed 's/\([a-z_][a-z_]*\)/fuzz_\1/g' "$build_dir/fuzz/harnesses.txt")
built=$(date +%s)

# The checked tree's test binary holds the tests of the code that reads user
# files and what it feeds (tests/CMakeLists.txt lists them and says why).
(cd "$build_dir" && ./bin/tracenas_tests --gtest_brief=1)
tested=$(date +%s)

if ((runs > 0)); then
  bash scripts/fuzz.sh --runs "$runs"
fi
echo "sanitize: build $((built - start)) s, unit tests $((tested - built)) s," \
  "fuzzing $(($(date +%s) - tested)) s" >&2
