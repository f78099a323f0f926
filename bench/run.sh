#!/usr/bin/env bash
# bench/run.sh [PATIENTS] — the issue-4 mapping benchmark (vitals module).
#
# On a generated clinic (default 100,000 patients, seed 42), in one run:
#   1. `ferry run --modules vitals --json` into NDJSON (project made by `ferry init`, clinic.sql
#      staged untimed, local_offset -05:00, system_base http://ferry.example, every ferry-clinic
#      mapping + concept map copied so refs resolve);
#   2. the same mapping as ONE DuckDB SQL query writing JSON lines (bench/run_peers.py duckdb);
#   3. the same mapping in plain pandas (bench/run_peers.py pandas).
# Each is measured with /usr/bin/time -v (wall, peak RSS). Prints a table of rows/s and ratios.
# Targets (issue 4): Ferry rows/s >= DuckDB's, >= 20x pandas', peak RSS < 1 GB.
#
# Environment: SEED (42), FERRY (target/release/ferry), PY (bench/.venv/bin/python, made with
# duckdb and pandas when missing), WORK (bench/work), SKIP_FERRY/SKIP_DUCKDB/SKIP_PANDAS=1.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PATIENTS="${1:-${PATIENTS:-100000}}"
SEED="${SEED:-42}"
FERRY="${FERRY:-$ROOT/target/release/ferry}"
WORK="${WORK:-$ROOT/bench/work}"
VENV="$ROOT/bench/.venv"
PY="${PY:-$VENV/bin/python}"
CLINIC="$WORK/clinic-$PATIENTS-s$SEED"
OUT="$WORK/vitals-run-$PATIENTS"
PROJECT="$OUT/project"

if [[ ! -x "$FERRY" ]]; then
    echo "building ferry (release)" >&2
    cargo build --release -p ferry
fi
if ! "$PY" -c 'import duckdb, pandas' 2>/dev/null; then
    [[ -x "$PY" ]] || python3 -m venv "$VENV"
    "$PY" -m pip install -q duckdb pandas
fi
if [[ ! -f "$CLINIC/clinic.sql" || ! -d "$CLINIC/csv" ]]; then
    echo "generating clinic: $PATIENTS patients, seed $SEED -> $CLINIC" >&2
    "$FERRY" generate -q --patients "$PATIENTS" --seed "$SEED" "$CLINIC"
fi

rm -rf "$OUT"
mkdir -p "$OUT"

# --- untimed setup: project + staging ------------------------------------------------------
"$FERRY" init "$PROJECT" >/dev/null
sed -i 's/^# *local_offset = "-05:00"/local_offset = "-05:00"/' "$PROJECT/ferry.toml"
grep -q '^local_offset = "-05:00"' "$PROJECT/ferry.toml" || {
    echo "could not set local_offset in $PROJECT/ferry.toml" >&2
    exit 1
}
# the library's local systems (`system('sid/mrn')`) under the generated clinic's example base
sed -i 's|^# *system_base = .*|system_base = "http://ferry.example"|' "$PROJECT/ferry.toml"
grep -q '^system_base = "http://ferry.example"' "$PROJECT/ferry.toml" || {
    echo "could not set system_base in $PROJECT/ferry.toml" >&2
    exit 1
}
cp "$ROOT"/modules/ferry-clinic/mappings/*.toml "$PROJECT/mappings/"
cp "$ROOT"/modules/ferry-clinic/concept-maps/* "$PROJECT/concept-maps/"
echo "staging $CLINIC/clinic.sql (untimed)" >&2
"$FERRY" -C "$PROJECT" stage "$CLINIC/clinic.sql" -q
# warm the page cache for the CSV inputs of the peers
cat "$CLINIC/csv/vitals.csv" "$CLINIC/csv/patients.csv" >/dev/null

timed() { # name, command...
    local name="$1"
    shift
    echo "== $name: $*" >&2
    /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.json"
}

[[ "${SKIP_FERRY:-0}" == 1 ]] || timed ferry "$FERRY" -C "$PROJECT" run --modules vitals --json
[[ "${SKIP_DUCKDB:-0}" == 1 ]] || timed duckdb "$PY" "$ROOT/bench/run_peers.py" duckdb "$CLINIC/csv" "$OUT/duckdb.ndjson"
[[ "${SKIP_PANDAS:-0}" == 1 ]] || timed pandas "$PY" "$ROOT/bench/run_peers.py" pandas "$CLINIC/csv" "$OUT/pandas.ndjson"

# --- report --------------------------------------------------------------------------------
"$PY" - "$OUT" <<'EOF'
import json, os, re, sys
out = sys.argv[1]

def parse_time(path):
    t = open(path).read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
    s = 0.0
    for part in wall.split(":"):
        s = s * 60 + float(part)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
    cpu = float(re.search(r"User time \(seconds\): (\S+)", t).group(1)) + float(
        re.search(r"System time \(seconds\): (\S+)", t).group(1))
    return s, rss / 1024, cpu

rows = {}
for tool in ("ferry", "duckdb", "pandas"):
    tp = os.path.join(out, tool + ".time")
    if not os.path.exists(tp):
        continue
    wall, rss, cpu = parse_time(tp)
    j = json.load(open(os.path.join(out, tool + ".json")))
    if tool == "ferry":
        m = j["modules"][0]
        src, res = m["source_rows"], m["resources"]
        extra = f"migrated {m['migrated']}, excluded {m['excluded']}, exceptions {m['exceptions']}"
    else:
        src, res, extra = j["source_rows"], j["resources"], ""
    rows[tool] = dict(src=src, res=res, wall=wall, rps=src / wall, rss=rss, cpu=cpu, extra=extra)

print("| tool | source rows | resources | wall s | source rows/s | peak RSS MiB | CPU user+sys s |")
print("|---|---:|---:|---:|---:|---:|---:|")
for t, r in rows.items():
    print(f"| {t} | {r['src']:,} | {r['res']:,} | {r['wall']:.2f} | {r['rps']:,.0f} | {r['rss']:.0f} | {r['cpu']:.1f} |")
if "ferry" in rows:
    f = rows["ferry"]
    print()
    print("ferry:", f["extra"])
    for t, target in (("duckdb", 1.0), ("pandas", 20.0)):
        if t in rows:
            ratio = f["rps"] / rows[t]["rps"]
            ok = "met" if ratio >= target else "MISSED"
            print(f"Ferry rows/s / {t} rows/s = {ratio:.2f}x (target >= {target:g}x: {ok})")
    ok = "met" if f["rss"] < 1024 else "MISSED"
    print(f"Ferry peak RSS {f['rss']:.0f} MiB (target < 1024 MiB: {ok})")
    for t in ("duckdb", "pandas"):
        if t in rows:
            print(f"resources: ferry {f['res']:,} vs {t} {rows[t]['res']:,} (diff {rows[t]['res'] - f['res']:+,})")
EOF
