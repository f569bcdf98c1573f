#!/usr/bin/env bash
# The main job, end to end on a fresh machine (after scripts/setup.sh):
#   1. build blockscribe (release)
#   2. prepare the built-in story corpus (Austen + King James Bible): documents, tokenizer, shards
#   3. train the default small story model (samples/configs/story-small.toml) within a time
#      budget (BS_TRAIN_BUDGET seconds, default 2700); running this script again resumes the
#      training where it stopped until the configured steps are done
#   4. report the validation NLL bound in the four memory modes and draw the loss curves
#   5. write a story from a prompt with the trained model, block by block (stdout), into the
#      session runs/story-session; running the script again continues that story (resume)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh cpu-release
bin=build/cpu-release/cli/blockscribe
threads="$(nproc)"
budget="${BS_TRAIN_BUDGET:-2700}"
run=runs/story-small
"$bin" -t "$threads" corpus prepare --source stories --out data/stories --val-permille 50
if [ -f "$run/state.safetensors" ]; then
  "$bin" -t "$threads" train --config samples/configs/story-small.toml --resume --time-budget "$budget"
else
  "$bin" -t "$threads" train --config samples/configs/story-small.toml --time-budget "$budget"
fi
"$bin" info "$run/model.safetensors" | head -8
"$bin" plot "$run/metrics.jsonl" -o "$run/loss.svg"
"$bin" -t "$threads" eval --model "$run/model.safetensors" --data data/stories --memory all --max-blocks 400
session=runs/story-session
if [ -d "$session" ]; then
  "$bin" -t "$threads" resume --session "$session" --blocks 8
else
  "$bin" -t "$threads" generate --model "$run/model.safetensors" --prompt-file samples/prompts/austen.txt \
    --plan samples/plans/pride.toml --blocks 16 --top-p 0.95 --session "$session"
fi
"$bin" memory entities --session "$session" | head -12
