# Shared by scripts/run_tests.sh (make test) and scripts/sanitize.sh (make sanitize): run one suite, show its output,
# and add its counts to the caller's variables passed and failed. The caller sets PYTHON and log (a directory).

# criterion NAME [ARGS...]: run $UNIT_TESTS (default build/unit_tests) and add its Synthesis counts.
criterion() {
  local name=$1; shift
  "${UNIT_TESTS:-build/unit_tests}" --jobs 2 "$@" 2>&1 | tee "$log/$name.txt"
  local rc=${PIPESTATUS[0]} line p f c
  line=$(grep -a 'Synthesis:' "$log/$name.txt" | tail -1)
  if [ -z "$line" ]; then
    echo "$name: unit tests produced no summary (exit $rc)"; failed=$((failed + 1)); return
  fi
  p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$line")
  c=$(sed -E 's/.*Crashing: ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + p)); failed=$((failed + f + c))
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && [ "$c" -eq 0 ] && failed=$((failed + 1))
  [ "$p" -gt 0 ] || { echo "$name: no test ran"; failed=$((failed + 1)); }
}

# pytest_suite NAME PATH...: run pytest and add its counts.
pytest_suite() {
  local name=$1; shift
  $PYTHON -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$log/$name.txt"
  local rc=${PIPESTATUS[0]} summary p f e
  summary=$(grep -aE '^[=]* ?[0-9]+ (passed|failed)|[0-9]+ (passed|failed|error)' "$log/$name.txt" | tail -1)
  p=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  f=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  e=$(grep -oE '[0-9]+ error' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && [ "${e:-0}" -eq 0 ]; then
    echo "$name: pytest exited $rc without reporting failures"; failed=$((failed + 1))
  fi
}
