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

# criterion NAME [ARGS...] and pytest_suite NAME PATH...: run a suite and add its counts to passed/failed.
source scripts/suites.sh

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
