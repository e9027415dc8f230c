/* The runner: workloads, admitting a point (support, memory budget), measuring it (Google Benchmark timing,
 * then the oracle checks) into a struct mb_row. Sweeps are in sweep.c. */
#include "run/runner.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void mb_run_opts_default(struct mb_run_opts *o) {
    o->repetitions = 5;
    o->min_time = 0.05;
    o->seed = 42;
    o->max_mem = mb_physical_memory() / 2;
    o->check_rows = 256;
}

/* Kernels own the parallelism (OpenMP): OpenBLAS calls inside them must be single-threaded. */
static void blas_single_threaded(void) {
    static int done;
    if (!done) {
        openblas_set_num_threads(1);
        done = 1;
    }
}

static double kernel_tolerance(const struct mb_kernel *k) {
    if (k->tolerance > 0) return k->tolerance;
    const struct mb_mechanism *m = mb_family_mechanism(k->family, k->mechanism);
    return m ? m->tolerance : 0;
}

void mb_row_init(struct mb_row *row, const struct mb_kernel *k, const struct mb_point *p) {
    memset(row, 0, sizeof *row);
    snprintf(row->kernel, sizeof row->kernel, "%s", k->name);
    snprintf(row->family, sizeof row->family, "%s", k->family->name);
    snprintf(row->source_hash, sizeof row->source_hash, "%s", k->source_hash);
    row->point = *p;
    row->flops = mb_kernel_flops(k, p);
    row->bytes = mb_kernel_bytes(k, p);
    row->workspace_bytes = mb_kernel_workspace(k, p);
    row->items = mb_kernel_items(k, p);
    if (k->items_unit) snprintf(row->items_unit, sizeof row->items_unit, "%s", k->items_unit);
    row->tolerance = kernel_tolerance(k);
    row->verdict = MB_ERROR;
    row->task_score = NAN;
    row->started = mb_wall_clock();
    if (gethostname(row->host, sizeof row->host - 1) != 0) snprintf(row->host, sizeof row->host, "unknown");
}

int mb_row_admit(struct mb_row *row, const struct mb_kernel *k, const struct mb_run_opts *o, char *err,
                 size_t errlen) {
    if (mb_family_validate(k->family, &row->point, err, errlen)) return -1;
    char why[MB_MESSAGE_LEN] = "";
    if (mb_kernel_supports(k, &row->point, why, sizeof why)) {
        row->verdict = MB_UNSUPPORTED;
        snprintf(row->message, sizeof row->message, "%s", why);
        return 1;
    }
    struct mb_workload probe = {.family = k->family, .point = row->point};
    if (k->family->layout(&probe, err, errlen)) return -1;
    row->input_bytes = mb_workload_bytes(&probe);
    double need = row->input_bytes + row->workspace_bytes;
    if (o->max_mem > 0 && need > o->max_mem) {
        row->verdict = MB_SKIPPED_BUDGET;
        snprintf(row->message, sizeof row->message, "needs %.3g GB (inputs + workspace) > max_mem %.3g GB",
                 need / 1e9, o->max_mem / 1e9);
        return 1;
    }
    return 0;
}

struct timed_body {
    const struct mb_kernel *k;
    void *state;
};
static void timed_body(void *ctx) {
    struct timed_body *b = ctx;
    b->k->run(b->state);
}

/* Compare the kernel's outputs with the oracle of its own mechanism and, for approximations, the exact one. */
static int check_outputs(struct mb_row *row, const struct mb_kernel *k, const struct mb_workload *w,
                         const struct mb_run_opts *o, char *err, size_t errlen) {
    struct mb_check_opts co = {.sample_rows = o->check_rows, .seed = o->seed};
    if (k->family->check(k, w, k->mechanism, &co, &row->own, err, errlen)) return -1;
    if (!k->approximates) {
        row->exact = row->own;
        return 0;
    }
    return k->family->check(k, w, k->approximates, &co, &row->exact, err, errlen);
}

static void verdict_from_errors(struct mb_row *row) {
    int ok = row->own.checked > 0 && row->own.rel_l2 <= row->tolerance;
    row->verdict = ok ? MB_PASS : MB_FAIL;
    if (!ok)
        snprintf(row->message, sizeof row->message, "rel_l2 %.3g vs own oracle exceeds tolerance %.3g",
                 row->own.rel_l2, row->tolerance);
}

void mb_measure(struct mb_row *row, const struct mb_kernel *k, struct mb_workload *w, const struct mb_run_opts *o,
                double *samples) {
    char err[MB_MESSAGE_LEN];
    void *state = NULL;
    blas_single_threaded();
    w->point.threads = row->point.threads; /* a workload is shared across thread counts */
    omp_set_num_threads((int)row->point.threads);
    row->input_bytes = mb_workload_bytes(w);
    if (mb_kernel_setup(k, &state, w, err, sizeof err)) {
        row->verdict = MB_ERROR;
        snprintf(row->message, sizeof row->message, "setup: %.150s", err);
        return;
    }
    struct timed_body body = {k, state};
    struct mb_timing t;
    if (mb_gbench_measure(k->name, timed_body, &body, o->min_time, o->repetitions, samples, &t, err, sizeof err)) {
        k->teardown(state);
        row->verdict = MB_ERROR;
        snprintf(row->message, sizeof row->message, "%s", err);
        return;
    }
    k->teardown(state);
    row->iterations = t.iterations;
    row->repetitions = t.repetitions;
    row->time_mean = t.mean;
    row->time_median = t.median;
    row->time_min = t.min;
    row->time_max = t.max;
    row->time_stddev = t.stddev;
    row->time_cv = t.cv;
    row->samples = samples;
    row->n_samples = t.repetitions;
    row->gflops = row->flops / t.median / 1e9;
    row->gbps = row->bytes / t.median / 1e9;
    row->items_per_second = row->items / t.median;
    if (row->own.checked > 0) { /* checked in the point's first round: the same inputs and code */
        verdict_from_errors(row);
        return;
    }
    if (check_outputs(row, k, w, o, err, sizeof err)) {
        row->verdict = MB_ERROR;
        snprintf(row->message, sizeof row->message, "oracle: %.150s", err);
        return;
    }
    struct mb_check_opts co = {.sample_rows = o->check_rows, .seed = o->seed};
    if (k->family->task && k->family->task(k, w, &co, &row->task_score, err, sizeof err) < 0) {
        row->verdict = MB_ERROR;
        snprintf(row->message, sizeof row->message, "task: %.150s", err);
        return;
    }
    verdict_from_errors(row);
}

int mb_run_once(const struct mb_kernel *k, struct mb_workload *w, char *err, size_t errlen) {
    void *state = NULL;
    blas_single_threaded();
    omp_set_num_threads((int)(w->point.threads > 0 ? w->point.threads : 1));
    if (mb_kernel_setup(k, &state, w, err, errlen)) return -1;
    k->run(state);
    k->teardown(state);
    return 0;
}
