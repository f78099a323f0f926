#!/usr/bin/env bash
# Profiling benchmark (Ferry issue 3): on the LARGEST table (by rows) of a generated clinic, one run,
# one machine, one tool after another:
#   ferry profile --tables T --json   (the table staged from clinic.sql; staging is not timed)
#   qsv stats --everything            (qsv 16.1 from crates.io, built here; on the table's CSV export)
#   csvstat -I                        (csvkit 2.2 from PyPI, in bench/.venv; same CSV export)
# Wall time, peak RSS and CPU time from GNU /usr/bin/time -v; rows/s from manifest.json; ratios
# over Ferry. Targets: Ferry no slower than qsv --everything; csvstat at least 10x slower than Ferry.
# The method and a recorded run: docs/benchmarks.md, section "Profiling".
#
# Usage: bench/profile.sh [PATIENTS]            (default 100000; or PATIENTS=... in the env)
# Environment (all optional):
#   PATIENTS=100000 SEED=42  the clinic (bench/work/clinic-N-sSEED, generated if missing)
#   SKIP_BUILD=1             use the existing target/release/ferry (no cargo build)
#   FERRY=path               ferry binary (default target/release/ferry)
#   SKIP_QSV=1 / SKIP_CSVSTAT=1 / SKIP_FERRY=1   leave a tool out
#   QSV_DATES=0              do not also time qsv with --infer-dates (types dates, as Ferry does)
#   QSV_INDEXED=0            do not also time qsv with an index (multithreaded)
#   CSVSTAT_INFER=1          also time csvstat WITH type inference (no -I): slow (~15 min at 100k)
#   QSV_BUILD_JOBS=1         cargo jobs for the one-off qsv build (nice 19, own target dir)
#   REPEAT=3                 runs of each command (the report shows the median wall time)
#   WORK=bench/work          work folder (git-ignored)
# shellcheck disable=SC2016  # the `sh -c '...'` scripts expand their own arguments
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PATIENTS="${1:-${PATIENTS:-100000}}"
SEED="${SEED:-42}"
WORK="${WORK:-$HERE/work}"
REPEAT="${REPEAT:-3}"
FERRY="${FERRY:-$ROOT/target/release/ferry}"
VENV="$HERE/.venv"
QSV_VERSION=16.1.0
QSV_ROOT="$WORK/qsv"
QSV="$QSV_ROOT/bin/qsv"
CSVKIT_VERSION=2.2.0
TIME=/usr/bin/time
REPORT_PY="$HERE/profile_report.py"

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'profile.sh: %s\n' "$*" >&2; exit 1; }

[[ "$PATIENTS" =~ ^[0-9]+$ ]] || die "PATIENTS must be a whole number, got '$PATIENTS'"
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a whole number >= 1, got '$REPEAT'"

# ---------------------------------------------------------------- prerequisites
need_pkgs=()
[[ -x $TIME ]] || need_pkgs+=(time)
command -v python3 >/dev/null || need_pkgs+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_pkgs+=(python3-venv)
if ((${#need_pkgs[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing ${need_pkgs[*]}: run 'sudo apt-get install -y ${need_pkgs[*]}'"
  say "installing ${need_pkgs[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
mkdir -p "$WORK"

# qsv: `cargo install qsv --locked` fails to compile for qsv 16.1 here (E0599: no method
# `preserve_key_order` in src/cmd/json.rs): unpack the crate, drop that one call with sed, build it with an empty
# [workspace] table (bench/work sits inside Ferry's workspace), at nice 19, with its own target dir
# so that it never holds the lock of the project's target dir. Idempotent; ~20+ minutes once.
build_qsv() {
  local src="$WORK/qsv-src/qsv-$QSV_VERSION" crate
  if [[ ! -f "$src/Cargo.toml" ]]; then
    say "fetching qsv $QSV_VERSION source from crates.io"
    # `cargo info` downloads the .crate into cargo's registry cache; run outside the workspace.
    (cd "${TMPDIR:-/tmp}" && cargo info "qsv@$QSV_VERSION" >/dev/null)
    crate=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/cache" -name "qsv-$QSV_VERSION.crate" 2>/dev/null | head -n1)
    [[ -n "$crate" ]] || die "cargo did not download qsv-$QSV_VERSION.crate into ${CARGO_HOME:-$HOME/.cargo}/registry/cache"
    mkdir -p "$WORK/qsv-src"
    tar -xzf "$crate" -C "$WORK/qsv-src"
  fi
  sed -i 's/\.preserve_key_order(true)//' "$src/src/cmd/json.rs"
  grep -q '^\[workspace\]' "$src/Cargo.toml" || printf '\n[workspace]\n' >> "$src/Cargo.toml"
  say "building qsv $QSV_VERSION (nice 19, ${QSV_BUILD_JOBS:-1} job(s), target $WORK/qsv-target; ~20+ min)"
  local t0=$SECONDS
  CARGO_BUILD_JOBS="${QSV_BUILD_JOBS:-1}" CARGO_TARGET_DIR="$WORK/qsv-target" \
    nice -n 19 cargo install --path "$src" --locked --features feature_capable --root "$QSV_ROOT" >&2
  echo "   qsv built in $(( SECONDS - t0 )) s" >&2
}
if [[ -z "${SKIP_QSV:-}" ]]; then
  [[ -x "$QSV" ]] || build_qsv
  [[ -x "$QSV" ]] || die "no qsv at $QSV after the build"
fi

# csvkit in a git-ignored venv.
if [[ -z "${SKIP_CSVSTAT:-}" ]]; then
  if [[ ! -x "$VENV/bin/csvstat" ]]; then
    say "installing csvkit $CSVKIT_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "csvkit==$CSVKIT_VERSION" >&2
  fi
fi

# Ferry: build (the build may fail while others edit the workspace: then use the binary there is).
if [[ -z "${SKIP_BUILD:-}" ]]; then
  say "building ferry (release)"
  (cd "$ROOT" && cargo build --release -p ferry) >&2 || echo "   ferry build failed: using the existing binary, if any" >&2
fi
[[ -x "$FERRY" ]] || die "no ferry binary at $FERRY (build it: cargo build --release -p ferry)"
# A private copy (not bench/work/ferry, which stage.sh uses): a rebuild cannot swap it mid-run.
cp "$FERRY" "$WORK/ferry-profile-bench"
FERRY="$WORK/ferry-profile-bench"
FERRY_VERSION=$("$FERRY" --version)
FERRY_PROFILE=1
if [[ -n "${SKIP_FERRY:-}" ]]; then
  FERRY_PROFILE=0
elif ! "$FERRY" profile --help >/dev/null 2>&1; then
  FERRY_PROFILE=0
  echo "ferry profile not available yet ($FERRY_VERSION has no 'profile' command): skipping Ferry" >&2
fi

RUN="$WORK/profile-$PATIENTS"
rm -rf "$RUN"
mkdir -p "$RUN"
RESULTS="$RUN/results.tsv"
: > "$RESULTS"

# ---------------------------------------------------------------- input
CLINIC="$WORK/clinic-$PATIENTS-s$SEED"
if [[ ! -f "$CLINIC/.complete" ]]; then
  say "generating clinic: $PATIENTS patients, seed $SEED -> $CLINIC"
  rm -rf "$CLINIC"
  "$FERRY" generate "$CLINIC" --patients "$PATIENTS" --seed "$SEED" >&2
  touch "$CLINIC/.complete"
else
  say "reusing $CLINIC (deterministic for this seed and size)"
fi
MANIFEST="$CLINIC/manifest.json"
[[ -f "$MANIFEST" ]] || die "the generator wrote no $MANIFEST"
# table, rows, columns, file (relative), delimiter, encoding, line ending, bytes
IFS=$'\t' read -r TABLE ROWS NCOLS FILE DELIM ENCODING EOL FILE_BYTES \
  < <(python3 "$REPORT_PY" largest "$MANIFEST")
[[ -n "${FILE_BYTES:-}" ]] || die "could not find the largest table in $MANIFEST"
say "largest table: $TABLE ($ROWS rows, $NCOLS columns), export $FILE (delimiter '$DELIM', $ENCODING, $EOL)"
# qsv writes FILE.idx and stats caches next to its input: give the CSV tools a private copy so that
# nothing lands in the clinic's csv/ folder (which stage.sh stages as a whole). qsv picks the
# delimiter from the extension (.csv is always ',') and `qsv index` has no --delimiter option: so the
# copy gets a neutral extension, qsv reads the delimiter from QSV_DEFAULT_DELIMITER (its documented
# variable) with QSV_SKIP_FORMAT_CHECK set, and both tools are also told the delimiter explicitly.
INPUT="$RUN/$TABLE.dat"
cp "$CLINIC/$FILE" "$INPUT"
export QSV_DEFAULT_DELIMITER="$DELIM" QSV_SKIP_FORMAT_CHECK=1
DELIM_ARGS_QSV=(--delimiter "$DELIM")
DELIM_ARGS_CSVSTAT=(-d "$DELIM")
ENC_ARGS_CSVSTAT=()
case "${ENCODING,,}" in
  utf-8|utf8|ascii) ;;
  windows-1252|cp1252) ENC_ARGS_CSVSTAT=(-e cp1252)
    echo "   note: qsv stats assumes UTF-8; this export is Windows-1252" >&2 ;;
  *) die "unexpected encoding '$ENCODING' for $FILE" ;;
esac

# ---------------------------------------------------------------- measuring
# measure NAME CMD...: runs CMD $REPEAT times under /usr/bin/time -v; one results.tsv line per run
# (name, wall ms, peak RSS kB, user s, system s, 1-minute load average just before).
measure() {
  local name="$1"; shift
  local i tf t0 t1 rc load rss
  for ((i = 1; i <= REPEAT; i++)); do
    tf="$RUN/$name.$i.time"
    rc=0
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(date +%s%N)
    "$TIME" -v -o "$tf" "$@" || rc=$?
    t1=$(date +%s%N)
    if ((rc != 0)); then
      echo "profile.sh: '$name' failed (exit $rc); its output is in $RUN/" >&2
      return "$rc"
    fi
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tf")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$(( (t1 - t0) / 1000000 ))" "$rss" \
      "$(awk -F': ' '/User time/ {print $2}' "$tf")" "$(awk -F': ' '/System time/ {print $2}' "$tf")" \
      "$load" >> "$RESULTS"
    printf '   %s (run %d/%d): %s ms, peak RSS %s kB\n' "$name" "$i" "$REPEAT" "$(( (t1 - t0) / 1000000 ))" "$rss" >&2
  done
}

say "warming the page cache (one unmeasured read of every input)"
cat "$INPUT" > /dev/null

# ---------------------------------------------------------------- 1. ferry profile
if ((FERRY_PROFILE)); then
  say "1. ferry profile --tables $TABLE (project staged from clinic.sql first; staging not timed)"
  "$FERRY" init "$RUN/project" >/dev/null
  "$FERRY" -q -C "$RUN/project" stage "$CLINIC/clinic.sql" --label bench-profile --json > "$RUN/ferry_stage.json"
  measure ferry sh -c '"$1" -q -C "$2" profile --tables "$3" --json > "$4"' \
    sh "$FERRY" "$RUN/project" "$TABLE" "$RUN/ferry_profile.json"
else
  say "1. ferry profile not available yet: skipped"
fi

# ---------------------------------------------------------------- 2. qsv stats --everything
QSV_VERSION_OUT=""
if [[ -z "${SKIP_QSV:-}" ]]; then
  QSV_VERSION_OUT=$("$QSV" --version 2>/dev/null | head -n1 | cut -d" " -f1,2)
  say "2. qsv stats --everything (no index: qsv's default)"
  # --force and --cache-threshold 0: never reuse or write a stats cache (a second run would be free).
  rm -f "$INPUT.idx"
  measure qsv "$QSV" stats --everything --force --cache-threshold 0 "${DELIM_ARGS_QSV[@]}" \
    --output "$RUN/qsv_stats.csv" "$INPUT"
  if [[ "${QSV_DATES:-1}" != 0 ]]; then
    # qsv infers Date/DateTime only when asked (Ferry always does): the like-for-like variant.
    say "2a. qsv stats --everything --infer-dates (no index; dates whitelist: qsv's default, sniff)"
    measure qsv_dates "$QSV" stats --everything --infer-dates --force --cache-threshold 0 \
      "${DELIM_ARGS_QSV[@]}" --output "$RUN/qsv_stats_dates.csv" "$INPUT"
  fi
  if [[ "${QSV_INDEXED:-1}" != 0 ]]; then
    # qsv's fastest mode: with an index it splits the file over all cores. `qsv index` only takes
    # .csv/.tsv/.ssv names (and .csv means ','), so let stats build the index itself:
    # --cache-threshold -5 = index any input over 5 bytes first, delete index and cache afterwards.
    # The index build is inside the timing (it is part of what a user would run).
    say "2b. qsv stats --everything with an index it builds itself (multithreaded: $(nproc) jobs)"
    measure qsv_indexed "$QSV" stats --everything --force --cache-threshold -5 "${DELIM_ARGS_QSV[@]}" \
      --output "$RUN/qsv_stats_indexed.csv" "$INPUT"
    rm -f "$INPUT.idx"
  fi
fi

# ---------------------------------------------------------------- 3. csvstat
CSVSTAT_VERSION=""
if [[ -z "${SKIP_CSVSTAT:-}" ]]; then
  CSVSTAT_VERSION=$("$VENV/bin/csvstat" --version 2>&1 | head -n1)
  say "3. csvstat -I (no type inference: codes with leading zeros stay text)"
  measure csvstat sh -c '"$@" > "$0"' "$RUN/csvstat.txt" \
    "$VENV/bin/csvstat" -I "${DELIM_ARGS_CSVSTAT[@]}" "${ENC_ARGS_CSVSTAT[@]}" "$INPUT"
  if [[ -n "${CSVSTAT_INFER:-}" ]]; then
    say "3b. csvstat with type inference (no -I; slow)"
    measure csvstat_infer sh -c '"$@" > "$0"' "$RUN/csvstat_infer.txt" \
      "$VENV/bin/csvstat" "${DELIM_ARGS_CSVSTAT[@]}" "${ENC_ARGS_CSVSTAT[@]}" "$INPUT"
  fi
fi

# ---------------------------------------------------------------- report
export SKIP_FERRY="${SKIP_FERRY:-}" REPEAT PATIENTS SEED TABLE ROWS NCOLS FILE DELIM ENCODING EOL FILE_BYTES FERRY_VERSION \
  QSV_VERSION_OUT CSVSTAT_VERSION FERRY_PROFILE
python3 "$REPORT_PY" report "$RUN" | tee "$RUN/report.md"
echo >&2
echo "report saved as $RUN/report.md" >&2
