#!/usr/bin/env bash
# Is Ferry's memory flat in the input size? Stages generated clinics of several sizes (the dump,
# then the CSV folder) into fresh projects and prints peak RSS next to the input size.
#
# Usage: bench/stage-rss.sh [SIZES...]         (default: 10000 100000 patients)
# Environment: SEED=42, SKIP_BUILD=1, FERRY=path, WORK=bench/work (clinics are shared with stage.sh)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SEED="${SEED:-42}"
WORK="${WORK:-$HERE/work}"
FERRY="${FERRY:-$ROOT/target/release/ferry}"
TIME=/usr/bin/time
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(10000 100000)

die() { printf 'stage-rss.sh: %s\n' "$*" >&2; exit 1; }
[[ -x $TIME ]] || die "needs GNU time at $TIME: apt-get install -y time"
if [[ -z "${SKIP_BUILD:-}" ]]; then (cd "$ROOT" && cargo build --release -p ferry) >&2; fi
[[ -x "$FERRY" ]] || die "no ferry binary at $FERRY (build it: cargo build --release -p ferry)"
mkdir -p "$WORK"
cp "$FERRY" "$WORK/ferry-rss"
FERRY="$WORK/ferry-rss"

RUN="$WORK/rss"
rm -rf "$RUN"
mkdir -p "$RUN"
printf '| patients | input | input MB | wall s | MB/s | rows | peak RSS MiB |\n|---:|---|---:|---:|---:|---:|---:|\n' > "$RUN/table.md"

for n in "${SIZES[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "sizes are patient counts, got '$n'"
  clinic="$WORK/clinic-$n-s$SEED"
  if [[ ! -f "$clinic/.complete" ]]; then
    rm -rf "$clinic"
    echo "generating $n patients -> $clinic" >&2
    "$FERRY" generate "$clinic" --patients "$n" --seed "$SEED" >&2
    touch "$clinic/.complete"
  fi
  for input in clinic.sql csv; do
    path="$clinic/$input"
    bytes=$(du -sb --apparent-size "$path" | cut -f1)
    cat "$path" > /dev/null 2>&1 || cat "$path"/* > /dev/null   # warm the page cache
    proj="$RUN/project-$n-$input"
    "$FERRY" init "$proj" > /dev/null
    t0=$(date +%s%N)
    "$TIME" -v -o "$RUN/$n-$input.time" "$FERRY" -C "$proj" stage "$path" --json > "$RUN/$n-$input.json"
    t1=$(date +%s%N)
    rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$RUN/$n-$input.time")
    rows=$(python3 "$HERE/manifest.py" ferry-rows "$RUN/$n-$input.json")
    awk -v n="$n" -v in_="$input" -v b="$bytes" -v ns="$((t1 - t0))" -v rows="$rows" -v kb="$rss_kb" 'BEGIN {
      s = ns / 1e9; printf "| %d | %s | %.0f | %.2f | %.0f | %d | %.0f |\n", n, in_, b / 1e6, s, b / 1e6 / s, rows, kb / 1024
    }' >> "$RUN/table.md"
    rm -rf "$proj"
  done
done
cat "$RUN/table.md"
