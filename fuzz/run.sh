#!/usr/bin/env bash
# Fuzz every parser for N seconds each (default 60). Used by CI with a short budget; run longer by hand:
#   bash fuzz/run.sh 600
# cargo-fuzz needs nightly-only flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them
# (this machine has no other toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
targets=$(grep -E '^name = ' fuzz/Cargo.toml | sed -n '2,$p' | sed -E 's/name = "(.*)"/\1/')
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  # Seed the corpus with the committed fixtures of that parser, if any.
  if [ -d "crates/ferry-source/tests/fixtures/$t" ]; then
    find "crates/ferry-source/tests/fixtures/$t" -type f -size -200k -exec cp {} "fuzz/corpus/$t/" \;
  fi
  echo "fuzzing $t for ${secs}s"
  cargo fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 2>&1 | tail -n 5
done
