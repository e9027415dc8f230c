#!/usr/bin/env bash
# Run every test suite (Criterion unit tests, pytest oracle, end-to-end and source-tree tests), then the kernel
# oracle tests again on the portable kernel copy (MB_ISA=portable: the twins of the AVX-512 paths), and end with one combined
# line "N passed, N failed". Exits non-zero when anything failed or a suite could not run.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=/usr/bin/python3
# The Criterion suites that run kernels against their oracles (tests/unit/test_attention*.c, test_gau.c,
# test_ssm_*.c); Criterion's --filter takes extglob patterns over "suite/test".
KERNEL_SUITES='@(attention*|gau|ssm_*|rnn_*|selftest|peft*|basics*|vision*|data*)/*'
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
passed=0
failed=0

# criterion NAME [ARGS...]: run build/unit_tests and add its Synthesis counts.
criterion() {
  local name=$1; shift
  build/unit_tests --jobs 2 "$@" 2>&1 | tee "$log/$name.txt"
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

echo "== Criterion unit tests (kernels: $(./mechbench describe attention.softmax.naive | sed -nE 's/^isa +([a-z0-9]+).*/\1/p') copy)"
criterion unit

echo "== pytest: source tree, oracle (PyTorch) and end-to-end CLI tests"
pytest_suite py tests/tree tests/oracle tests/e2e

echo "== MB_ISA=portable: Criterion kernel suites ($KERNEL_SUITES)"
MB_ISA=portable criterion unit_portable --filter "$KERNEL_SUITES"

echo "== MB_ISA=portable: pytest oracle tests"
MB_ISA=portable pytest_suite py_portable tests/oracle

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
