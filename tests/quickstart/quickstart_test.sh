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
         best_arch.json model/config.json model/model.safetensors model.gguf; do
  [ -s "$run/$f" ] || { echo "quickstart_test: missing $run/$f" >&2; exit 1; }
done
lines=$(grep -c . "$run/candidates.jsonl")
[ "$lines" -ge 50 ] || { echo "quickstart_test: only $lines candidates" >&2; exit 1; }
[ -s "$run/recovered/model.safetensors" ] || { echo "quickstart_test: no recovered model" >&2; exit 1; }
# The last five JSON lines: the run, the recovery training, the evals of the
# base, pruned and recovered models.
line() { tail -"$1" "$out" | head -1; }
fail() { echo "quickstart_test: $1" >&2; cat "$out" >&2; exit 1; }
line 5 | grep -q '"best_json"' || fail "no run result"
line 4 | grep -q '"steps":60' || fail "no training result"
line 3 | grep -q '"loss":2.89197' || fail "base eval"
line 2 | grep -q '"tokens":130560' || fail "pruned eval"
line 1 | grep -q '"tokens":130560' || fail "recovered eval"
# Recovery lowers the pruned model's loss.
pruned=$(line 2 | sed -E 's/.*"loss":([0-9.eE+-]+).*/\1/')
recovered=$(line 1 | sed -E 's/.*"loss":([0-9.eE+-]+).*/\1/')
awk -v a="$recovered" -v b="$pruned" 'BEGIN { exit !(a < b) }' ||
  fail "recovered loss $recovered is not below the pruned model's $pruned"
echo "quickstart_test: ok ($lines candidates)"
