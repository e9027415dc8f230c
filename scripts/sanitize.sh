#!/usr/bin/env bash
# `make sanitize`: build a separate ASan + UBSan tree in build-san/ (the harness, every kernel copy, the unit tests and
# build-san/mechbench) with the project's own Makefile rules, then run the Criterion unit tests and the end-to-end
# pytest suite (tests/e2e, MECHBENCH=build-san/mechbench) against it, and end with "N passed, N failed".
#
# Any sanitizer report fails the run, also one from a process whose failure a test expected (a bad-input case exits
# 1 either way): reports go to build-san/reports/ (ASan/UBSan log_path), and the run fails unless that folder is
# empty at the end. LeakSanitizer is on; scripts/lsan.supp suppresses the leaks inside libraries (each commented).
# Error exit codes of the tools are 99 (never one of mechbench's 0, 1, 2, 130).
#
# Cost: it runs the same suites as `make test` minus the oracle tests (PyTorch) and the MB_ISA=portable re-run;
# the unit tests and the e2e tests run at the same time (two processes), each with --jobs 2 / one pytest worker.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SAN_DIR=build-san
PYTHON=/usr/bin/python3
SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# The build: build-san/ holds links to the sources and the Makefile, so `make -C build-san` writes every object
# under build-san/build/ and the binary to build-san/mechbench with the normal rules and dependency tracking.
mkdir -p "$SAN_DIR"
for f in Makefile harness kernels tests scripts; do ln -sfn "../$f" "$SAN_DIR/$f"; done
# Two kernel copies (portable and AVX-512, the one this machine runs), not three: no kernel has AVX2-only code (the
# avx2 copy is the portable C compiled with -march=x86-64-v3), nothing here would run it, and a third ASan build of
# the kernel tree costs ~2 minutes of CI. The registry links without it (weak references, registry.c).
make -C "$SAN_DIR" --no-print-directory -j2 ISAS="portable avx512" \
  OPTFLAGS="-O1 -g -march=x86-64-v2 -fopenmp $SAN_FLAGS" \
  KERNEL_OPTFLAGS='-O1 -g $(ISA_ARCH_$(1)) -fopenmp '"$SAN_FLAGS" \
  ISA_CFLAGS_NOTE='kernels per ISA: -O1 -g -fopenmp '"$SAN_FLAGS"' with -march of each ISA' \
  mechbench build/unit_tests || { echo "sanitize: the sanitized build failed"; exit 1; }

reports=$ROOT/$SAN_DIR/reports
rm -rf "$reports"
mkdir -p "$reports"
# allocator_may_return_null: malloc answers a request it cannot serve with NULL, as glibc's does, instead of aborting
# (the code handles NULL; isolate's child meets its address-space budget so: tests/unit/test_isolate.c).
export ASAN_OPTIONS="detect_leaks=1:exitcode=99:allocator_may_return_null=1:log_path=$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=99:log_path=$reports/ubsan"
export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0:exitcode=99"
export MECHBENCH=$SAN_DIR/mechbench UNIT_TESTS=$SAN_DIR/build/unit_tests

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
source scripts/suites.sh

# The two suites at once, each into its own counts file; their output is shown after both end.
(passed=0 failed=0; criterion unit > "$log/unit.out"; echo "$passed $failed" > "$log/unit.counts") &
(passed=0 failed=0; pytest_suite e2e tests/e2e > "$log/e2e.out"; echo "$passed $failed" > "$log/e2e.counts") &
wait
passed=0
failed=0
for suite in unit e2e; do
  echo "== sanitized $suite"
  tail -n 25 "$log/$suite.out"
  if [ -s "$log/$suite.counts" ]; then
    read -r p f < "$log/$suite.counts"
    passed=$((passed + p)); failed=$((failed + f))
  else
    echo "sanitize: $suite did not finish"; failed=$((failed + 1))
  fi
done

n_reports=$(find "$reports" -type f | wc -l)
if [ "$n_reports" -gt 0 ]; then
  echo "== $n_reports sanitizer report(s) in $reports:"
  for r in "$reports"/*; do echo "-- $r"; head -n 40 "$r"; done
  failed=$((failed + n_reports))
fi
echo "sanitize: $passed passed, $failed failed, $n_reports sanitizer reports"
[ "$failed" -eq 0 ]
