#!/usr/bin/env bash
# The main job, end to end on a fresh machine (after scripts/setup.sh):
#   1. build blockscribe (release)
#   2. prepare the built-in story corpus (Austen + King James Bible): documents, tokenizer, shards
#   3. write an initialised default small model with that tokenizer
#   4. run the model forward over a prompt, block by block, with summary memory
# Training and generation join this script as their issues land.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh cpu-release
bin=build/cpu-release/cli/blockscribe
threads="$(nproc)"
"$bin" -t "$threads" corpus prepare --source stories --out data/stories
mkdir -p runs
if [ ! -f runs/story-small-init.safetensors ]; then
  "$bin" init --config samples/configs/story-small.toml --tokenizer data/stories/tokenizer.model \
    --out runs/story-small-init.safetensors
fi
"$bin" info runs/story-small-init.safetensors | head -20
"$bin" -t "$threads" forward --model runs/story-small-init.safetensors \
  --prompt-file samples/prompts/austen.txt --show
