#!/usr/bin/env bash
# Run every test suite (Criterion unit tests, pytest oracle, end-to-end and source-tree tests) and end with one combined
# line "N passed, N failed". Exits non-zero when anything failed or a suite could not run.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=/usr/bin/python3
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
passed=0
failed=0

echo "== Criterion unit tests"
build/unit_tests --jobs 2 2>&1 | tee "$log/unit.txt"
unit_rc=${PIPESTATUS[0]}
line=$(grep -a 'Synthesis:' "$log/unit.txt" | tail -1)
if [ -n "$line" ]; then
  p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$line")
  c=$(sed -E 's/.*Crashing: ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + p)); failed=$((failed + f + c))
else
  echo "unit tests produced no summary (exit $unit_rc)"; failed=$((failed + 1))
fi
[ "$unit_rc" -ne 0 ] && [ -n "$line" ] && [ "$f" -eq 0 ] && [ "$c" -eq 0 ] && failed=$((failed + 1))

echo "== pytest: oracle (PyTorch), end-to-end CLI and source-tree tests"
$PYTHON -m pytest -q -p no:cacheprovider tests/oracle tests/e2e tests/tree 2>&1 | tee "$log/py.txt"
py_rc=${PIPESTATUS[0]}
summary=$(grep -aE '^[=]* ?[0-9]+ (passed|failed)|[0-9]+ (passed|failed|error)' "$log/py.txt" | tail -1)
p=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
f=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
e=$(grep -oE '[0-9]+ error' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
if [ "$py_rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && [ "${e:-0}" -eq 0 ]; then
  echo "pytest exited $py_rc without reporting failures"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
