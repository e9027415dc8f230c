# mechbench: `make` builds ./mechbench, `make demo` sweeps and plots, `make test` runs every test suite.
# Every target first installs missing Debian packages (scripts/deps.sh, a no-op when all are present).

CC      := gcc
CXX     := g++
PKGS    := hdf5 benchmark inih openblas lapacke fftw3f sleef
OPTFLAGS := -O3 -march=native -fopenmp
WARN    := -Wall -Wextra
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS = -Iharness -Ikernels -Ibuild $(PKG_CFLAGS) -DMB_CFLAGS='"$(OPTFLAGS) $(WARN)"'
CPPFLAGS += -DMB_BENCHMARK_VERSION='"$(shell pkg-config --modversion benchmark 2>/dev/null)"'
CFLAGS   = -std=c17 -D_GNU_SOURCE $(OPTFLAGS) $(WARN) -MMD -MP
CXXFLAGS = -std=c++17 $(OPTFLAGS) $(WARN) -MMD -MP
LDLIBS   = $(PKG_LIBS) -lhdf5_hl -lgsl -lpthread -lm
PYTHON  := /usr/bin/python3

HARNESS_C  := $(filter-out harness/cli/main.c,$(wildcard harness/*/*.c))
HARNESS_CC := $(wildcard harness/*/*.cc)
KERNEL_C   := $(wildcard kernels/*/*.c)
LIB_OBJS   := $(HARNESS_C:%.c=build/%.o) $(HARNESS_CC:%.cc=build/%.o) $(KERNEL_C:%.c=build/%.o)
TEST_C     := $(wildcard tests/unit/*.c)
TEST_OBJS  := $(TEST_C:%.c=build/%.o)

.PHONY: all deps demo test unit pytest e2e bench claims readme clean
all: deps mechbench

deps:
	@bash scripts/deps.sh

mechbench: $(LIB_OBJS) build/harness/cli/main.o
	$(CXX) $(OPTFLAGS) -o $@ $^ $(LDLIBS)

build/unit_tests: $(LIB_OBJS) $(TEST_OBJS)
	$(CXX) $(OPTFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

build/harness/%.o: harness/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

build/harness/%.o: harness/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

# A kernel's source hash covers its own file and its family's shared files (kernels/FAMILY/family*, *.def):
# --resume re-measures a kernel whose code changed.
.SECONDEXPANSION:
build/kernels/%.o: kernels/%.c $$(wildcard kernels/$$(dir $$*)family* kernels/$$(dir $$*)*.def)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DMB_SOURCE_HASH="\"$$(cat $(filter %.c %.h %.def,$^) | sha256sum | cut -c1-16)\"" -c $< -o $@

build/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

demo: all
	./mechbench sweep experiments/demo.ini --out results/demo.h5 --force
	./mechbench plot results/demo.h5 --out plots/demo --crossover attention.softmax.naive,attention.linear.elu

test: all build/unit_tests
	@bash scripts/run_tests.sh

unit: all build/unit_tests
	build/unit_tests

bench: all
	@bash scripts/bench.sh

# Paper claims (experiments/claims/*.ini): table on stdout, report in results/claims.md, plots in plots/claims/.
claims: all
	./mechbench claims

# The README's kernel table from the registry (tests/tree/test_readme.py checks they agree).
readme: all
	$(PYTHON) scripts/readme_kernels.py

clean:
	rm -rf build mechbench

-include $(shell find build -name '*.d' 2>/dev/null)
