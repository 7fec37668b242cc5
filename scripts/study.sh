#!/usr/bin/env bash
# The proxy validation study on stories260K (configs/study/stories260K.yaml):
# install what is missing, build, convert stories260K (first use only), then
# `tracenas study`. Results go to runs/study-stories260K/ (study.md, study.json,
# study.jsonl, plots/); a killed study continues with --resume.
#
#   bash scripts/study.sh [--resume] [--set key=value ...]
#   bash scripts/study.sh paper-table [--resume] [--set key=value ...]
#       the paper's proxy table (configs/study/paper-table.yaml: every proxy,
#       three seeds, accuracy on the multiple-choice task that
#       scripts/story_choices.py builds from the held-out samples;
#       runs/study-paper-table/, about an hour)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bin=./"${TRACENAS_BUILD_DIR:-build}"/bin/tracenas
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
if [ ! -f models/stories260K/config.json ]; then
  "$bin" convert llama2c ../shared/models/stories260K.bin --out models/stories260K
fi
config=configs/study/stories260K.yaml
if [ "${1:-}" = "paper-table" ]; then
  config=configs/study/paper-table.yaml
  shift
  if [ ! -f models/stories260K-choices.jsonl ]; then
    python3 scripts/story_choices.py --samples ../shared/data/stories260K-samples.u16 \
      --out models/stories260K-choices.jsonl
  fi
fi
"$bin" study "$config" "$@"
