#!/usr/bin/env bash
# Installs everything blockscribe needs on Debian 12, from Debian's own packages (run as root).
# Safe to run again: apt-get skips what is installed.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git
  libeigen3-dev libopenblas-dev            # matrices: Eigen, products through OpenBLAS
  libsentencepiece-dev                     # tokenizer
  librocksdb-dev                           # session store
  libgtest-dev libgmock-dev tmux           # tests (tmux: a terminal for the CLI tests)
  clang libclang-rt-14-dev                 # the libFuzzer programs (scripts/fuzz.sh)
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libicu-dev zlib1g-dev libxxhash-dev      # sentences, .gz docs, hashes
  r-base-core r-cran-janeaustenr bible-kjv linux-doc-6.1   # the built-in public corpora
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present" >&2
fi
