#!/usr/bin/env bash
# Staging a workbook against staging the same clinic as CSV (and against converting the workbook
# to CSV with `xlsx2csv` from PyPI, when a venv with it is given). The clinic is generated once
# with `--csv-only --xlsx`: `clinic.xlsx` (one sheet per table) and `csv/` hold the same values.
# Prints wall time, input size, peak RSS and the xlsx/CSV ratios.
#
# Usage: bench/sheets.sh [PATIENTS]           (default: 20000; a sheet holds 1,048,575 rows)
# Environment: SEED=42, SKIP_BUILD=1, FERRY=path, WORK=bench/work, XLSX2CSV=path/to/xlsx2csv
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SEED="${SEED:-42}"
N="${1:-20000}"
WORK="${WORK:-$HERE/work}"
FERRY="${FERRY:-$ROOT/target/release/ferry}"
TIME=/usr/bin/time

die() { printf 'sheets.sh: %s\n' "$*" >&2; exit 1; }
[[ "$N" =~ ^[0-9]+$ ]] || die "the argument is a patient count, got '$N'"
[[ -x $TIME ]] || die "needs GNU time at $TIME: apt-get install -y time"
if [[ -z "${SKIP_BUILD:-}" ]]; then (cd "$ROOT" && cargo build --release -p ferry) >&2; fi
[[ -x "$FERRY" ]] || die "no ferry binary at $FERRY (build it: cargo build --release -p ferry)"
mkdir -p "$WORK"

clinic="$WORK/sheets-clinic-$N-s$SEED"
if [[ ! -f "$clinic/.complete" ]]; then
  rm -rf "$clinic"
  echo "generating $N patients (CSV and xlsx) -> $clinic" >&2
  "$FERRY" generate "$clinic" --patients "$N" --seed "$SEED" --csv-only --xlsx >&2
  touch "$clinic/.complete"
fi

RUN="$WORK/sheets-run"
rm -rf "$RUN"
mkdir -p "$RUN"

# stage NAME PATH: wall seconds and peak RSS (MiB) of `ferry stage PATH` in a fresh project.
stage() {
  local name=$1 path=$2 proj="$RUN/project-$1"
  cat "$path" > /dev/null 2>&1 || cat "$path"/* > /dev/null   # warm the page cache
  "$FERRY" init "$proj" > /dev/null
  local t0 t1
  t0=$(date +%s%N)
  "$TIME" -v -o "$RUN/$name.time" "$FERRY" -C "$proj" stage "$path" --json > "$RUN/$name.json"
  t1=$(date +%s%N)
  local rss
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$RUN/$name.time")
  echo "$(( (t1 - t0) / 1000000 )) $(( rss / 1024 ))"
}

read -r csv_ms csv_rss < <(stage csv "$clinic/csv")
read -r xlsx_ms xlsx_rss < <(stage xlsx "$clinic/clinic.xlsx")
csv_mb=$(du -sb --apparent-size "$clinic/csv" | awk '{printf "%.1f", $1/1e6}')
xlsx_mb=$(du -sb --apparent-size "$clinic/clinic.xlsx" | awk '{printf "%.1f", $1/1e6}')
# Same tables, rows and content hashes (the snapshot hash also covers table order, which differs:
# the CSV folder is staged in file-name order, the workbook in sheet order).
tables() { "$FERRY" -C "$RUN/project-$1" snapshots 1 --json |
  python3 -c 'import json,sys; print(sorted((t["name"], t["rows"], t["content_sha256"]) for t in json.load(sys.stdin)["tables"]))'; }
same=$([[ "$(tables csv)" == "$(tables xlsx)" ]] && echo yes || echo NO)

printf '\n%s patients, seed %s (same staged content: %s)\n' "$N" "$SEED" "$same"
printf '| input | size MB | wall s | peak RSS MiB |\n|---|---:|---:|---:|\n'
printf '| CSV folder | %s | %.2f | %s |\n' "$csv_mb" "$(bc -l <<< "$csv_ms/1000")" "$csv_rss"
printf '| clinic.xlsx | %s | %.2f | %s |\n' "$xlsx_mb" "$(bc -l <<< "$xlsx_ms/1000")" "$xlsx_rss"
if [[ -n "${XLSX2CSV:-}" ]]; then
  out="$RUN/xlsx2csv"
  t0=$(date +%s%N)
  "$TIME" -v -o "$RUN/xlsx2csv.time" "$XLSX2CSV" --all "$clinic/clinic.xlsx" "$out" > /dev/null
  t1=$(date +%s%N)
  x_ms=$(( (t1 - t0) / 1000000 ))
  x_rss=$(( $(awk -F': ' '/Maximum resident set size/ {print $2}' "$RUN/xlsx2csv.time") / 1024 ))
  printf '| xlsx2csv --all (conversion only) | %s | %.2f | %s |\n' "$xlsx_mb" "$(bc -l <<< "$x_ms/1000")" "$x_rss"
  printf 'ferry stage clinic.xlsx / xlsx2csv: %.2fx the time\n' "$(bc -l <<< "$xlsx_ms/$x_ms")"
fi
printf 'ferry stage clinic.xlsx / ferry stage csv/: %.2fx the time, %.2fx the peak RSS\n' \
  "$(bc -l <<< "$xlsx_ms/$csv_ms")" "$(bc -l <<< "$xlsx_rss/$csv_rss")"
