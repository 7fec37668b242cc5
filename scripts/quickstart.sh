#!/usr/bin/env bash
# The quickstart: install what is missing, build, convert stories260K to
# Hugging Face layout, run configs/quickstart.yaml (validates it, creates the
# run folder and every component), then evaluate the base model, prune it to
# configs/archs/stories260K-half.json (wanda importance on the calibration
# set) and evaluate the pruned model. Each step prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bin=./"${TRACENAS_BUILD_DIR:-build}"/bin/tracenas
data=tokens:../shared/data/stories260K-samples.u16
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

if [ ! -f models/stories260K/config.json ]; then
  "$bin" convert llama2c ../shared/models/stories260K.bin --out models/stories260K
fi
stamp=$(date +%Y%m%d-%H%M%S)
"$bin" run configs/quickstart.yaml --set run.name="quickstart-$stamp" "$@"
echo "base model:" >&2
"$bin" eval --model models/stories260K --data "$data" --seq-len 256 --batch 8
rm -rf "runs/quickstart-$stamp/pruned"
"$bin" prune --model models/stories260K --arch configs/archs/stories260K-half.json \
  --calib "$data" --seq-len 256 --batch 4 --batches 2 --out "runs/quickstart-$stamp/pruned"
echo "pruned model (before recovery training):" >&2
"$bin" eval --model "runs/quickstart-$stamp/pruned" --data "$data" --seq-len 256 --batch 8
