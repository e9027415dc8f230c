# mechbench: `make` builds ./mechbench, `make demo` sweeps and plots, `make test` runs every test suite.
# Every target first installs missing Debian packages (scripts/deps.sh, a no-op when all are present).

CC      := gcc
CXX     := g++
PKGS    := hdf5 benchmark inih openblas lapacke fftw3f sleef
PKGS_LINKED_BY_NAME := gsl criterion # linked with -lgsl (its .pc adds gslcblas, which clashes with OpenBLAS), -lcriterion
# The harness, the tests and the binary are portable (x86-64-v2). The kernel tree is compiled once per ISA below and
# the best copy the CPU supports is chosen at run time (harness/core/isa.c; MB_ISA=portable|avx2|avx512 caps it).
OPTFLAGS := -O3 -march=x86-64-v2 -mtune=native -fopenmp
WARN    := -Wall -Wextra
ISAS    := portable avx2 avx512
ISA_ARCH_portable := -march=x86-64-v2
ISA_ARCH_avx2     := -march=x86-64-v3
ISA_ARCH_avx512   := -march=x86-64-v4
KERNEL_OPTFLAGS = -O3 $(ISA_ARCH_$(1)) -mtune=native -fopenmp
ISA_CFLAGS_NOTE := kernels per ISA (-O3 -mtune=native -fopenmp): portable $(ISA_ARCH_portable), \
  avx2 $(ISA_ARCH_avx2), avx512 $(ISA_ARCH_avx512)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS = -Iharness -Ikernels -Ibuild/gen $(PKG_CFLAGS) -DMB_CFLAGS='"$(OPTFLAGS) $(WARN); $(ISA_CFLAGS_NOTE)"'
CPPFLAGS += -DMB_BENCHMARK_VERSION='"$(shell pkg-config --modversion benchmark 2>/dev/null)"'
CFLAGS   = -std=c17 -D_GNU_SOURCE $(OPTFLAGS) $(WARN) -MMD -MP
KERNEL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) -MMD -MP
CXXFLAGS = -std=c++17 $(OPTFLAGS) $(WARN) -MMD -MP
LDLIBS   = $(PKG_LIBS) -lhdf5_hl -lgsl -lisal -lprotobuf-c -lz -lfarmhash -lpthread -lm
PYTHON  := /usr/bin/python3

HARNESS_C  := $(filter-out harness/cli/main.c,$(wildcard harness/*/*.c))
HARNESS_CC := $(wildcard harness/*/*.cc)
KERNEL_C   := $(wildcard kernels/*/*.c)
# C++ shims of kernels (kernels/data/farmhash_shim.cc: FarmHash is C++): compiled once, portable, outside the per-ISA
# copies; the copies' references to their extern "C" symbols stay undefined there and resolve to this one object.
KERNEL_CC  := $(wildcard kernels/*/*.cc)
ISA_OBJS   := $(ISAS:%=build/isa/%.o)
LIB_OBJS   := $(HARNESS_C:%.c=build/%.o) $(HARNESS_CC:%.cc=build/%.o) $(KERNEL_CC:%.cc=build/%.o) $(ISA_OBJS)
# protobuf-c code generated from kernels/*/proto/*.proto into build/gen/*/proto/ (protoc-c), compiled once, portable,
# with the harness: the per-ISA kernel copies only reference its symbols, so their renaming leaves it alone.
PROTO_SRC  := $(wildcard kernels/*/proto/*.proto)
PROTO_GEN_C := $(patsubst kernels/%.proto,build/gen/%.pb-c.c,$(PROTO_SRC))
PROTO_GEN_H := $(PROTO_GEN_C:.c=.h)
PROTO_OBJS := $(PROTO_GEN_C:.c=.o)
LIB_OBJS   += $(PROTO_OBJS)
.SECONDARY: $(PROTO_GEN_C) $(PROTO_GEN_H)
TEST_C     := $(wildcard tests/unit/*.c)
TEST_OBJS  := $(TEST_C:%.c=build/%.o)

.PHONY: all deps demo test unit pytest e2e bench claims readme fuzz sanitize clean
all: mechbench mechbench-mpi

# Install missing Debian packages, then stop with their names if pkg-config still cannot find a library. Every
# object depends on this order-only (| deps): it runs first, also under make -j, and never makes objects stale.
deps:
	@bash scripts/deps.sh
	@missing=$$(for p in $(PKGS) $(PKGS_LINKED_BY_NAME) ompi-c; do pkg-config --exists $$p || printf '%s ' $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "mechbench: pkg-config cannot find: $$missing(their -dev packages are in scripts/deps.sh)" >&2; exit 1; \
	fi

mechbench: $(LIB_OBJS) build/harness/cli/main.o
	$(CXX) $(OPTFLAGS) -o $@ $^ $(LDLIBS)

# mechbench-mpi: the same program with MPI sweeps (harness/run/mpi_sweep.c compiled with OpenMPI; `mpirun -np K
# ./mechbench-mpi sweep X.ini`). The plain binary keeps a stub of that file and needs no MPI library.
MPI_CFLAGS = $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   = $(shell pkg-config --libs ompi-c 2>/dev/null)
mechbench-mpi: $(filter-out build/harness/run/mpi_sweep.o,$(LIB_OBJS)) build/mpi/run/mpi_sweep.o build/harness/cli/main.o
	$(CXX) $(OPTFLAGS) -o $@ $^ $(LDLIBS) $(MPI_LIBS)

build/mpi/run/%.o: harness/run/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(MPI_CFLAGS) -DMB_WITH_MPI $(CFLAGS) -c $< -o $@

build/unit_tests: $(LIB_OBJS) $(TEST_OBJS)
	$(CXX) $(OPTFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

build/harness/%.o: harness/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# MB_CFLAGS (provenance's cflags) comes from this file.
build/harness/store/provenance.o: Makefile

# Harness units that need AVX-512 (called only when the CPU has it): harness/**/*_avx512.c.
build/harness/%_avx512.o: harness/%_avx512.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -march=x86-64-v4 -c $< -o $@

build/harness/%.o: harness/%.cc | deps
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

build/kernels/%.o: kernels/%.cc | deps
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

# The kernel tree, once per ISA: kernels/F/x.c -> build/isa/ISA/kernels/F/x.o (-march of the ISA), then one
# relocatable object per ISA (ld -r) build/isa/ISA.o. Every ISA but portable renames each global symbol it defines
# to sym__ISA (mb_kernel_x -> mb_kernel_x__avx512), references inside the copy included; the portable copy keeps
# the plain names, so tests and harness code that call family helpers directly link against it.
# A kernel's source hash (MB_SOURCE_HASH, the same for every ISA) covers every file its code comes from: its own file,
# its family's shared files, every project file it includes and the .c beside each kernels/ header it includes
# (scripts/source_hashes.sh, regenerated when any kernel or harness file changes; it also makes each object depend
# on those files): --resume and the claims' caches re-measure a kernel whenever code it runs changed.
SOURCE_HASHES := build/gen/source_hashes.mk
$(SOURCE_HASHES): scripts/source_hashes.sh $(shell find -H kernels harness -type f \( -name '*.c' -o -name '*.h' -o -name '*.def' \))
	@mkdir -p $(dir $@)
	@bash scripts/source_hashes.sh 'build/isa/%/' $(KERNEL_C) > $@.tmp && mv $@.tmp $@
ifneq ($(MAKECMDGOALS),clean)
-include $(SOURCE_HASHES)
endif
isa_of = $(firstword $(subst /, ,$(1)))
src_of = $(patsubst $(call isa_of,$(1))/%,%,$(1))
isa_kernel_objs = $(patsubst %.c,build/isa/$(1)/%.o,$(KERNEL_C))
.SECONDEXPANSION:
build/isa/%.o: $$(call src_of,$$*).c $$(wildcard $$(dir $$(call src_of,$$*))family* $$(dir $$(call src_of,$$*))*.def) \
  scripts/source_hashes.sh | deps $(PROTO_GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(KERNEL_CFLAGS) $(call KERNEL_OPTFLAGS,$(call isa_of,$*)) \
	  -DMB_SOURCE_HASH='"$(MB_HASH_$(call src_of,$*).c)"' -c $< -o $@

$(ISA_OBJS): build/isa/%.o: $$(call isa_kernel_objs,$$*)
	@echo "ld -r -o $@ build/isa/$*/kernels/*/*.o"
	@ld -r -o $@.tmp $^
	@if [ "$*" != portable ]; then \
	  nm -g --defined-only $@.tmp | awk 'NF == 3 { print $$3 " " $$3 "__$*" }' > $@.syms && \
	  objcopy --redefine-syms=$@.syms $@.tmp && rm -f $@.syms; \
	fi
	@mv $@.tmp $@

build/gen/%.pb-c.c build/gen/%.pb-c.h: kernels/%.proto | deps
	@mkdir -p $(dir $@)
	cd $(dir $<) && protoc-c -I. --c_out=$(abspath $(dir $@)) $(notdir $<)

build/gen/%.pb-c.o: build/gen/%.pb-c.c $(PROTO_GEN_H)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

build/tests/%.o: tests/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

demo: all
	./mechbench sweep experiments/demo.ini --out results/demo.h5 --force
	./mechbench plot results/demo.h5 --out plots/demo --crossover attention.softmax.naive,attention.linear.elu

test: all build/unit_tests
	@bash scripts/run_tests.sh

unit: all build/unit_tests
	build/unit_tests --jobs 2

# The pytest suites on their own: source-tree and oracle tests (vs PyTorch), and the end-to-end CLI tests.
pytest: all
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/tree tests/oracle

e2e: all
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

bench: all
	@bash scripts/bench.sh

# The crash test with 50 random SIGKILLs instead of `make test`'s 20 (tests/e2e/test_crash.py; MB_CRASH_SEED=N for
# other kill moments). About 2.5 s per trial.
.PHONY: stress
stress: all
	MB_STRESS_TRIALS=50 $(PYTHON) -m pytest -q -s -p no:cacheprovider tests/e2e/test_crash.py

# Paper claims (experiments/claims/*.ini): table on stdout, report in results/claims.md, plots in plots/claims/.
claims: all
	./mechbench claims

# The README's kernel table from the registry (tests/tree/test_readme.py checks they agree).
readme: all
	$(PYTHON) scripts/readme_kernels.py

# The unit tests and the end-to-end tests under ASan + UBSan (leak checker on): scripts/sanitize.sh builds the whole
# tree (harness, the portable and AVX-512 kernel copies, unit tests, build-san/mechbench) at -O1 -g into build-san/ with this file's
# rules and runs both suites against it at once; any sanitizer report fails it. Not covered: the oracle tests
# (PyTorch) and make test's MB_ISA=portable re-run. About 320 CPU-s to build from scratch and 320 CPU-s of tests
# (measured under load; roughly 5 minutes on two quiet vCPUs). Not part of `make test`; CI runs it.
sanitize:
	@bash scripts/sanitize.sh

# libFuzzer targets (Debian's clang, -fsanitize=fuzzer,address,undefined), one per parser of outside input:
#   tfrecord   the TFRecord reader and the tf.Example parser (fuzz/fuzz_tfrecord.c, built from its own sources)
#   experiment the experiment-file parser, .ini text to the points of its sweeps (fuzz/fuzz_experiment.c)
#   h5tensor   the HDF5 tensor reader's shape and size validation, what `eval` reads (fuzz/fuzz_h5tensor.c)
# FUZZ_INSTRUMENTED_<t> are compiled into target t with clang (coverage + sanitizers); the rest of the library is
# linked from the normal build's objects. `make fuzz FUZZ_SECONDS=30` runs each target that long from its seed corpus
# fuzz/corpus/<t>/ (new inputs go to build/fuzz/corpus/<t>/) and fails when one crashes, leaks or hangs; the crash
# input is left in build/fuzz/ and belongs in fuzz/corpus/<t>/ with its fix (fuzz/run.sh). Not part of `make test`.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := tfrecord experiment h5tensor
FUZZ_FLAGS := -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(WARN)
FUZZ_SRC_tfrecord := kernels/data/tfrecord.c kernels/data/example.c
build/fuzz/fuzz_tfrecord: fuzz/fuzz_tfrecord.c $(FUZZ_SRC_tfrecord) $(PROTO_GEN_C) $(PROTO_GEN_H) | deps
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -Iharness -Ikernels -Ibuild/gen $< $(FUZZ_SRC_tfrecord) $(PROTO_GEN_C) -o $@ \
	  -lisal -lprotobuf-c -lz
FUZZ_INSTRUMENTED_experiment := harness/run/experiment.c harness/core/params.c harness/core/util.c
FUZZ_INSTRUMENTED_h5tensor := harness/store/store.c
build/fuzz/fuzz_%: fuzz/fuzz_%.c $$(FUZZ_INSTRUMENTED_$$*) $(LIB_OBJS) | deps
	@mkdir -p $(dir $@)
	@echo "clang -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_INSTRUMENTED_$*) + the library's other objects"
	@clang $(FUZZ_FLAGS) $(CPPFLAGS) $< $(FUZZ_INSTRUMENTED_$*) \
	  $(filter-out $(FUZZ_INSTRUMENTED_$*:%.c=build/%.o),$(LIB_OBJS)) -o $@ $(LDLIBS) -lgomp -lstdc++

fuzz: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@bash fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf build build-san mechbench mechbench-mpi

-include $(shell find build -name '*.d' 2>/dev/null)
