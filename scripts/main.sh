#!/usr/bin/env bash
# The main job on a fresh machine (after scripts/setup.sh), a few minutes in all:
#   1. build blockscribe (release)
#   2. write a story with the shipped model (models/story-small/, distilled to write a 64-token
#      block in 4 denoising steps) from an Austen prompt, block by block to the terminal, into the
#      session runs/story-session; running the script again continues that story (resume)
#   3. show what the session's memory holds: the entities and the timeline
# Training the model again is scripts/train.sh (hours; resumable); its --install replaces the
# shipped model.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "main.sh: building the blockscribe program (release; a few minutes on 2 cores)" >&2
scripts/build.sh cpu-release blockscribe
bin=build/cpu-release/cli/blockscribe
threads="$(nproc)"
model=models/story-small/model.safetensors
if [ ! -f "$model" ]; then
  echo "main.sh: $model: not found (a checkout without the shipped model? scripts/train.sh --install makes one)" >&2
  exit 1
fi
"$bin" info "$model" | sed -n '1,/^max context/p'
session=runs/story-session
if [ -d "$session" ]; then
  echo "main.sh: continuing the story in $session (delete it to start a new one)" >&2
  "$bin" -t "$threads" resume --session "$session" --blocks 8
else
  echo "main.sh: writing a story into $session" >&2
  "$bin" -t "$threads" generate --model "$model" --prompt-file samples/prompts/austen.txt \
    --plan samples/plans/pride.toml --blocks 16 --session "$session"
fi
echo "main.sh: the session's memory (blockscribe memory entities|timeline --session $session)" >&2
"$bin" memory entities --session "$session" | head -12
"$bin" memory timeline --session "$session" | head -8
