#!/usr/bin/env bash
# The README's quickstart command as written (bash scripts/quickstart.sh),
# against the build under test: the run folder holds the resolved config, the
# log, candidates.jsonl, best.json, summary.json and the pruned model, and
# `tracenas eval` ran on that model.
#   quickstart_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
name=quickstart-test-$$
out=$(mktemp)
trap 'rm -f "$out"; rm -rf "$src/runs/$name"' EXIT
cd "$src"
TRACENAS_BUILD_DIR=$(realpath --relative-to="$src" "$build") TRACENAS_QUICKSTART_NAME=$name \
  bash scripts/quickstart.sh > "$out"
run=runs/$name
for f in config.resolved.yaml tracenas.log candidates.jsonl best.json summary.json \
         best_arch.json model/config.json model/model.safetensors; do
  [ -s "$run/$f" ] || { echo "quickstart_test: missing $run/$f" >&2; exit 1; }
done
lines=$(grep -c . "$run/candidates.jsonl")
[ "$lines" -ge 50 ] || { echo "quickstart_test: only $lines candidates" >&2; exit 1; }
# The last three JSON lines: the run, the base model's eval, the pruned model's eval.
tail -3 "$out" | head -1 | grep -q '"best_json"' || { echo "quickstart_test: no run result" >&2; cat "$out" >&2; exit 1; }
tail -2 "$out" | head -1 | grep -q '"loss":2.89197' || { echo "quickstart_test: base eval" >&2; cat "$out" >&2; exit 1; }
tail -1 "$out" | grep -q '"tokens":130560' || { echo "quickstart_test: pruned eval" >&2; cat "$out" >&2; exit 1; }
echo "quickstart_test: ok ($lines candidates)"
