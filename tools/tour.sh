#!/usr/bin/env bash
# Runs the README's tour verbatim: the fenced block under "## A 5-minute tour", line by line, in a
# new empty folder, with `ferry` on PATH (FERRY_BIN, default target/debug/ferry). Any command that
# fails (a NO-GO from `ferry verify` included) fails the tour.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${FERRY_BIN:-$root/target/debug/ferry}"
[ -x "$bin" ] || { echo "tour: no ferry binary at $bin (cargo build -p ferry, or set FERRY_BIN)" >&2; exit 1; }
mkdir -p "${TMPDIR:-/tmp}/ferry-bin-$$"
ln -sf "$bin" "${TMPDIR:-/tmp}/ferry-bin-$$/ferry"
export PATH="${TMPDIR:-/tmp}/ferry-bin-$$:$PATH"
script="$(awk '/^## A 5-minute tour/{t=1; next} t && /^```sh/{c=1; next} c && /^```/{exit} c{print}' "$root/README.md")"
[ -n "$script" ] || { echo "tour: no sh block under '## A 5-minute tour' in README.md" >&2; exit 1; }
work="$(mktemp -d)"
cd "$work"
echo "tour: running $(printf '%s\n' "$script" | grep -c '^ferry\|^cd\|&&') commands in $work"
start=$(date +%s)
# Each line as written; `set -e` stops at the first failure and the trap names it.
trap 'echo "tour: FAILED at: $BASH_COMMAND" >&2' ERR
set -o errtrace
eval "$script"
echo "tour: done in $(( $(date +%s) - start )) s"
