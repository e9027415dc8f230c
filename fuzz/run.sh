#!/usr/bin/env bash
# `make fuzz`: run each libFuzzer target (build/fuzz/fuzz_<t>) for SECONDS from its seed corpus fuzz/corpus/<t>/ (new
# inputs go to build/fuzz/corpus/<t>/), then print one line per target with its executions
# (stat::number_of_executed_units) and corpus size. Fails when a target crashes, leaks, hangs (-timeout) or runs
# out of memory (-rss_limit_mb): libFuzzer leaves the input as build/fuzz/<t>-crash-* (or -timeout-, -leak-, -oom-);
# it goes into fuzz/corpus/<t>/ with the fix, so every later run replays it first.
# The mutation seed is fixed (FUZZ_SEED, default 1) so that CI repeats the same search on the same corpus: a failure
# there is a finding to fix, not noise. FUZZ_SEED=0 lets libFuzzer pick a random seed (for longer hunts).
# usage: fuzz/run.sh SECONDS TARGET...
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=$1; shift
status=0
summary=""
for t in "$@"; do
  mkdir -p "build/fuzz/corpus/$t"
  log="build/fuzz/$t.log"
  echo "== fuzz_$t: ${seconds}s from fuzz/corpus/$t/"
  TMPDIR=${TMPDIR:-/dev/shm} build/fuzz/fuzz_$t -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 -seed="${FUZZ_SEED:-1}" \
    -artifact_prefix="build/fuzz/$t-" "build/fuzz/corpus/$t" "fuzz/corpus/$t" > "$log" 2>&1
  rc=$?
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  corpus=$(sed -nE 's/.*#[0-9]+.*DONE +cov: [0-9]+ ft: [0-9]+ corp: ([0-9]+).*/\1/p' "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -aE '^==[0-9]+==ERROR|^SUMMARY|ALARM|Test unit written|runtime error' "$log" | head -n 12
    echo "fuzz_$t FAILED (exit $rc): full log in $log"
  fi
  summary+=$(printf '%-11s %12s executions  corpus %5s  %s' "$t" "${execs:-?}" "${corpus:-?}" \
                    "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)")$'\n'
done
printf '%s' "$summary"
exit $status
