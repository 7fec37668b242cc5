#!/usr/bin/env bash
# The best objective each search strategy reaches on configs/quickstart.yaml
# with the same evaluation budget, over several seeds (a benchmark: prints a
# table, asserts nothing). Needs models/stories260K (scripts/quickstart.sh).
#
#   bash bench/compare_strategies.sh [BUDGET] [SEEDS...]     (default: 60, seeds 0 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./"${TRACENAS_BUILD_DIR:-build}"/bin/tracenas
budget=${1:-60}
shift || true
seeds=("$@")
((${#seeds[@]})) || seeds=(0 1 2)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
out=runs/compare-strategies-$$
printf "%-13s %s\n" strategy "best trace_correlation per seed (${seeds[*]}), budget $budget"
for strategy in random evolutionary bayesian; do
  row=""
  for seed in "${seeds[@]}"; do
    line=$("$bin" run configs/quickstart.yaml --set run.output_dir="$out" \
      --set run.name="$strategy-$seed" --set run.seed="$seed" \
      --set search.strategy="$strategy" --set search.max_evaluations="$budget" \
      --set output.export_best=false 2>/dev/null | tail -1)
    best=$(sed -E 's/.*"objective":([-0-9.eE+]+).*/\1/' <<<"$line")
    row="$row $best"
  done
  printf "%-13s%s\n" "$strategy" "$row"
done
rm -rf "$out"
