#!/usr/bin/env bash
# Kill trials of `ferry load`, many more than the test suite's three: a load of a generated clinic
# into the test FHIR server (tools/fhir-server) killed with SIGKILL (one trial in four with SIGINT,
# Ctrl-C) at a random instant, then `ferry load --resume` (or, when the kill came before the load's
# journal existed, a plain `ferry load`). Each trial must end with every resource of the run on the
# server exactly once (the server's count of current resources = the run's resources + the load's
# Provenance, so nothing duplicated under another id and nothing missing), `ferry verify --target`
# GO (every resource read back equal to the run's output), and the load's journal `loaded` with
# every entry done or unchanged. Between trials the server is emptied and the journals removed.
#
#   bench/load_crash.sh [TRIALS] [PATIENTS]      (default 100 trials, 100 patients)
#
# Uses the release binary (FERRY, default target/release/ferry, copied); node for the server;
# everything goes under bench/work/load-crash/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
trials=${1:-100}
patients=${2:-100}
FERRY="${FERRY:-$ROOT/target/release/ferry}"
[[ -x "$FERRY" ]] || cargo build --release -q -p ferry
work="$ROOT/bench/work/load-crash"
rm -rf "$work"
mkdir -p "$work"
cp "$FERRY" "$work/ferry"
ferry="$work/ferry"
[[ -d "$ROOT/tools/fhir-server/node_modules/@medplum" ]] || npm ci --prefix "$ROOT/tools/fhir-server" --silent >&2

node "$ROOT/tools/fhir-server/server.mjs" --port 0 >"$work/server.out" 2>"$work/server.err" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do grep -q '^listening ' "$work/server.out" && break; sleep 0.05; done
host=$(sed -n 's/^listening //p' "$work/server.out")
[[ -n "$host" ]] || { echo "the server did not start: $(cat "$work/server.err")" >&2; exit 1; }

cd "$work"
"$ferry" demo --patients "$patients" --dir p -q >/dev/null
cd p
cat >>ferry.toml <<TOML

[targets.ehr]
kind = "fhir"
url = "$host/fhir/R4"
allow_http = true
TOML
resources=$(cat output/latest/*.ndjson | grep -c .)
total() { curl -sf "$host/admin/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["resources"])'; }
reset() { curl -sf -X POST "$host/admin/reset" >/dev/null; rm -f .ferry/loads/load-*; }
ms() { date +%s%3N; }
reset
t=$(ms); "$ferry" load --target ehr -q; span=$(( $(ms) - t ))
echo "$patients patients, $resources resources; an undisturbed load takes ${span} ms"

failures=0 killed=0 finished=0 interrupted=0 before_journal=0
for i in $(seq 1 "$trials"); do
  reset
  sig=KILL
  (( RANDOM % 4 == 0 )) && sig=INT
  delay=$(( RANDOM % (span + 200) ))
  "$ferry" load --target ehr -q >/dev/null 2>"$work/load.err" &
  pid=$!
  sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
  if kill -0 "$pid" 2>/dev/null; then
    kill -s "$sig" "$pid" 2>/dev/null || true
    killed=$((killed + 1))
    [[ $sig == INT ]] && interrupted=$((interrupted + 1))
  else
    finished=$((finished + 1))
  fi
  wait "$pid" 2>/dev/null || true
  last=$("$ferry" loads --json | python3 -c '
import json, sys
l = json.load(sys.stdin)["loads"]
print(l[-1]["status"] if l else "none")')
  case "$last" in
    loaded) ;; # it finished before the signal
    loading)
      "$ferry" load --target ehr --resume -q || { echo "trial $i: resume failed" >&2; failures=$((failures + 1)); continue; } ;;
    none|not-started)
      # killed before its journal said anything: nothing was sent; a new load starts afresh
      before_journal=$((before_journal + 1))
      "$ferry" load --target ehr -q || { echo "trial $i: a fresh load failed" >&2; failures=$((failures + 1)); continue; } ;;
    *) echo "trial $i: the last load is $last" >&2; failures=$((failures + 1)); continue ;;
  esac
  on=$(total)
  if [[ "$on" != $((resources + 1)) ]]; then
    echo "trial $i ($sig after ${delay} ms): $on resources on the server, expected $((resources + 1))" >&2
    failures=$((failures + 1)); continue
  fi
  if ! "$ferry" verify --target ehr -q >/dev/null 2>&1; then
    echo "trial $i ($sig after ${delay} ms): verify --target is not GO" >&2
    failures=$((failures + 1)); continue
  fi
  state=$("$ferry" loads --json | python3 -c '
import json, sys
l = json.load(sys.stdin)["loads"][-1]
s = l["states"]
print(l["status"], s.get("done", 0) + s.get("unchanged", 0), sum(s.values()))')
  if [[ "$state" != "loaded $((resources + 1)) $((resources + 1))" ]]; then
    echo "trial $i ($sig after ${delay} ms): journal says $state" >&2
    failures=$((failures + 1)); continue
  fi
done
echo "load kill trials: $trials ($killed killed mid-load, $interrupted of them by SIGINT; $finished had finished; $before_journal killed before the journal existed), $failures failures"
[[ $failures == 0 ]]
