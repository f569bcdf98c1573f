#!/usr/bin/env bash
# Builds the libFuzzer programs (the fuzz preset: clang, AddressSanitizer + UBSan) and fuzzes
# every target for SECONDS seconds (default 15; a longer run: `scripts/fuzz.sh 300`), starting
# from the kept inputs in fuzz/corpus/<target>/. New interesting inputs go to a temporary folder,
# not into the repository; an input that crashes a target is copied to fuzz/crashes/ and the run
# fails: add it to fuzz/corpus/<target>/ with the fix, so it stays a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"
root="$(pwd)"
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found (scripts/setup.sh installs clang); skipped" >&2
  exit 0
fi
scripts/build.sh fuzz
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for t in checkpoint config session tokenizer; do
  mkdir -p "$work/$t" "$work/crash-$t"
  if ! (cd "$work/crash-$t" && "$root/build/fuzz/fuzz/fuzz_$t" -max_total_time="$seconds" \
        -rss_limit_mb=4096 -print_final_stats=1 "$work/$t" "$root/fuzz/corpus/$t" \
        > "$work/$t.log" 2>&1); then
    echo "fuzz: $t crashed; the input and log are in fuzz/crashes/$t" >&2
    mkdir -p "fuzz/crashes/$t"
    cp "$work/crash-$t"/* "$work/$t.log" "fuzz/crashes/$t/" 2>/dev/null || true
    tail -30 "$work/$t.log" >&2
    status=1
  else
    echo "fuzz: $t: $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second' "$work/$t.log"), no crash" >&2
  fi
done
exit $status
