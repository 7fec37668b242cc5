#!/usr/bin/env bash
# Builds the checked tree (clang, ASan + UBSan, libFuzzer) and fuzzes the
# readers of user files, each for a given time or number of executions.
#
#   bash scripts/fuzz.sh                      every harness, 60 s each
#   bash scripts/fuzz.sh --time 600 pipeline  one harness, 10 minutes
#   bash scripts/fuzz.sh --runs 20000         every harness, 20,000 executions (CI)
#
# Harnesses: fuzz/*.cpp (fuzz/CMakeLists.txt lists them). The corpus grows
# in $build_dir/fuzz/corpus/<harness>/ (kept between runs); an input that is a
# finding is written to $build_dir/fuzz/findings/<harness>/ and the script
# exits 1. Once fixed, copy it into fuzz/regressions/<harness>/: the tests
# replay that folder on every build. fuzz/README.md has the details.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=(-max_total_time=60)
harnesses=()
while (($#)); do
  case "$1" in
    --time) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (expected --time SECONDS or --runs N)" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done

source scripts/checked_build.sh
checked_configure
all=$(cat "$build_dir/fuzz/harnesses.txt")
if ((${#harnesses[@]} == 0)); then read -r -a harnesses <<<"$all"; fi
for h in "${harnesses[@]}"; do
  if [[ " $all " != *" $h "* ]]; then
    echo "fuzz.sh: unknown harness '$h' (harnesses: $all)" >&2
    exit 2
  fi
done

checked_build "${harnesses[@]/#/fuzz_}"

status=0
printf '%-18s %12s %9s %10s  %s\n' harness executions seconds "execs/s" result >&2
for h in "${harnesses[@]}"; do
  corpus="$build_dir/fuzz/corpus/$h"
  findings="$build_dir/fuzz/findings/$h"
  mkdir -p "$corpus" "$findings"
  # Seeds (fuzz/seeds, fuzz/regressions, fixtures named in fuzz/CMakeLists.txt)
  # are copied into the working corpus, which libFuzzer then extends.
  while IFS= read -r seed; do
    [ -n "$seed" ] || continue
    if [ -d "$seed" ]; then
      find "$seed" -type f -exec sh -c 'for f; do cp -n "$f" "$0/seed-$(cksum < "$f" | cut -d" " -f1)"; done' "$corpus" {} +
    elif [ -f "$seed" ]; then
      cp -n "$seed" "$corpus/seed-$(cksum < "$seed" | cut -d' ' -f1)"
    fi
  done <"$build_dir/fuzz/$h.seeds"
  log="$build_dir/fuzz/$h.log"
  start=$(date +%s%N)
  set +e
  "$build_dir/bin/fuzz_$h" "${limit[@]}" -timeout=30 -rss_limit_mb=4096 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$findings/" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  runs=${runs:-0}
  if ((rc == 0)); then
    result="no finding"
  else
    result="FINDING (exit $rc): $(ls -t "$findings" | head -1) - see $log"
    status=1
  fi
  rate=$(awk -v r="$runs" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }')
  printf '%-18s %12s %9s %10s  %s\n' "$h" "$runs" "$secs" "$rate" "$result" >&2
done
exit $status
