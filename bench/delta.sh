#!/usr/bin/env bash
# bench/delta.sh [PATIENTS] [DAYS] — a delta run against a full run of the same newer snapshot.
#
# On a generated clinic (default 20,000 patients, seed 42) and the same clinic DAYS later
# (default 7; `ferry generate --days-later`), in one project with the ferry-clinic library:
#   1. untimed: stage both dumps; `ferry run` of snapshot 1 (the base, run 1).
#   2. `ferry run --base 1` (the delta of snapshot 2) and `ferry run --snapshot 2` (a full run of
#      the same snapshot), then `ferry verify` of each. Each measured with /usr/bin/time -v.
# Prints wall time, CPU time, peak RSS, resources written, and the delta / full ratios; checks
# that both verifications are GO.
#
# Environment: SEED (42), FERRY (target/release/ferry), WORK (bench/work).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PATIENTS="${1:-${PATIENTS:-20000}}"
DAYS="${2:-${DAYS:-7}}"
SEED="${SEED:-42}"
FERRY="${FERRY:-$ROOT/target/release/ferry}"
WORK="${WORK:-$ROOT/bench/work}"
OUT="$WORK/delta-$PATIENTS-d$DAYS"
PROJECT="$OUT/project"

if [[ ! -x "$FERRY" ]]; then
    echo "building ferry (release)" >&2
    cargo build --release -p ferry
fi
rm -rf "$OUT"
mkdir -p "$OUT"
"$FERRY" generate -q --sql-only --patients "$PATIENTS" --seed "$SEED" "$OUT/base"
"$FERRY" generate -q --sql-only --patients "$PATIENTS" --seed "$SEED" --days-later "$DAYS" "$OUT/later"
"$FERRY" init -q "$PROJECT" --library clinic
cd "$PROJECT"
"$FERRY" stage -q "$OUT/base/clinic.sql"
"$FERRY" stage -q "$OUT/later/clinic.sql"
echo "base: full run of snapshot 1 (untimed)" >&2
"$FERRY" run -q --snapshot 1

measure() { # NAME CMD... -> NAME wall cpu rss
    local name="$1"
    shift
    local log="$OUT/$name.time"
    /usr/bin/time -v "$@" >"$OUT/$name.out" 2>"$log"
    local wall cpu rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
    cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$log")
    rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$log")
    echo "$name $wall $cpu $rss"
}

D_RUN=$(measure delta-run "$FERRY" run --base 1 --json)
F_RUN=$(measure full-run "$FERRY" run --snapshot 2 --json)
D_VER=$(measure delta-verify "$FERRY" verify --run 2 --json)
F_VER=$(measure full-verify "$FERRY" verify --run 3 --json)
for v in delta-verify full-verify; do
    grep -q '"verdict": "go"' "$OUT/$v.out" || {
        echo "$v is not GO: see $OUT/$v.out" >&2
        exit 1
    }
done
resources() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(o["resources"] for o in d["outputs"]))' "$1"; }
DR=$(resources "$OUT/delta-run.out")
FR=$(resources "$OUT/full-run.out")

echo
echo "delta of a $PATIENTS-patient clinic, $DAYS days later ($(nproc) cores)"
printf '%-14s %9s %9s %10s %11s\n' step wall_s cpu_s peak_MB resources
for row in "$D_RUN $DR" "$F_RUN $FR" "$D_VER -" "$F_VER -"; do
    set -- $row
    printf '%-14s %9.1f %9.1f %10.0f %11s\n' "$1" "$2" "$3" "$(($4 / 1024))" "$5"
done
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
set -- $D_RUN; DW=$2
set -- $F_RUN; FW=$2
set -- $D_VER; DV=$2
set -- $F_VER; FV=$2
echo "delta / full: run $(ratio "$DW" "$FW")x wall, verify $(ratio "$DV" "$FV")x wall, resources written $(ratio "$DR" "$FR")x"
