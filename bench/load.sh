#!/usr/bin/env bash
# bench/load.sh [PATIENTS] [ROUNDS] — the load benchmark: `ferry load` next to a plain client.
#
# On the project `ferry demo --patients PATIENTS` makes (a generated clinic staged, migrated and
# verified GO; its NDJSON output is what both sides load), ROUNDS times (default 3), in turn:
#   A   ferry -C P load --target ehr --json       bundle_size 50 (the default), concurrency 2:
#       per Bundle one batch of GETs (the pre-images, for rollback), then one batch of PUTs, all
#       through the load's journal; plus one Provenance;
#   A0  the same command again, onto the server A left (same server process, no reset): every
#       resource is already there, so Ferry reads every pre-image and sends nothing
#       (`unchanged`): the cost of the reads, the run's parsing and the journal, without PUTs;
#   B   python3 bench/load_peer.py BASE output/latest  the plain client: batch Bundles of 100
#       `PUT Type/id`, 2 at a time, no pre-image reads, no retries, no journal;
#   C   ferry -C P load --target ehr100 --json    as A with bundle_size 100 (the peer's size);
#   D   python3 bench/load_peer.py BASE output/latest --bundle 50 --pre-images   the plain client
#       asking the server what Ferry's contract makes Ferry ask: before each Bundle of 50 PUTs, a
#       batch of 50 GETs of the same ids (the server's own intake for a load that can be rolled
#       back; Ferry's goal is to be within 10% of it).
# Each of A, B and C gets a fresh server (`node tools/fhir-server/server.mjs --port 0`, then
# `POST /admin/reset`), so every load starts on an empty store and the server's peak RSS is that
# load's alone. Before each Ferry load the project's earlier load journals are removed (each is a
# first load of the run, and a killed earlier invocation cannot leave an unfinished load behind).
# The server's CPU seconds during each load (utime+stime from /proc/PID/stat) give how busy the
# server was: server CPU / wall near 1 means the single-threaded server was the limit.
# Wall time: a nanosecond clock around the client process; peak RSS of the client: GNU
# /usr/bin/time -v; the server's: VmHWM from /proc (reset with clear_refs before each load). A
# watchdog stops the benchmark when the server's RSS passes SERVER_RSS_LIMIT_MB (default 3072):
# then the in-memory server cannot hold the data set, and fewer patients are needed.
# Prints a Markdown table of medians (resources/s = resources written / wall s), the ratios
# Ferry/peer per round, checks the server's resource count after each load, and saves everything
# under bench/work/load-PATIENTS/ (report.md, one .json/.time/.meta per load).
#
# Environment: PATIENTS (10000), ROUNDS (3), FERRY (target/release/ferry; run from a private
# copy), WORK (bench/work), SERVER_RSS_LIMIT_MB (3072), SKIP_UNCHANGED=1 (no A0),
# SKIP_FERRY100=1 (no C), SKIP_PEER_READ=1 (no D), REPORT_ONLY=1 (print the last run's report again, run nothing).
# Needs node (tools/fhir-server, `npm ci --prefix tools/fhir-server`), python3, curl and GNU time
# (Debian package `time`).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PATIENTS="${1:-${PATIENTS:-10000}}"
ROUNDS="${2:-${ROUNDS:-3}}"
FERRY="${FERRY:-$ROOT/target/release/ferry}"
WORK="${WORK:-$ROOT/bench/work}"
LIMIT_MB="${SERVER_RSS_LIMIT_MB:-3072}"
TIME=/usr/bin/time
SERVER="$ROOT/tools/fhir-server/server.mjs"
D="$WORK/load-$PATIENTS"
PROJECT="$D/project"
OUT="$D/run"

die() { echo "load.sh: $*" >&2; exit 1; }
[[ -x "$FERRY" ]] || die "no ferry binary at $FERRY (build it: cargo build --release -p ferry)"
[[ -x "$TIME" ]] || die "no GNU time at $TIME (apt-get install time)"
command -v node >/dev/null || die "node is needed for tools/fhir-server"
command -v curl >/dev/null || die "curl is needed"
[[ -d "$ROOT/tools/fhir-server/node_modules/@medplum" ]] || npm ci --prefix "$ROOT/tools/fhir-server" >&2

mkdir -p "$WORK" "$D"
cp "$FERRY" "$WORK/ferry-load"
FERRY="$WORK/ferry-load"

# --- untimed setup: the demo project (made once per PATIENTS, reused) -------------------------
if [[ ! -f "$D/.complete" ]]; then
    rm -rf "$PROJECT"
    echo "making the demo project: $PATIENTS patients -> $PROJECT (untimed)" >&2
    t0=$(date +%s%N)
    "$FERRY" demo --patients "$PATIENTS" --dir "$PROJECT" -q >&2
    t1=$(date +%s%N)
    echo "demo took $(( (t1 - t0) / 1000000 )) ms" >&2
    touch "$D/.complete"
fi
NDJSON="$PROJECT/output/latest"
ls "$NDJSON"/*.ndjson >/dev/null 2>&1 || die "no NDJSON in $NDJSON"
RESOURCES=$(cat "$NDJSON"/*.ndjson | grep -c .)
NDJSON_BYTES=$(cat "$NDJSON"/*.ndjson | wc -c)
echo "data: $RESOURCES resources in $(ls "$NDJSON"/*.ndjson | wc -l) NDJSON files, $NDJSON_BYTES bytes" >&2

# Two targets; the URL is rewritten for each fresh server (untimed).
if ! grep -q '^\[targets.ehr\]' "$PROJECT/ferry.toml"; then
    cat >>"$PROJECT/ferry.toml" <<'EOF'

# bench/load.sh: the test FHIR server (the port is rewritten for each load)
[targets.ehr]
kind = "fhir"
url = "http://127.0.0.1:1/fhir/R4"
allow_http = true
bundle_size = 50
concurrency = 2

[targets.ehr100]
kind = "fhir"
url = "http://127.0.0.1:1/fhir/R4"
allow_http = true
bundle_size = 100
concurrency = 2
EOF
fi

if [[ "${REPORT_ONLY:-0}" != 1 ]]; then
rm -rf "$OUT"
mkdir -p "$OUT"
{
    echo "patients $PATIENTS"
    echo "rounds $ROUNDS"
    echo "resources $RESOURCES"
    echo "ndjson_bytes $NDJSON_BYTES"
    echo "ferry_version $("$FERRY" --version)"
    echo "node_version $(node --version)"
    echo "python_version $(python3 --version 2>&1)"
    echo "nproc $(nproc)"
    echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$OUT/info.txt"
fi

# --- the server ------------------------------------------------------------------------------
NODE_PID=""
WATCH_PID=""
stop_server() {
    if [[ -n "$WATCH_PID" ]]; then kill "$WATCH_PID" 2>/dev/null || true; wait "$WATCH_PID" 2>/dev/null || true; fi
    if [[ -n "$NODE_PID" ]]; then kill -TERM "$NODE_PID" 2>/dev/null || true; wait "$NODE_PID" 2>/dev/null || true; fi
    NODE_PID=""
    WATCH_PID=""
}
trap stop_server EXIT INT TERM

start_server() { # name
    local name="$1" i
    : >"$OUT/$name.server.out"
    node "$SERVER" --port 0 >"$OUT/$name.server.out" 2>"$OUT/$name.server.err" &
    NODE_PID=$!
    for i in $(seq 1 600); do
        grep -q '^listening ' "$OUT/$name.server.out" && break
        kill -0 "$NODE_PID" 2>/dev/null || die "the server did not start: $(cat "$OUT/$name.server.err")"
        sleep 0.05
    done
    HOST=$(sed -n 's/^listening //p' "$OUT/$name.server.out")
    [[ -n "$HOST" ]] || die "the server printed no 'listening' line"
    BASE="$HOST/fhir/R4"
    curl -sf -X POST "$HOST/admin/reset" >/dev/null
    sed -i "s#^url = \"http://127.0.0.1:[0-9]*/fhir/R4\"#url = \"$BASE\"#" "$PROJECT/ferry.toml"
    # watchdog: the in-memory server must hold the data set within the limit
    (
        limit=$((LIMIT_MB * 1024))
        while kill -0 "$NODE_PID" 2>/dev/null; do
            rss=$(awk '/^VmRSS/{print $2}' "/proc/$NODE_PID/status" 2>/dev/null || echo 0)
            if ((${rss:-0} > limit)); then
                echo "$name: server RSS $((rss / 1024)) MiB > $LIMIT_MB MiB" >"$OUT/server-over-limit.txt"
                kill -TERM "$NODE_PID" 2>/dev/null
                exit 0
            fi
            sleep 0.5
        done
    ) &
    WATCH_PID=$!
}

# measure LABEL COMMAND...: one load, timed; writes LABEL.json (stdout), .err, .time, .meta
measure() {
    local label="$1" t0 t1 rc hwm stats
    shift
    echo "== $label: $*" >&2
    echo "$label $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/loadavg.txt"
    echo 5 >"/proc/$NODE_PID/clear_refs" # VmHWM := VmRSS
    local cpu0 cpu1
    cpu0=$(awk '{print $14 + $15}' "/proc/$NODE_PID/stat")
    t0=$(date +%s%N)
    set +e
    "$TIME" -v -o "$OUT/$label.time" "$@" >"$OUT/$label.json" 2>"$OUT/$label.err"
    rc=$?
    set -e
    t1=$(date +%s%N)
    [[ -f "$OUT/server-over-limit.txt" ]] &&
        die "$(cat "$OUT/server-over-limit.txt") at $PATIENTS patients ($RESOURCES resources): the in-memory server cannot hold this data set; try fewer patients"
    kill -0 "$NODE_PID" 2>/dev/null || die "the server died during $label: $(tail -5 "$OUT"/*.server.err)"
    hwm=$(awk '/^VmHWM/{print $2}' "/proc/$NODE_PID/status")
    cpu1=$(awk '{print $14 + $15}' "/proc/$NODE_PID/stat")
    stats=$(curl -sf "$HOST/admin/stats")
    printf '{"label":"%s","rc":%d,"wall_ns":%d,"server_hwm_kb":%d,"server_cpu_ticks":%d,"ticks_per_s":%d,"server_stats":%s}\n' \
        "$label" "$rc" "$((t1 - t0))" "$hwm" "$((cpu1 - cpu0))" "$(getconf CLK_TCK)" "$stats" >"$OUT/$label.meta"
    echo "   rc $rc, $(((t1 - t0) / 1000000)) ms, server peak $((hwm / 1024)) MiB, $(cut -c1-60 <<<"$stats")" >&2
}

clear_journals() {
    rm -f "$PROJECT"/.ferry/loads/load-*
}

# --- the rounds ------------------------------------------------------------------------------
if [[ "${REPORT_ONLY:-0}" != 1 ]]; then
cat "$NDJSON"/*.ndjson >/dev/null # warm the page cache for both sides
for r in $(seq 1 "$ROUNDS"); do
    start_server "r$r-ferry50"
    clear_journals
    measure "r$r-ferry50" "$FERRY" -C "$PROJECT" load --target ehr --json
    if [[ "${SKIP_UNCHANGED:-0}" != 1 ]]; then
        measure "r$r-unchanged" "$FERRY" -C "$PROJECT" load --target ehr --json
    fi
    stop_server

    start_server "r$r-peer"
    measure "r$r-peer" python3 "$ROOT/bench/load_peer.py" "$BASE" "$NDJSON" --bundle 100 --concurrency 2
    stop_server

    if [[ "${SKIP_PEER_READ:-0}" != 1 ]]; then
        start_server "r$r-peerread"
        measure "r$r-peerread" python3 "$ROOT/bench/load_peer.py" "$BASE" "$NDJSON" --bundle 50 --concurrency 2 --pre-images
        stop_server
    fi

    if [[ "${SKIP_FERRY100:-0}" != 1 ]]; then
        start_server "r$r-ferry100"
        clear_journals
        measure "r$r-ferry100" "$FERRY" -C "$PROJECT" load --target ehr100 --json
        stop_server
    fi
done
fi

# --- report ----------------------------------------------------------------------------------
python3 - "$OUT" <<'EOF' | tee "$OUT/report.md"
import glob, json, os, re, statistics, sys
out = sys.argv[1]
info = dict(l.rstrip("\n").split(" ", 1) for l in open(os.path.join(out, "info.txt")))
load = dict(l.split() for l in open(os.path.join(out, "loadavg.txt")))
N = int(info["resources"])

def peak_mib(label):
    t = open(os.path.join(out, label + ".time")).read()
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024

def cpu_s(label):
    t = open(os.path.join(out, label + ".time")).read()
    return float(re.search(r"User time \(seconds\): (\S+)", t).group(1)) + float(
        re.search(r"System time \(seconds\): (\S+)", t).group(1))

runs = {}
for meta in sorted(glob.glob(os.path.join(out, "*.meta"))):
    m = json.load(open(meta))
    label = m["label"]
    rnd, side = label.split("-", 1)
    try:
        j = json.load(open(os.path.join(out, label + ".json")))
    except ValueError:
        j = {}
    wall = m["wall_ns"] / 1e9
    sent = j.get("sent", 0)
    runs.setdefault(side, []).append(dict(
        round=int(rnd[1:]), rc=m["rc"], wall=wall, sent=sent, resources=j.get("resources", 0),
        unchanged=j.get("unchanged", 0), failed=j.get("failed", 0), requests=j.get("requests", 0),
        retries=j.get("retries", 0) + j.get("entry_retries", 0), own_ms=j.get("duration_ms", 0),
        rss=peak_mib(label), cpu=cpu_s(label), server=m["server_hwm_kb"] / 1024,
        server_cpu=m.get("server_cpu_ticks", 0) / max(m.get("ticks_per_s", 100), 1),
        on_server=m["server_stats"]["resources"], load=load.get(label, "?"),
        errors=j.get("first_errors", []) if j else [open(os.path.join(out, label + ".err")).read()[-300:]]))

names = {
    "ferry50": "`ferry load`, bundle_size 50 (default), concurrency 2",
    "peer": "`load_peer.py`, 100-entry Bundles, 2 threads",
    "ferry100": "`ferry load`, bundle_size 100, concurrency 2",
    "unchanged": "`ferry load` again onto a server already holding the run (sends nothing)",
    "peerread": "`load_peer.py --pre-images`, 50-entry Bundles, each after a batch of 50 GETs, 2 threads",
}
med = lambda xs: statistics.median(xs)
print(f"{info['patients']} patients: {N:,} resources ({int(info['ndjson_bytes']):,} bytes of NDJSON), "
      f"{info['rounds']} rounds; {info['ferry_version']}, node {info['node_version']}, {info['python_version']}, "
      f"{info['nproc']} cores; {info['date']}")
print()
print("| side | resources written | wall s (median) | wall s per round | resources/s | peak RSS MiB, client | peak RSS MiB, server | client CPU s | server CPU s (busy) | requests |")
print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
for side in ("ferry50", "peerread", "peer", "ferry100", "unchanged"):
    rs = runs.get(side)
    if not rs:
        continue
    w = med([r["wall"] for r in rs])
    walls = " / ".join("%.2f" % r["wall"] for r in rs)
    if side == "unchanged":
        rate = f"({med([r['resources'] / r['wall'] for r in rs]):,.0f} checked/s)"
    else:
        rate = f"{med([r['sent'] / r['wall'] for r in rs]):,.0f}"
    print(f"| {names[side]} | {med([r['sent'] for r in rs]):,.0f} | {w:.2f} | "
          f"{walls} | {rate} | {max(r['rss'] for r in rs):.0f} | "
          f"{max(r['server'] for r in rs):.0f} | {med([r['cpu'] for r in rs]):.1f} | "
          f"{med([r['server_cpu'] for r in rs]):.1f} ({100 * med([r['server_cpu'] / r['wall'] for r in rs]):.0f}%) | "
          f"{med([r['requests'] for r in rs]):,.0f} |")
print()
print("resources/s: resources written (Ferry's `sent`, the peer's entries answered 2xx) over the wall time of")
print("the client process; peak RSS: the largest over the rounds; CPU: user+sys of the client, median;")
print("server CPU: the single-threaded server's user+sys during the load (busy: over the wall time).")
print()
for against in ("peer", "peerread"):
    peer = {r["round"]: r for r in runs.get(against, [])}
    for side in ("ferry50", "ferry100"):
        rs = runs.get(side, [])
        ratios = [(r["sent"] / r["wall"]) / (peer[r["round"]]["sent"] / peer[r["round"]]["wall"])
                  for r in rs if r["round"] in peer and peer[r["round"]]["sent"]]
        if ratios:
            print(f"- Ferry/{against} resources/s, {names[side]}: median {med(ratios):.2f}x "
                  f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
if "ferry50" in runs and "unchanged" in runs and "peer" in runs:
    f, u, p = (med([r["wall"] for r in runs[s]]) for s in ("ferry50", "unchanged", "peer"))
    print(f"- reads without writes (A0: parse + pre-image GETs + journal, no PUT): {u:.2f} s = "
          f"{100 * u / f:.0f}% of Ferry's fresh load ({f:.2f} s); fresh - A0 = {f - u:.2f} s against the "
          f"peer's {p:.2f} s of PUTs")
print()
print("Checks:")
ok = True
order = ["ferry50", "unchanged", "peer", "peerread", "ferry100"]
for r, side in sorted(((r, s) for s, rs in runs.items() for r in rs),
                      key=lambda x: (x[0]["round"], order.index(x[1]))):
    want = N + 1 if side.startswith("ferry") else N  # Ferry adds its Provenance
    if side == "unchanged":
        want = N + 2  # the first load's Provenance and this one's
    bad = r["rc"] != 0 or r["failed"] or r["on_server"] != want or (side != "unchanged" and r["sent"] < N)
    ok &= not bad
    print(f"- r{r['round']} {side}: exit {r['rc']}, written {r['sent']:,}, unchanged {r['unchanged']:,}, "
          f"failed {r['failed']:,}, retries {r['retries']}, on the server {r['on_server']:,} (expected {want:,}), "
          f"the client's own duration {r['own_ms'] / 1000:.2f} s, load average before {r['load']}"
          + (f", errors: {r['errors']}" if r["errors"] else "") + (" **CHECK FAILED**" if bad else ""))
print()
print("all checks passed" if ok else "SOME CHECKS FAILED")
EOF
