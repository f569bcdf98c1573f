#!/usr/bin/env bash
# Trains the shipped story model from scratch (after scripts/setup.sh) and, with --install,
# replaces models/story-small/ with it. Every stage resumes where it stopped: run it again after
# Ctrl-C, a crash or a time limit and it continues (a stage that is done is skipped).
#   1. build blockscribe (release) and prepare the built-in story corpus (Austen + King James)
#   2. train the teacher (samples/configs/story-small.toml, 4,400 steps: about 2.5 h on 2 cores)
#   3. distil it in SDTT rounds (samples/configs/story-small-distill.toml): a student for 16
#      steps per block learns from the teacher at 32, then 8 from 16, 4 from 8
#   4. evaluate the teacher and the last student in every memory mode (validation split)
#   5. with --install: the last student, as F16, with its tokenizer into models/story-small/
#      (the model card there, models/story-small/README.md, is written by hand from step 4's
#      figures and bench/bench_generate's: update it with the model)
# BS_TRAIN_BUDGET=SECONDS bounds each training stage's time in one invocation (default: none).
set -euo pipefail
cd "$(dirname "$0")/.."
install=0
for arg in "$@"; do
  case "$arg" in
    --install) install=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "train.sh: unknown argument '$arg' (only --install)" >&2; exit 2 ;;
  esac
done
scripts/build.sh cpu-release blockscribe
bin=build/cpu-release/cli/blockscribe
threads="$(nproc)"
budget=()
[ -n "${BS_TRAIN_BUDGET:-}" ] && budget=(--time-budget "$BS_TRAIN_BUDGET")
"$bin" -t "$threads" corpus prepare --source stories --out data/stories --val-permille 50

# A stage: train into $1 (resuming if it holds a run); the rest are train's arguments. A stage
# stopped by its time budget ends the script (run it again to continue).
stage() {
  local out="$1"; shift
  if [ -f "$out/state.safetensors" ]; then
    "$bin" -t "$threads" train --resume "$out" "$@" "${budget[@]}"
  else
    "$bin" -t "$threads" train --set train.out="$out" "$@" "${budget[@]}"
  fi
  local at want
  at="$("$bin" info "$out/model.safetensors" | sed -n 's/^train_step *//p' | head -1)"
  want="$("$bin" info "$out/model.safetensors" | sed -n 's/^steps *= *//p' | head -1)"
  if [ -n "$at" ] && [ -n "$want" ] && [ "$at" -lt "$want" ]; then
    echo "train.sh: $out is at step $at of $want (time budget): run scripts/train.sh again" >&2
    exit 0
  fi
}

echo "train.sh: teacher -> runs/story-small" >&2
stage runs/story-small --config samples/configs/story-small.toml
teacher=runs/story-small/model.safetensors
for s in 16 8 4; do
  echo "train.sh: distillation round, student for $s steps per block -> runs/story-small-s$s" >&2
  stage "runs/story-small-s$s" --teacher "$teacher" --student-steps "$s" \
    --config samples/configs/story-small-distill.toml
  teacher="runs/story-small-s$s/model.safetensors"
done
for m in runs/story-small runs/story-small-s4; do
  echo "train.sh: validation NLL bound of $m in every memory mode" >&2
  "$bin" -t "$threads" eval --model "$m/model.safetensors" --data data/stories --memory all
done
if [ "$install" = 1 ]; then
  mkdir -p models/story-small
  "$bin" convert -m runs/story-small-s4/model.safetensors -o models/story-small/model.safetensors \
    --weights f16 --force
  cp data/stories/tokenizer.model models/story-small/tokenizer.model
  echo "train.sh: installed models/story-small/ (update its README.md with the new figures)" >&2
fi
