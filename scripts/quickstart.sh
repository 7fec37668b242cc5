#!/usr/bin/env bash
# The quickstart: install what is missing, build, convert stories260K to
# Hugging Face layout (first use only), search it with configs/quickstart.yaml
# (trace_correlation + evolutionary, about 70% of the non-embedding
# parameters; the best model is exported into the run folder), recover the
# pruned model with a short training run (60 AdamW steps on the same samples),
# then evaluate the base model, the pruned one and the recovered one. Each
# step prints one JSON line.
#
#   bash scripts/quickstart.sh [--set key=value ...]   (extra args go to `tracenas run`)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bin=./"${TRACENAS_BUILD_DIR:-build}"/bin/tracenas
data=tokens:../shared/data/stories260K-samples.u16
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

if [ ! -f models/stories260K/config.json ]; then
  "$bin" convert llama2c ../shared/models/stories260K.bin --out models/stories260K
fi
name=${TRACENAS_QUICKSTART_NAME:-quickstart-$(date +%Y%m%d-%H%M%S)}
"$bin" run configs/quickstart.yaml --set run.name="$name" "$@"
"$bin" train --model "runs/$name/model" --data "$data" --out "runs/$name/recovered" \
  --steps 60 --seq-len 256 --batch 8 --lr 2e-3 --min-lr 2e-4 --schedule cosine --warmup-steps 5
echo "base model:" >&2
"$bin" eval --model models/stories260K --data "$data" --seq-len 256 --batch 8
echo "pruned model (runs/$name/model, before recovery training):" >&2
"$bin" eval --model "runs/$name/model" --data "$data" --seq-len 256 --batch 8
echo "pruned model after recovery training (runs/$name/recovered):" >&2
"$bin" eval --model "runs/$name/recovered" --data "$data" --seq-len 256 --batch 8
