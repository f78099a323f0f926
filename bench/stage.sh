#!/usr/bin/env bash
# Staging benchmark: how fast does `ferry stage` read a mysqldump, next to the I/O floor
# (`cat`), a MariaDB restore of the same dump, and a sqlite3 import of the same clinic's
# CSV export? One run, one machine, one tool after another. See bench/README.md.
#
# Usage: bench/stage.sh [PATIENTS]            (default 100000; or PATIENTS=... in the env)
# Environment (all optional):
#   PATIENTS=100000      patients in the generated clinic
#   SEED=42              generator seed (same seed + N => byte-identical files, so reused)
#   MARIADB_MODES="default tuned"   which MariaDB configurations to time (see mariadb_flags)
#   SKIP_MARIADB=1 / SKIP_SQLITE=1  leave a competitor out
#   SKIP_BUILD=1         use the existing target/release/ferry
#   FERRY=path           ferry binary (default target/release/ferry)
#   WORK=bench/work      work folder (git-ignored)
# The timed commands run as `sh -c '... "$1" ...' sh ARGS`: the single quotes are meant.
# shellcheck disable=SC2016
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PATIENTS="${1:-${PATIENTS:-100000}}"
SEED="${SEED:-42}"
WORK="${WORK:-$HERE/work}"
FERRY="${FERRY:-$ROOT/target/release/ferry}"
MARIADB_MODES="${MARIADB_MODES:-default tuned}"
TIME=/usr/bin/time

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'stage.sh: %s\n' "$*" >&2; exit 1; }

[[ "$PATIENTS" =~ ^[0-9]+$ ]] || die "PATIENTS must be a whole number, got '$PATIENTS'"

# ---------------------------------------------------------------- prerequisites
need_pkgs=()
[[ -x $TIME ]] || need_pkgs+=(time)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [[ -z "${SKIP_MARIADB:-}" ]]; then
  command -v mariadbd >/dev/null || need_pkgs+=(mariadb-server)
  command -v mariadb >/dev/null || need_pkgs+=(mariadb-client)
fi
if [[ -z "${SKIP_SQLITE:-}" ]]; then command -v sqlite3 >/dev/null || need_pkgs+=(sqlite3); fi
if ((${#need_pkgs[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing ${need_pkgs[*]}: run 'sudo apt-get install -y ${need_pkgs[*]}'"
  say "installing ${need_pkgs[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# mariadbd lives in /usr/sbin, which a non-login root shell may not have on PATH.
export PATH="$PATH:/usr/sbin"

if [[ -z "${SKIP_BUILD:-}" ]]; then
  say "building ferry (release)"
  (cd "$ROOT" && cargo build --release -p ferry) >&2
fi
[[ -x "$FERRY" ]] || die "no ferry binary at $FERRY (build it: cargo build --release -p ferry)"

mkdir -p "$WORK"
# Run a private copy, so that a rebuild in the shared target dir cannot swap the binary mid-run.
cp "$FERRY" "$WORK/ferry"
FERRY="$WORK/ferry"
FERRY_VERSION=$("$FERRY" --version)
RUN="$WORK/run-$PATIENTS"          # this run's scratch (projects, databases, logs)
rm -rf "$RUN"
mkdir -p "$RUN"

# ---------------------------------------------------------------- input
CLINIC="$WORK/clinic-$PATIENTS-s$SEED"
if [[ ! -f "$CLINIC/.complete" ]]; then
  say "generating clinic: $PATIENTS patients, seed $SEED -> $CLINIC"
  rm -rf "$CLINIC"
  "$TIME" -v -o "$RUN/generate.time" "$FERRY" generate "$CLINIC" --patients "$PATIENTS" --seed "$SEED" >&2
  touch "$CLINIC/.complete"
else
  say "reusing $CLINIC (deterministic for this seed and size)"
fi
DUMP="$CLINIC/clinic.sql"
[[ -f "$DUMP" ]] || die "the generator wrote no $DUMP"
[[ -f "$CLINIC/manifest.json" ]] || die "the generator wrote no $CLINIC/manifest.json"
DUMP_BYTES=$(stat -c %s "$DUMP")
CSV_BYTES=$(du -sb --apparent-size "$CLINIC/csv" | cut -f1)
MANIFEST_ROWS=$(python3 "$HERE/manifest.py" total "$CLINIC/manifest.json")
# MariaDB 10.x does not know MySQL 8's default collation utf8mb4_0900_ai_ci (ERROR 1273 on the first
# CREATE TABLE). The usual fix when moving a MySQL 8 dump to MariaDB: name utf8mb4_general_ci instead.
# Done once, on a copy, outside the timed part; nothing else in the dump changes.
MARIADB_DUMP="$CLINIC/clinic-mariadb.sql"
if [[ -z "${SKIP_MARIADB:-}" && ! -f "$MARIADB_DUMP.complete" ]]; then
  sed 's/utf8mb4_0900_ai_ci/utf8mb4_general_ci/g' "$DUMP" > "$MARIADB_DUMP"
  touch "$MARIADB_DUMP.complete"
fi

# ---------------------------------------------------------------- measuring
# measure NAME INPUT_BYTES CMD...: runs CMD under /usr/bin/time -v; records wall seconds
# (nanosecond clock around the command), peak RSS (kB), user and system CPU seconds.
RESULTS="$RUN/results.tsv"
printf 'tool\tinput_bytes\twall_s\trss_kb\tuser_s\tsys_s\n' > "$RESULTS"
measure() {
  local name="$1" bytes="$2"; shift 2
  local tf="$RUN/$name.time" t0 t1 rc=0
  # Other work on the machine skews the figures: keep the 1-minute load average for the report.
  echo "$name $(cut -d' ' -f1 /proc/loadavg)" >> "$RUN/loadavg.txt"
  t0=$(date +%s%N)
  "$TIME" -v -o "$tf" "$@" || rc=$?
  t1=$(date +%s%N)
  if ((rc != 0)); then
    echo "stage.sh: '$name' failed (exit $rc); its output is in $RUN/" >&2
    return "$rc"
  fi
  record "$name" "$bytes" "$(( (t1 - t0) / 1000000 ))" \
    "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tf")" \
    "$(awk -F': ' '/User time/ {print $2}' "$tf")" "$(awk -F': ' '/System time/ {print $2}' "$tf")"
}
# record NAME INPUT_BYTES WALL_MS RSS_KB USER_S SYS_S
record() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(awk -v ms="$3" 'BEGIN {printf "%.2f", ms / 1000}')" \
    "$4" "$5" "$6" >> "$RESULTS"
  printf '   %s: %s ms, peak RSS %s kB\n' "$1" "$3" "$4" >&2
}

# ---------------------------------------------------------------- 1. the I/O floor
say "1. cat (warm the page cache, then measure)"
cat "$DUMP" > /dev/null
cat "$CLINIC"/csv/* > /dev/null
if [[ -z "${SKIP_MARIADB:-}" ]]; then cat "$MARIADB_DUMP" > /dev/null; fi
measure cat "$DUMP_BYTES" sh -c 'cat "$1" > /dev/null' sh "$DUMP"

# ---------------------------------------------------------------- 2. ferry stage
say "2. ferry stage clinic.sql (fresh project)"
"$FERRY" init "$RUN/project-sql" >/dev/null
measure ferry_sql "$DUMP_BYTES" sh -c '"$1" -C "$2" stage "$3" --label bench-sql --json > "$4"' \
  sh "$FERRY" "$RUN/project-sql" "$DUMP" "$RUN/ferry_sql.json"
FERRY_ROWS=$(python3 "$HERE/manifest.py" ferry-rows "$RUN/ferry_sql.json")

say "2b. ferry stage csv/ (fresh project; same input as the sqlite3 import)"
"$FERRY" init "$RUN/project-csv" >/dev/null
measure ferry_csv "$CSV_BYTES" sh -c '"$1" -C "$2" stage "$3" --label bench-csv --json > "$4"' \
  sh "$FERRY" "$RUN/project-csv" "$CLINIC/csv" "$RUN/ferry_csv.json"
FERRY_CSV_ROWS=$(python3 "$HERE/manifest.py" ferry-rows "$RUN/ferry_csv.json")

# ---------------------------------------------------------------- 3. MariaDB restore
MARIADB_PID=""
MARIADB_DIR=""
stop_mariadb() {
  if [[ -n "$MARIADB_PID" ]] && kill -0 "$MARIADB_PID" 2>/dev/null; then
    mariadb-admin -S "$MARIADB_DIR/s.sock" -u root shutdown 2>/dev/null || kill "$MARIADB_PID" 2>/dev/null || true
    for _ in $(seq 600); do kill -0 "$MARIADB_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  MARIADB_PID=""
}
trap stop_mariadb EXIT
trap 'stop_mariadb; exit 130' INT TERM

# utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat; the name field
# is in brackets and has no spaces for mariadbd).
server_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The only settings changed from MariaDB's compiled-in defaults (--no-defaults: no my.cnf).
mariadb_flags() {
  case "$1" in
    default) ;;  # 128 MiB buffer pool, 96 MiB redo log, durable (flush at every commit)
    tuned) echo "--innodb-buffer-pool-size=2G --innodb-log-file-size=1G" ;;  # still durable
    unsafe) echo "--innodb-buffer-pool-size=2G --innodb-log-file-size=1G --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0" ;;
    *) die "unknown MariaDB mode '$1' (default, tuned, unsafe)" ;;
  esac
}

MARIADB_VERSION=""
if [[ -z "${SKIP_MARIADB:-}" ]]; then
  MARIADB_VERSION=$(mariadbd --version | sed 's/.*Ver //; s/ for .*//')
  for mode in $MARIADB_MODES; do
    say "3. MariaDB ($mode) restore of clinic.sql"
    MARIADB_DIR="$RUN/mariadb-$mode"
    mkdir -p "$MARIADB_DIR"
    mariadb-install-db --no-defaults --user=root --datadir="$MARIADB_DIR/data" \
      --auth-root-authentication-method=socket > "$MARIADB_DIR/install.log" 2>&1 \
      || die "mariadb-install-db failed: see $MARIADB_DIR/install.log"
    # shellcheck disable=SC2046
    mariadbd --no-defaults --user=root --datadir="$MARIADB_DIR/data" --socket="$MARIADB_DIR/s.sock" \
      --skip-networking --pid-file="$MARIADB_DIR/mariadbd.pid" \
      --log-error="$MARIADB_DIR/error.log" $(mariadb_flags "$mode") &
    MARIADB_PID=$!
    for _ in $(seq 300); do
      mariadb -S "$MARIADB_DIR/s.sock" -u root -e 'SELECT 1' >/dev/null 2>&1 && break
      kill -0 "$MARIADB_PID" 2>/dev/null || die "mariadbd exited: see $MARIADB_DIR/error.log"
      sleep 0.1
    done
    mariadb -S "$MARIADB_DIR/s.sock" -u root -e 'CREATE DATABASE clinic'
    cpu0=$(server_cpu_ticks "$MARIADB_PID")
    measure "mariadb_$mode" "$DUMP_BYTES" \
      sh -c 'mariadb -S "$1" -u root clinic < "$2" > "$3" 2>&1' sh "$MARIADB_DIR/s.sock" "$MARIADB_DUMP" "$MARIADB_DIR/restore.log"
    # The client's RSS is tiny; the server's peak RSS is what the restore costs.
    echo "mariadb_$mode $(awk '/VmHWM/ {print $2}' "/proc/$MARIADB_PID/status")" >> "$RUN/server_rss.txt"
    echo "mariadb_$mode $(( ($(server_cpu_ticks "$MARIADB_PID") - cpu0) * 1000 / $(getconf CLK_TCK) ))" >> "$RUN/server_cpu_ms.txt"
    python3 "$HERE/manifest.py" count-sql "$CLINIC/manifest.json" > "$MARIADB_DIR/count.sql"
    mariadb -S "$MARIADB_DIR/s.sock" -u root -N clinic < "$MARIADB_DIR/count.sql" > "$MARIADB_DIR/rows.txt"
    echo "mariadb_$mode $(cat "$MARIADB_DIR/rows.txt")" >> "$RUN/rows.txt"
    stop_mariadb
    rm -rf "$MARIADB_DIR/data"   # up to a few GB; the logs stay
  done
fi

# ---------------------------------------------------------------- 4. sqlite3 import of the CSV export
SQLITE_VERSION=""
if [[ -z "${SKIP_SQLITE:-}" ]]; then
  say "4. sqlite3 .import of csv/ (one transaction, fresh database)"
  SQLITE_VERSION=$(sqlite3 --version | cut -d' ' -f1)
  python3 "$HERE/manifest.py" sqlite-script "$CLINIC/manifest.json" "$CLINIC" > "$RUN/sqlite-import.sql"
  rm -f "$RUN/sqlite.db"
  measure sqlite3 "$CSV_BYTES" sh -c 'sqlite3 "$1" < "$2" > "$3" 2>&1' sh "$RUN/sqlite.db" "$RUN/sqlite-import.sql" "$RUN/sqlite-import.log"
  python3 "$HERE/manifest.py" count-sql "$CLINIC/manifest.json" > "$RUN/sqlite-count.sql"
  echo "sqlite3 $(sqlite3 "$RUN/sqlite.db" < "$RUN/sqlite-count.sql")" >> "$RUN/rows.txt"
  echo "sqlite3 import warnings: $(grep -c . "$RUN/sqlite-import.log" || true) lines in $RUN/sqlite-import.log" >&2
fi

# ---------------------------------------------------------------- 5. report
say "5. results"
python3 "$HERE/report.py" --results "$RESULTS" --run "$RUN" --patients "$PATIENTS" --seed "$SEED" \
  --dump-bytes "$DUMP_BYTES" --csv-bytes "$CSV_BYTES" --manifest-rows "$MANIFEST_ROWS" \
  --ferry-rows "$FERRY_ROWS" --ferry-csv-rows "$FERRY_CSV_ROWS" \
  --ferry-version "$FERRY_VERSION" --mariadb-version "$MARIADB_VERSION" --sqlite-version "$SQLITE_VERSION" | tee "$RUN/report.md"
echo "(report saved to $RUN/report.md)" >&2
