#!/usr/bin/env bash
# Kill trials, many more than the test suite's: `ferry stage`, `ferry run` and `ferry verify`
# killed with SIGKILL (and one trial in four with SIGINT, Ctrl-C) at a random instant, then the
# next `ferry run` must work, leave no temporary file, and every recorded run's output must be
# byte-identical to a clean run's; every snapshot must hold the same content. Prints the counts.
#
#   bench/crash.sh [TRIALS] [PATIENTS]      (default 200 trials, 100 patients)
#
# Uses the release binary (built if missing); everything goes under bench/work/crash/.
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-200}
patients=${2:-100}
cargo build --release -q -p ferry
ferry="$PWD/target/release/ferry"
work="$PWD/bench/work/crash"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
"$ferry" init p --library clinic -q
"$ferry" generate p/legacy --patients "$patients" --sql-only -q
cd p
sed -i 's/^# max_exception_rate = 0.05/max_exception_rate = 0.25/' ferry.toml
"$ferry" stage legacy/clinic.sql -q
"$ferry" run -q
clean=$(cd output/run-0001 && sha256sum *.ndjson | sha256sum | cut -d' ' -f1)
snap=$("$ferry" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][0]["content_sha256"])')
ms() { date +%s%3N; }
t=$(ms); "$ferry" run -q; run_ms=$(( $(ms) - t ))
t=$(ms); "$ferry" stage legacy/clinic.sql -q; stage_ms=$(( $(ms) - t ))
t=$(ms); "$ferry" verify -q || true; verify_ms=$(( $(ms) - t ))
echo "durations here: stage ${stage_ms} ms, run ${run_ms} ms, verify ${verify_ms} ms"

declare -A killed=([stage]=0 [run]=0 [verify]=0) finished=([stage]=0 [run]=0 [verify]=0) interrupted=0
failures=0
for i in $(seq 1 "$trials"); do
  case $(( RANDOM % 3 )) in
    0) cmd=stage; args=(stage legacy/clinic.sql -q); span=$stage_ms ;;
    1) cmd=run; args=(run -q); span=$run_ms ;;
    *) cmd=verify; args=(verify -q); span=$verify_ms ;;
  esac
  sig=KILL; [ $(( RANDOM % 4 )) -eq 0 ] && sig=INT
  "$ferry" "${args[@]}" >/dev/null 2>&1 &
  pid=$!
  delay=$(( RANDOM % (span + 1) ))
  sleep "$(awk "BEGIN { print $delay / 1000 }")"
  kill -s "$sig" "$pid" 2>/dev/null || true
  if wait "$pid" 2>/dev/null; then finished[$cmd]=$(( ${finished[$cmd]} + 1 )); else
    if [ "$sig" = INT ]; then interrupted=$(( interrupted + 1 )); else killed[$cmd]=$(( ${killed[$cmd]} + 1 )); fi
  fi
  # The next command repairs and works.
  if ! "$ferry" run -q >/dev/null 2>run.err; then
    echo "trial $i ($cmd, SIG$sig after ${delay} ms): the next run failed: $(cat run.err)"; failures=$(( failures + 1 )); continue
  fi
  left=$(find output .ferry -name '*.ferry-tmp-*' -o -name '.*.ready' | head -5)
  if [ -n "$left" ]; then echo "trial $i ($cmd): left behind: $left"; failures=$(( failures + 1 )); fi
  for d in output/run-*; do
    h=$(cd "$d" && sha256sum *.ndjson | sha256sum | cut -d' ' -f1)
    if [ "$h" != "$clean" ]; then echo "trial $i ($cmd): $d differs from the clean run"; failures=$(( failures + 1 )); fi
  done
  bad=$("$ferry" snapshots --json | python3 -c "import json,sys; print(sum(1 for s in json.load(sys.stdin)['snapshots'] if s['content_sha256'] != '$snap'))")
  if [ "$bad" != 0 ]; then echo "trial $i ($cmd): $bad snapshots differ"; failures=$(( failures + 1 )); fi
  # Keep the disk bounded: runs beyond the last five go (their ledgers stay; Ferry itself never deletes a run).
  ls -d output/run-* | head -n -5 | xargs -r rm -rf
done
"$ferry" verify -q && verdict=GO || verdict="NO-GO"
echo "trials: $trials; killed with SIGKILL: stage ${killed[stage]}, run ${killed[run]}, verify ${killed[verify]}; Ctrl-C: $interrupted; finished before the signal: stage ${finished[stage]}, run ${finished[run]}, verify ${finished[verify]}"
echo "failures: $failures; last verification: $verdict"
[ "$failures" -eq 0 ]
