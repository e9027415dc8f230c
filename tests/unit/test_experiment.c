/* Experiment files: value lists and ranges, byte sizes, whole-file parsing with sweeps, and the exact shape of
 * every error message ("FILE:LINE: what is wrong (what is allowed)"). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/experiment.h"
#include "run/runner.h"

/* ---------------------------------------------------------------------------------------------- helpers */

static double vals[MB_MAX_VALUES];
static char err[512];

static int values(const char *text, enum mb_axis_kind kind) {
    err[0] = '\0';
    return mb_parse_values(text, kind, vals, MB_MAX_VALUES, err, sizeof err);
}

static void expect_values(const char *text, enum mb_axis_kind kind, const double *want, int count) {
    int got = values(text, kind);
    cr_assert_eq(got, count, "'%s': %d values, want %d (%s)", text, got, count, err);
    for (int i = 0; i < count; i++)
        cr_assert(fabs(vals[i] - want[i]) <= 1e-12 * fabs(want[i]), "'%s'[%d] = %.17g, want %.17g", text, i,
                  vals[i], want[i]);
}

static void expect_values_error(const char *text, enum mb_axis_kind kind, const char *substring) {
    int got = values(text, kind);
    cr_assert_eq(got, -1, "'%s' should fail, got %d values", text, got);
    cr_assert(strstr(err, substring), "'%s': message '%s' lacks '%s'", text, err, substring);
}

static struct mb_experiment *exp_;

static void setup(void) { exp_ = calloc(1, sizeof *exp_); }
static void teardown(void) {
    mb_experiment_free(exp_);
    free(exp_);
}

static int parse(const char *text) {
    err[0] = '\0';
    mb_experiment_free(exp_); /* the previous parse's text (parse starts from a cleared experiment) */
    return mb_experiment_parse(text, "demo.ini", exp_, err, sizeof err);
}

static void expect_ok(const char *text) {
    int rc = parse(text);
    cr_assert_eq(rc, 0, "unexpected error: %s", err);
}

/* The whole message starts with "demo.ini:LINE: " (or "demo.ini: " for line 0) and contains substring. */
static void expect_error(const char *text, int line, const char *substring) {
    cr_assert_eq(parse(text), -1, "should fail:\n%s", text);
    char prefix[64];
    if (line) snprintf(prefix, sizeof prefix, "demo.ini:%d: ", line);
    else snprintf(prefix, sizeof prefix, "demo.ini: ");
    cr_assert(strncmp(err, prefix, strlen(prefix)) == 0, "message '%s' does not start with '%s'", err, prefix);
    cr_assert(strstr(err, substring), "message '%s' lacks '%s'", err, substring);
    cr_assert(!strchr(err, '\n'), "message is more than one line: '%s'", err);
    cr_assert_null(exp_->ini_text, "ini_text must be freed on error");
}

static const struct mb_axis_values *sweep_axis(int sweep, const char *axis) {
    int a = mb_axis_lookup(axis);
    cr_assert_geq(a, 0);
    return &exp_->sweeps[sweep].axes[a];
}

static void expect_axis(int sweep, const char *axis, const double *want, int count) {
    const struct mb_axis_values *v = sweep_axis(sweep, axis);
    cr_assert_eq(v->count, count, "sweep %d axis %s: %d values, want %d", sweep, axis, v->count, count);
    for (int i = 0; i < count; i++) cr_assert_float_eq(v->values[i], want[i], 1e-12, "%s[%d]", axis, i);
}

#define MINIMAL "[experiment]\nname = demo\nkernels = attention.*\n"

/* ---------------------------------------------------------------------------------------------- values */

Test(values, single_and_list) {
    expect_values("64", MB_INT, (double[]){64}, 1);
    expect_values("1, 2, 4", MB_INT, (double[]){1, 2, 4}, 3);
    expect_values("1,2,4", MB_INT, (double[]){1, 2, 4}, 3);
    expect_values("  7  ", MB_INT, (double[]){7}, 1);
    expect_values("0", MB_INT, (double[]){0}, 1);
}

Test(values, geometric_range_is_inclusive) {
    expect_values("128:16384:x2", MB_INT, (double[]){128, 256, 512, 1024, 2048, 4096, 8192, 16384}, 8);
    expect_values("100:1000:x3", MB_INT, (double[]){100, 300, 900}, 3);
    expect_values("4:4:x2", MB_INT, (double[]){4}, 1);
}

Test(values, arithmetic_range) {
    expect_values("0:256:+64", MB_INT, (double[]){0, 64, 128, 192, 256}, 5);
    expect_values("1:10:+4", MB_INT, (double[]){1, 5, 9}, 3);
}

Test(values, ranges_mix_with_list_items) {
    expect_values("32, 128:512:x2", MB_INT, (double[]){32, 128, 256, 512}, 4);
}

Test(values, reals) {
    expect_values("0.5", MB_REAL, (double[]){0.5}, 1);
    expect_values("1e-3, 0.25, 16", MB_REAL, (double[]){1e-3, 0.25, 16}, 3);
    expect_values("1e-3:1:x10", MB_REAL, (double[]){1e-3, 1e-2, 1e-1, 1}, 4);
    expect_values("0:1:+0.25", MB_REAL, (double[]){0, 0.25, 0.5, 0.75, 1}, 5);
    expect_values("0:1:+0.1", MB_REAL, (double[]){0, .1, .2, .3, .4, .5, .6, .7, .8, .9, 1}, 11);
    /* tidy decimal values, not 0.010000000000000002 */
    cr_assert_eq(values("1e-3:1:x10", MB_REAL), 4);
    cr_assert_eq(vals[1], 0.01);
    cr_assert_eq(vals[3], 1.0);
}

Test(values, bools) {
    expect_values("0, 1", MB_BOOL, (double[]){0, 1}, 2);
    expect_values("true, false, yes, no", MB_BOOL, (double[]){1, 0, 1, 0}, 4);
    expect_values("TRUE", MB_BOOL, (double[]){1}, 1);
    expect_values_error("2", MB_BOOL, "cannot parse '2'");
    expect_values_error("maybe", MB_BOOL, "(use 0, 1, true, false, yes, no");
    expect_values_error("0:1:+1", MB_BOOL, "cannot parse '0:1:+1'");
}

Test(values, bad_input) {
    expect_values_error("abc", MB_INT, "cannot parse 'abc' (use 64, 1,2,4, 128:16384:x2 or 0:256:+64)");
    expect_values_error("", MB_INT, "empty value");
    expect_values_error("1,,2", MB_INT, "empty item in '1,,2'");
    expect_values_error("1,2,", MB_INT, "empty item");
    expect_values_error("1.5", MB_INT, "'1.5' is not an integer");
    expect_values_error("-4", MB_INT, "negative value '-4'");
    expect_values_error("-0.5", MB_REAL, "negative value '-0.5'");
    expect_values_error("0x10", MB_INT, "cannot parse '0x10'");
    expect_values_error("inf", MB_REAL, "cannot parse 'inf'");
    expect_values_error("nan", MB_REAL, "cannot parse 'nan'");
    expect_values_error("64k", MB_INT, "cannot parse '64k'");
}

Test(values, bad_ranges) {
    expect_values_error("1:8", MB_INT, "cannot parse '1:8'");
    expect_values_error("1:8:2", MB_INT, "cannot parse '1:8:2'");
    expect_values_error("1:8:x2:3", MB_INT, "cannot parse");
    expect_values_error("1:8:x1", MB_INT, "ratio in '1:8:x1' must be > 1");
    expect_values_error("1:8:x0.5", MB_INT, "must be > 1");
    expect_values_error("0:8:x2", MB_INT, "must start > 0");
    expect_values_error("0:256:+0", MB_INT, "step in '0:256:+0' must be > 0");
    expect_values_error("256:0:+64", MB_INT, "range '256:0:+64' is empty (end < start)");
    expect_values_error("0:10:+2.5", MB_INT, "not an integer range");
    expect_values_error("0.5:10:+1", MB_INT, "not an integer range");
    expect_values_error("-8:8:+4", MB_INT, "negative value");
}

/* Ranges that make no progress once expanded (issue 13: these hung the parser): refused, not looped on. */
Test(values, ranges_must_make_progress, .timeout = 5) {
    expect_values_error("1:1000:x1.000000000001", MB_INT, "expands to 6.91e+12 values (at most 256");
    expect_values_error("1:2:+1e-300", MB_REAL, "'1:2:+1e-300' expands to");
    expect_values_error("1e300:1e301:+1", MB_REAL, "expands to");
    cr_assert_eq(values("1:1000:x1.5", MB_INT), 17); /* repeats of small integers skipped: 1, 2, 3, 5, 8, ... */
}

Test(values, at_most_max_values) {
    cr_assert_eq(values("1:256:+1", MB_INT), MB_MAX_VALUES);
    expect_values_error("1:257:+1", MB_INT, "gives more than 256 values (at most 256)");
    expect_values_error("0:1e12:+1", MB_INT, "at most 256");
    /* a list that overflows */
    char text[4096] = "";
    for (int i = 0; i <= MB_MAX_VALUES; i++) snprintf(text + strlen(text), sizeof text - strlen(text), "%d,", i + 1);
    text[strlen(text) - 1] = '\0';
    expect_values_error(text, MB_INT, "too many values (at most 256)");
}

Test(values, bytes) {
    double b;
    cr_assert_eq(mb_parse_bytes("512", &b), 0);
    cr_assert_eq(b, 512);
    cr_assert_eq(mb_parse_bytes("4K", &b), 0);
    cr_assert_eq(b, 4096);
    cr_assert_eq(mb_parse_bytes("512M", &b), 0);
    cr_assert_eq(b, 512.0 * 1024 * 1024);
    cr_assert_eq(mb_parse_bytes("8G", &b), 0);
    cr_assert_eq(b, 8.0 * 1024 * 1024 * 1024);
    cr_assert_eq(mb_parse_bytes("2T", &b), 0);
    cr_assert_eq(b, 2.0 * 1024 * 1024 * 1024 * 1024);
    cr_assert_eq(mb_parse_bytes("1.5g", &b), 0);
    cr_assert_eq(b, 1.5 * 1024 * 1024 * 1024);
    cr_assert_eq(mb_parse_bytes("8GiB", &b), 0);
    cr_assert_eq(b, 8.0 * 1024 * 1024 * 1024);
    cr_assert_eq(mb_parse_bytes(" 16 MB ", &b), 0);
    cr_assert_eq(b, 16.0 * 1024 * 1024);
    cr_assert_eq(mb_parse_bytes("8Q", &b), -1);
    cr_assert_eq(mb_parse_bytes("G", &b), -1);
    cr_assert_eq(mb_parse_bytes("", &b), -1);
    cr_assert_eq(mb_parse_bytes("-1G", &b), -1);
    cr_assert_eq(mb_parse_bytes("abc", &b), -1);
}

/* ---------------------------------------------------------------------------------------------- files */

Test(file, defaults_and_implicit_sweep, .init = setup, .fini = teardown) {
    expect_ok(MINIMAL);
    cr_assert_str_eq(exp_->name, "demo");
    cr_assert_eq(exp_->seed, 42);
    cr_assert_eq(exp_->repetitions, 5);
    cr_assert_eq(exp_->rounds, 1);
    cr_assert_float_eq(exp_->min_time, 0.05, 1e-15);
    cr_assert_eq(exp_->max_mem, 0);
    cr_assert_eq(exp_->budget, 0);
    cr_assert_eq(exp_->check_rows, 256);
    cr_assert_str_eq(exp_->out, "");
    cr_assert_eq(exp_->n_sweeps, 1);
    cr_assert_str_eq(exp_->sweeps[0].kernels, "attention.*");
    for (int a = 0; a < MB_AXIS_COUNT; a++) cr_assert_eq(exp_->sweeps[0].axes[a].count, 0);
    cr_assert_str_eq(exp_->ini_text, MINIMAL);
}

static const char full_file[] =
    "; a demo experiment\n"                                          /* 1 */
    "# with both comment styles\n"                                   /* 2 */
    "[sweep linformer]\n"                                            /* 3: before [axes]: order does not matter */
    "kernels = attention.linformer\n"                                /* 4 */
    "rank = 16:64:x2\n"                                              /* 5 */
    "n = 1024\n"                                                     /* 6 */
    "\n"                                                             /* 7 */
    "[experiment]\n"                                                 /* 8 */
    "name = demo\n"                                                  /* 9 */
    "description = quadratic vs linear attention ; inline comment\n" /* 10 */
    "kernels = attention.softmax.*, attention.linear.elu\n"          /* 11 */
    "out = results/demo.h5\n"                                        /* 12 */
    "seed = 7\n"                                                     /* 13 */
    "repetitions = 3\n"                                              /* 14 */
    "min_time = 0.01\n"                                              /* 15 */
    "max_mem = 8G\n"                                                 /* 16 */
    "budget = 170\n"                                                 /* 17 */
    "check_rows = 0\n"                                               /* 18 */
    "\n"
    "[axes]\n"
    "n = 128:1024:x2\n"
    "d = 32, 64\n"
    "causal = no, yes\n"
    "threads = 1, 2\n"
    "eps = 1e-3:1:x10\n"
    "params = qk_std=2;inputs=recall\n"
    "\n"
    "[sweep quadratic]\n"
    "\n"
    "[sweep own_params]\n"
    "kernels = attention.softmax.naive\n"
    "params =\n";

Test(file, rounds_key, .init = setup, .fini = teardown) {
    expect_ok(MINIMAL "rounds = 4\n");
    cr_assert_eq(exp_->rounds, 4);
}

Test(file, full_file_with_sweeps_inheriting_axes, .init = setup, .fini = teardown) {
    expect_ok(full_file);
    cr_assert_str_eq(exp_->name, "demo");
    cr_assert_str_eq(exp_->description, "quadratic vs linear attention");
    cr_assert_str_eq(exp_->out, "results/demo.h5");
    cr_assert_eq(exp_->seed, 7);
    cr_assert_eq(exp_->repetitions, 3);
    cr_assert_float_eq(exp_->min_time, 0.01, 1e-15);
    cr_assert_eq(exp_->max_mem, 8.0 * 1024 * 1024 * 1024);
    cr_assert_eq(exp_->budget, 170);
    cr_assert_eq(exp_->check_rows, 0);
    cr_assert_str_eq(exp_->ini_text, full_file);

    cr_assert_eq(exp_->n_sweeps, 3, "[experiment] kernels do not add an implicit sweep when sweeps exist");
    /* linformer: its own kernels, n and rank; the rest from [axes] even though [axes] comes later */
    cr_assert_str_eq(exp_->sweeps[0].name, "linformer");
    cr_assert_str_eq(exp_->sweeps[0].kernels, "attention.linformer");
    expect_axis(0, "n", (double[]){1024}, 1);
    expect_axis(0, "rank", (double[]){16, 32, 64}, 3);
    expect_axis(0, "d", (double[]){32, 64}, 2);
    expect_axis(0, "causal", (double[]){0, 1}, 2);
    expect_axis(0, "threads", (double[]){1, 2}, 2);
    expect_axis(0, "eps", (double[]){1e-3, 1e-2, 1e-1, 1}, 4);
    expect_axis(0, "heads", NULL, 0);
    cr_assert_str_eq(exp_->sweeps[0].params, "qk_std=2;inputs=recall");
    /* an empty sweep: [experiment] kernels, every [axes] value */
    cr_assert_str_eq(exp_->sweeps[1].name, "quadratic");
    cr_assert_str_eq(exp_->sweeps[1].kernels, "attention.softmax.*, attention.linear.elu");
    expect_axis(1, "n", (double[]){128, 256, 512, 1024}, 4);
    expect_axis(1, "rank", NULL, 0);
    cr_assert_str_eq(exp_->sweeps[1].params, "qk_std=2;inputs=recall");
    /* an explicitly empty params clears the inherited one */
    cr_assert_str_eq(exp_->sweeps[2].name, "own_params");
    cr_assert_str_eq(exp_->sweeps[2].params, "");
}

Test(file, implicit_sweep_takes_axes, .init = setup, .fini = teardown) {
    expect_ok("[axes]\nn = 64, 128\nparams = qk_std=1.5\n" MINIMAL);
    cr_assert_eq(exp_->n_sweeps, 1);
    expect_axis(0, "n", (double[]){64, 128}, 2);
    cr_assert_str_eq(exp_->sweeps[0].params, "qk_std=1.5");
}

/* params are checked against the parameters the sweep's kernels declare, with the line of the params key */
Test(errors, params_unknown_or_bad, .init = setup, .fini = teardown) {
    expect_error("[axes]\nn = 64\nparams = no_such_key=1\n" MINIMAL, 3, "unknown parameter 'no_such_key'");
    cr_assert(strstr(err, "qk_std") && strstr(err, "features"), "the message lists the allowed keys: %s", err);
    expect_error(MINIMAL "[sweep p]\nkernels = attention.performer\nparams = features=sideways\n", 6,
                 "features=sideways is not allowed (one of orthogonal, iid)");
    expect_error(MINIMAL "[axes]\nparams = qk_std=0\n[sweep a]\nn = 8\n", 5, "qk_std=0");
    /* a key declared by one kernel of the sweep is accepted (the others drop it, as axes they do not read) */
    expect_ok(MINIMAL "[axes]\nparams = features=iid\n");
    expect_error("[experiment]\nname = demo\nkernels = attention.softmax.naive\n[axes]\nparams = features=iid\n", 5,
                 "unknown parameter 'features'");
}

Test(file, long_lines_and_crlf, .init = setup, .fini = teardown) {
    char text[2048], kernels[400];
    memset(kernels, 'k', sizeof kernels - 1);
    kernels[sizeof kernels - 1] = '\0';
    snprintf(text, sizeof text, "[experiment]\r\nname = demo\r\nkernels = %s\r\n[axes]\r\nn = 64\r\n", kernels);
    expect_ok(text);
    cr_assert_str_eq(exp_->sweeps[0].kernels, kernels);
    expect_axis(0, "n", (double[]){64}, 1);
}

Test(file, indented_lines_are_keys, .init = setup, .fini = teardown) {
    expect_ok(MINIMAL "[axes]\n  n = 64\n    d = 32\n");
    expect_axis(0, "n", (double[]){64}, 1);
    expect_axis(0, "d", (double[]){32}, 1);
}

Test(file, load_from_disk, .init = setup, .fini = teardown) {
    char path[] = "/tmp/mb_test_experiment_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(MINIMAL "[axes]\nn = 32\n", f);
    fclose(f);
    int rc = mb_experiment_load(path, exp_, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(exp_->ini_text, MINIMAL "[axes]\nn = 32\n");
    mb_experiment_free(exp_);
    f = fopen(path, "w");
    fputs("[experiment]\nname = demo\nbogus = 1\n", f);
    fclose(f);
    cr_assert_eq(mb_experiment_load(path, exp_, err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want, "%s:3: unknown key 'bogus'", path);
    cr_assert(strncmp(err, want, strlen(want)) == 0, "%s", err);
    unlink(path);
    cr_assert_eq(mb_experiment_load(path, exp_, err, sizeof err), -1);
    cr_assert(strstr(err, "cannot open"), "%s", err);
}

/* ---------------------------------------------------------------------------------------------- errors */

Test(errors, unknown_axis_key_lists_every_axis, .init = setup, .fini = teardown) {
    expect_error(MINIMAL "[axes]\nn = 64\nnn = 3\n", 6, "unknown key 'nn' in [axes] (allowed: n, d, heads, ");
    for (int a = 0; a < MB_AXIS_COUNT; a++) cr_assert(strstr(err, mb_axes[a].name), "%s not listed", mb_axes[a].name);
    cr_assert(strstr(err, "params)"), "%s", err);
    expect_error(MINIMAL "[sweep s]\nkernel = x\n", 5, "unknown key 'kernel' in [sweep s] (allowed: n, d,");
    cr_assert(strstr(err, "params, kernels)"), "%s", err);
    expect_error(MINIMAL "[axes]\nkernels = x\n", 5, "unknown key 'kernels' in [axes]");
}

Test(errors, unknown_experiment_key, .init = setup, .fini = teardown) {
    expect_error(MINIMAL "reps = 3\n", 4, "unknown key 'reps' in [experiment] (allowed: name, description, kernels, "
                                          "out, seed, repetitions, rounds, min_time, max_mem, budget, "
                                          "check_rows)");
}

Test(errors, out_of_range, .init = setup, .fini = teardown) {
    expect_error("[experiment]\nname = demo\nrepetitions = 0\n", 3, "repetitions = 0 is out of range (1..1000)");
    expect_error(MINIMAL "repetitions = 1001\n", 4, "repetitions = 1001 is out of range (1..1000)");
    expect_error(MINIMAL "repetitions = 2.5\n", 4, "cannot parse repetitions = '2.5' (use an integer 1..1000)");
    expect_error(MINIMAL "rounds = 0\n", 4, "rounds = 0 is out of range (1..100)");
    expect_error(MINIMAL "rounds = 101\n", 4, "rounds = 101 is out of range (1..100)");
    expect_error(MINIMAL "rounds = x\n", 4, "cannot parse rounds = 'x' (use an integer 1..100)");
    expect_error(MINIMAL "min_time = 0\n", 4, "min_time = 0 is out of range (seconds > 0 and <= 60)");
    expect_error(MINIMAL "min_time = 61\n", 4, "min_time = 61 is out of range");
    expect_error(MINIMAL "min_time = -1\n", 4, "min_time = -1 is out of range");
    expect_error(MINIMAL "min_time = fast\n", 4, "cannot parse min_time = 'fast'");
    expect_error(MINIMAL "budget = -5\n", 4, "budget = -5 is out of range (seconds >= 0");
    expect_error(MINIMAL "budget = soon\n", 4, "cannot parse budget = 'soon'");
    expect_error(MINIMAL "check_rows = -1\n", 4, "check_rows = -1 is out of range (>= 0");
    expect_error(MINIMAL "check_rows = many\n", 4, "cannot parse check_rows = 'many'");
    expect_error(MINIMAL "seed = -1\n", 4, "cannot parse seed = '-1' (use an integer 0..");
    expect_error(MINIMAL "seed = 99999999999999999999\n", 4, "cannot parse seed");
    expect_error(MINIMAL "max_mem = 8Q\n", 4, "cannot parse max_mem = '8Q' (use bytes");
}

Test(errors, in_range_edges_are_accepted, .init = setup, .fini = teardown) {
    expect_ok(MINIMAL "repetitions = 1000\nmin_time = 60\nbudget = 0\ncheck_rows = 0\nmax_mem = 0\n"
                      "seed = 18446744073709551615\n");
    cr_assert_eq(exp_->repetitions, 1000);
    cr_assert_eq(exp_->seed, UINT64_MAX);
}

Test(errors, bad_axis_values_name_the_axis, .init = setup, .fini = teardown) {
    expect_error(MINIMAL "[axes]\n\n\n\nn = abc\n", 8,
                 "cannot parse 'abc' for axis n (use 64, 1,2,4, 128:16384:x2 or 0:256:+64)");
    expect_error(MINIMAL "[axes]\nd = 1.5\n", 5, "'1.5' is not an integer for axis d");
    expect_error(MINIMAL "[axes]\ncausal = maybe\n", 5, "cannot parse 'maybe' for axis causal (use 0, 1, true");
    expect_error(MINIMAL "[axes]\nn = 128:64:x2\n", 5, "range '128:64:x2' for axis n is empty");
    expect_error(MINIMAL "[axes]\nrank = 1:8:x1\n", 5, "ratio in '1:8:x1' for axis rank must be > 1");
    expect_error(MINIMAL "[axes]\nthreads = -1\n", 5, "negative value '-1' for axis threads (values are >= 0)");
    expect_error(MINIMAL "[axes]\nn =\n", 5, "empty value for axis n");
    expect_error(MINIMAL "[sweep s]\nn = 1:1000:+1\n", 5, "for axis n gives more than 256 values (at most 256)");
    expect_error(MINIMAL "[axes]\neps = x\n", 5, "cannot parse 'x' for axis eps");
}

Test(errors, duplicate_keys, .init = setup, .fini = teardown) {
    expect_error(MINIMAL "[axes]\nn = 64\nd = 32\nn = 128\n", 7,
                 "duplicate key 'n' in [axes] (first set at line 5");
    expect_error("[experiment]\nname = demo\nname = other\n", 3, "duplicate key 'name' in [experiment] (first set at "
                                                                 "line 2");
    expect_error(MINIMAL "[sweep a]\nn = 1\nn = 2\n", 6, "duplicate key 'n' in [sweep a]");
    /* the same key in different sections is fine */
    expect_ok(MINIMAL "[axes]\nn = 64\n[sweep a]\nn = 128\n[sweep b]\nn = 256\n");
}

Test(errors, sections, .init = setup, .fini = teardown) {
    expect_error(MINIMAL "[axis]\nn = 1\n", 4, "unknown section [axis] (allowed: [experiment], [axes], [sweep NAME])");
    expect_error(MINIMAL "[bogus]\n", 4, "unknown section [bogus]");
    expect_error(MINIMAL "[sweep]\n", 4, "[sweep] needs a name (use [sweep NAME])");
    expect_error(MINIMAL "[sweep a b]\n", 4, "bad sweep name 'a b'");
    expect_error(MINIMAL "[sweep a]\n[sweep a]\n", 5, "duplicate section [sweep a] (first at line 4");
    expect_error(MINIMAL "[axes]\n[axes]\n", 5, "duplicate section [axes] (first at line 4");
    expect_error("n = 4\n" MINIMAL, 1, "key 'n' is outside a section");
    char text[4096] = MINIMAL;
    for (int i = 0; i <= MB_MAX_SWEEPS; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "[sweep s%d]\n", i);
    expect_error(text, 4 + MB_MAX_SWEEPS, "too many [sweep] sections (at most 32)");
}

Test(errors, malformed_lines, .init = setup, .fini = teardown) {
    expect_error(MINIMAL "[axes]\nn 64\n", 5, "malformed line (expected key = value or [section])");
    expect_error(MINIMAL "[axes\nn = 1\n", 4, "malformed line");
    /* the first error wins, whichever kind it is */
    expect_error(MINIMAL "junk\n[axes]\nnn = 1\n", 4, "malformed line");
    expect_error(MINIMAL "[axes]\nnn = 1\njunk\n", 5, "unknown key 'nn'");
}

Test(errors, name_and_kernels, .init = setup, .fini = teardown) {
    expect_error("[experiment]\nkernels = x\n", 0, "[experiment] name is required");
    cr_assert_str_eq(err, "demo.ini: [experiment] name is required");
    expect_error("", 0, "[experiment] name is required");
    expect_error("[experiment]\nname = demo\n[axes]\nn = 64\n", 0,
                 "no kernels (set kernels = in [experiment] or add [sweep NAME] sections)");
    expect_error("[experiment]\nname = demo\n[sweep a]\nkernels = x\n[sweep b]\nn = 1\n", 5,
                 "[sweep b] has no kernels (set kernels = in [sweep b] or in [experiment])");
    expect_error("[experiment]\nname = my demo\n", 2, "bad name 'my demo'");
    expect_error("[experiment]\nname = demo\nkernels =\n", 3, "kernels is empty");
}

Test(errors, string_lengths, .init = setup, .fini = teardown) {
    char text[1024], params[MB_PARAMS_LEN + 1];
    memset(params, 'p', MB_PARAMS_LEN);
    params[MB_PARAMS_LEN] = '\0';
    snprintf(text, sizeof text, MINIMAL "[axes]\nparams = %s\n", params);
    expect_error(text, 5, "params is too long (128 characters, at most 127)");
    memcpy(params, "qk_std=1.", 9); /* a valid value that fills the 127 characters: 1.000...0 */
    memset(params + 9, '0', MB_PARAMS_LEN - 1 - 9);
    params[MB_PARAMS_LEN - 1] = '\0';
    snprintf(text, sizeof text, MINIMAL "[axes]\nparams = %s\n", params);
    expect_ok(text);
    mb_experiment_free(exp_);
    char name[80];
    memset(name, 'n', 64);
    name[64] = '\0';
    snprintf(text, sizeof text, "[experiment]\nname = %s\n", name);
    expect_error(text, 2, "name is too long (64 characters, at most 63)");
}

/* A three-line file must not plan millions of points (the sweep hung expanding and deduplicating them): the count
   is refused before anything is expanded or created. Found by fuzz/fuzz_experiment.c's seed many_points.ini. */
Test(file, a_sweep_of_too_many_points_is_refused_before_the_file_exists, .init = setup, .fini = teardown) {
    expect_ok("[experiment]\nname = big\nkernels = attention.softmax.naive\n[axes]\nn = 1:256:+1\nd = 1:256:+1\n"
              "heads = 1:64:+1\n");
    char out[] = "/tmp/mb_test_big_XXXXXX";
    int fd = mkstemp(out);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(out);
    struct mb_sweep_opts so = {.out = out, .budget = -1};
    cr_assert_eq(mb_sweep_run(exp_, &so, err, sizeof err), 2);
    cr_assert(strstr(err, "sweep 'default': 4194304 points (1 kernels x the axes' values), more than 1048576"), "%s",
              err);
    cr_assert_eq(access(out, F_OK), -1, "%s was created", out);
    /* two sweeps count together */
    expect_ok("[experiment]\nname = two\nkernels = attention.softmax.naive\n[sweep a]\nn = 1:256:+1\nd = 1:256:+1\nheads = 1:10:+1\n"
              "[sweep b]\nn = 1:256:+1\nd = 1:256:+1\nheads = 1:10:+1\n");
    cr_assert_eq(mb_sweep_run(exp_, &so, err, sizeof err), 2);
    cr_assert(strstr(err, "sweep 'b': 655360 points (1 kernels x the axes' values) after the earlier sweeps' points"),
              "%s", err);
    cr_assert_eq(access(out, F_OK), -1);
}
