/* peft families (peft, peft.lora, peft.adapter, peft.prompt): every registered kernel against its double-precision
 * oracle at odd shapes (n = 1, 7, 257; d_in != d_out; rank r, m, L_p = 1 and = min(d_in, d_out); 1 and 2 threads)
 * with a wrong output caught; merged == unmerged == the timed merge; a zero up-projection leaves the frozen layer;
 * the prompt rows and the token rows; the FLOP models; clear refusals. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mechbench.h"
#include "run/runner.h"

struct shape {
    int64_t batch, n, d_in, d_out, r;
    double alpha;
};

static const struct shape shapes[] = {
    {1, 1, 33, 17, 1, 0},   {2, 7, 64, 96, 5, 16},  {1, 257, 48, 48, 48, 0}, {3, 65, 17, 40, 17, 3.5},
    {1, 130, 128, 64, 64, 64}, {2, 3, 9, 1, 1, 2},
    {1, 5, 20, 13, 3, 0}, /* a few rows (the small-M GEMM): 13 outputs = 3 blocks of 4 + 1, 20 = 16 + a tail */
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static int is_merge(const struct mb_kernel *k) { return !strcmp(k->family->name, "peft.lora"); }

/* The point of k at s (peft.lora: n = d_out, the rows of W), params parsed with `extra` appended. */
static struct mb_point point_of(const struct mb_kernel *k, const struct shape *s, int threads, const char *extra) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = s->batch, p.n = s->n, p.d = s->d_in, p.rank = s->r, p.alpha = s->alpha, p.threads = threads;
    char params[96], err[256];
    if (is_merge(k)) {
        p.n = s->d_out;
        snprintf(params, sizeof params, "%s", extra);
    } else
        snprintf(params, sizeof params, "d_out=%lld%s%s", (long long)s->d_out, extra[0] ? ";" : "", extra);
    cr_assert_eq(mb_params_parse(k, params, MB_PARAMS_LENIENT, &p, err, sizeof err), 0, "%s", err);
    mb_point_complete(k, &p, MB_AXIS_BIT(alpha));
    return p;
}

/* Creates k's workload at p (seed 7); `edit` (may be NULL) changes the inputs before the run. */
static void run_at(const struct mb_kernel *k, const struct mb_point *p, struct mb_workload *w,
                   void (*edit)(struct mb_workload *)) {
    char err[256];
    cr_assert_eq(mb_workload_create(w, k->family, p, 7, err, sizeof err), 0, "%s: %s", k->name, err);
    if (edit) edit(w);
    cr_assert_eq(mb_run_once(k, w, err, sizeof err), 0, "%s", err);
}

/* Runs k at s; returns its output (malloc'd, count in *count) and the error vs its mechanism (tamper: one value
   off). */
static float *run(const struct mb_kernel *k, const struct shape *s, int threads, const char *extra, int tamper,
                  struct mb_errors *e, int64_t *count) {
    const struct mb_point p = point_of(k, s, threads, extra);
    struct mb_workload w;
    run_at(k, &p, &w, NULL);
    if (tamper) w.outputs[0].data[mb_tensor_numel(&w.outputs[0]) - 1] += 0.5f;
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    char err[256];
    cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, e, err, sizeof err), 0, "%s", err);
    *count = mb_tensor_numel(&w.outputs[0]);
    float *out = malloc((size_t)*count * sizeof(float));
    memcpy(out, w.outputs[0].data, (size_t)*count * sizeof(float));
    mb_workload_free(&w);
    return out;
}

static double rel_diff(const float *a, const float *b, int64_t count) {
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < count; i++) {
        diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        ref += (double)b[i] * b[i];
    }
    return sqrt(diff / ref);
}

Test(peft, every_kernel_matches_its_oracle_at_odd_shapes) {
    int kernels = 0;
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strncmp(k->family->name, "peft", 4) || (k->family->name[4] && k->family->name[4] != '.')) continue;
        kernels++;
        const double tol = mb_family_mechanism(k->family, k->mechanism)->tolerance;
        /* the adapters under each activation */
        const int adapter = !strcmp(k->family->name, "peft.adapter");
        static const char *const acts[] = {"act=relu", "act=gelu", "act=gelu_tanh"};
        for (int a = 0; a < (adapter ? 3 : 1); a++)
            for (size_t s = 0; s < N_SHAPES; s++)
                for (int t = 1; t <= 2; t++) {
                    struct mb_errors e;
                    int64_t count;
                    free(run(k, &shapes[s], t, adapter ? acts[a] : "", 0, &e, &count));
                    cr_assert_eq(e.checked, count, "%s: every value checked", k->name);
                    cr_assert_leq(e.rel_l2, tol, "%s shape %zu threads %d %s: rel_l2 %g", k->name, s, t,
                                  adapter ? acts[a] : "", e.rel_l2);
                }
        struct mb_errors bad;
        int64_t count;
        free(run(k, &shapes[1], 1, "", 1, &bad, &count));
        cr_assert_gt(bad.max_abs, 0.4, "%s: a wrong output must be caught", k->name);
    }
    cr_assert_geq(kernels, 7);
}

Test(peft, merged_equals_unmerged_and_lora_changes_the_base) {
    const struct mb_kernel *merged = mb_kernel_find("peft.lora.merged"), *unmerged = mb_kernel_find("peft.lora.unmerged");
    const struct mb_kernel *base = mb_kernel_find("peft.linear.base");
    for (size_t s = 0; s < N_SHAPES; s++) {
        struct mb_errors e;
        int64_t n1, n2, n3;
        float *a = run(merged, &shapes[s], 1, "", 0, &e, &n1), *b = run(unmerged, &shapes[s], 2, "", 0, &e, &n2);
        float *c = run(base, &shapes[s], 1, "", 0, &e, &n3);
        cr_assert_eq(n1, n2);
        cr_assert_lt(rel_diff(a, b, n1), 1e-5, "shape %zu: merged vs unmerged %g", s, rel_diff(a, b, n1));
        cr_assert_gt(rel_diff(c, b, n1), 1e-3, "shape %zu: the LoRA update is not the zero of its init", s);
        free(a), free(b), free(c);
    }
}

/* The timed merge's W, used as a plain linear layer in double, gives the unmerged LoRA layer's output (the peft and
   peft.lora families draw weight, lora_A, lora_B from the same streams). */
Test(peft, the_timed_merge_serves_the_unmerged_layer) {
    const struct mb_kernel *merge = mb_kernel_find("peft.lora.merge"), *unmerged = mb_kernel_find("peft.lora.unmerged");
    cr_assert_not_null(merge);
    for (size_t s = 0; s < N_SHAPES; s++) {
        struct mb_workload wm, wu;
        const struct mb_point pm = point_of(merge, &shapes[s], 2, ""), pu = point_of(unmerged, &shapes[s], 1, "");
        run_at(merge, &pm, &wm, NULL);
        run_at(unmerged, &pu, &wu, NULL);
        const float *W = wm.outputs[0].data, *x = wu.inputs[0].data, *bias = wu.inputs[2].data;
        const int64_t tokens = shapes[s].batch * shapes[s].n, d_in = shapes[s].d_in, d_out = shapes[s].d_out;
        cr_assert_eq(memcmp(wm.inputs[0].data, wu.inputs[1].data, (size_t)(d_in * d_out) * sizeof(float)), 0);
        float *served = malloc((size_t)(tokens * d_out) * sizeof(float));
        for (int64_t t = 0; t < tokens; t++)
            for (int64_t o = 0; o < d_out; o++) {
                double acc = bias[o];
                for (int64_t i = 0; i < d_in; i++) acc += (double)W[o * d_in + i] * x[t * d_in + i];
                served[t * d_out + o] = (float)acc;
            }
        cr_assert_lt(rel_diff(served, wu.outputs[0].data, tokens * d_out), 1e-5, "shape %zu", s);
        free(served);
        mb_workload_free(&wm), mb_workload_free(&wu);
    }
}

static void zero_up(struct mb_workload *w) {
    float *up_w = mb_workload_tensor(w, "up_weight")->data, *up_b = mb_workload_tensor(w, "up_bias")->data;
    memset(up_w, 0, (size_t)mb_tensor_numel(mb_workload_tensor(w, "up_weight")) * sizeof(float));
    memset(up_b, 0, (size_t)mb_tensor_numel(mb_workload_tensor(w, "up_bias")) * sizeof(float));
}

/* up_weight = 0, up_bias = 0: the adapters add exactly zero, the output is the frozen layer's bit for bit (the same
   per-thread body on the same token shares); with the seeded (trained) up-projection they differ. */
Test(peft, a_zero_up_projection_leaves_the_frozen_layer_exactly) {
    const struct mb_kernel *base = mb_kernel_find("peft.linear.base");
    const char *const names[] = {"peft.adapter.serial", "peft.adapter.parallel"};
    for (int a = 0; a < 2; a++) {
        const struct mb_kernel *k = mb_kernel_find(names[a]);
        for (size_t s = 0; s < N_SHAPES; s++)
            for (int t = 1; t <= 2; t++) {
                struct mb_workload wa, wz, wb;
                const struct mb_point pa = point_of(k, &shapes[s], t, ""), pb = point_of(base, &shapes[s], t, "");
                run_at(k, &pa, &wa, NULL);
                run_at(k, &pa, &wz, zero_up);
                run_at(base, &pb, &wb, NULL);
                const int64_t count = mb_tensor_numel(&wb.outputs[0]);
                cr_assert_eq(memcmp(wz.outputs[0].data, wb.outputs[0].data, (size_t)count * sizeof(float)), 0,
                             "%s shape %zu threads %d: not the base layer exactly", k->name, s, t);
                cr_assert_gt(rel_diff(wa.outputs[0].data, wb.outputs[0].data, count), 1e-3,
                             "%s shape %zu: the seeded adapter is not the identity", k->name, s);
                mb_workload_free(&wa), mb_workload_free(&wz), mb_workload_free(&wb);
            }
    }
}

/* The parallel adapter's s scales its whole branch: s = 0 is the base layer, s = 2 doubles out - h. */
Test(peft, the_parallel_scale_scales_the_branch) {
    const struct mb_kernel *k = mb_kernel_find("peft.adapter.parallel"), *base = mb_kernel_find("peft.linear.base");
    struct mb_errors e;
    int64_t n0, n1, n2, nb;
    float *s0 = run(k, &shapes[1], 1, "scale=0", 0, &e, &n0), *s1 = run(k, &shapes[1], 1, "scale=1", 0, &e, &n1);
    float *s2 = run(k, &shapes[1], 1, "scale=2", 0, &e, &n2), *b = run(base, &shapes[1], 1, "", 0, &e, &nb);
    cr_assert_lt(rel_diff(s0, b, nb), 1e-7);
    for (int64_t i = 0; i < nb; i++) cr_assert_float_eq(s2[i] - b[i], 2 * (s1[i] - b[i]), 1e-5, "value %lld", (long long)i);
    free(s0), free(s1), free(s2), free(b);
}

/* Prompt tuning: row L_p + j of sequence b is the base layer on token j of b; rows < L_p are the same in every
   sequence (the prompt through the frozen layer). */
Test(peft, prompt_rows_and_token_rows) {
    const struct mb_kernel *k = mb_kernel_find("peft.prompt"), *base = mb_kernel_find("peft.linear.base");
    cr_assert_not_null(k, "peft.prompt resolves (alias)");
    for (size_t s = 0; s < N_SHAPES; s++) {
        struct mb_errors e;
        int64_t np, nb;
        float *p = run(k, &shapes[s], 2, "", 0, &e, &np), *b = run(base, &shapes[s], 1, "", 0, &e, &nb);
        const int64_t lp = shapes[s].r, n = shapes[s].n, d_out = shapes[s].d_out, batch = shapes[s].batch;
        cr_assert_eq(np, batch * (lp + n) * d_out);
        for (int64_t bi = 0; bi < batch; bi++) {
            cr_assert_lt(rel_diff(p + (bi * (lp + n) + lp) * d_out, b + bi * n * d_out, n * d_out), 1e-6);
            cr_assert_lt(rel_diff(p + bi * (lp + n) * d_out, p, lp * d_out), 1e-7);
        }
        free(p), free(b);
    }
}

Test(peft, flop_models) {
    struct mb_point p;
    const struct shape s = {2, 10, 8, 6, 3, 0};
    p = point_of(mb_kernel_find("peft.lora.unmerged"), &s, 1, "");
    cr_assert_float_eq(mb_kernel_flops(mb_kernel_find("peft.lora.unmerged"), &p), 2.0 * 20 * 8 * 6 + 2.0 * 20 * 3 * 14,
                       1e-9);
    const double base = 2.0 * 20 * 8 * 6;
    p = point_of(mb_kernel_find("peft.adapter.serial"), &s, 1, "");
    cr_assert_float_eq(mb_kernel_flops(mb_kernel_find("peft.adapter.serial"), &p),
                       base + 4.0 * 20 * 3 * 6 + 20 * (3 + 2 * 6), 1e-9); /* down + up, biases, residual */
    p = point_of(mb_kernel_find("peft.adapter.parallel"), &s, 1, "");
    cr_assert_float_eq(mb_kernel_flops(mb_kernel_find("peft.adapter.parallel"), &p),
                       base + 2.0 * 20 * 3 * (8 + 6) + 20 * (3 + 3 * 6), 1e-9); /* + the scale */
    p = point_of(mb_kernel_find("peft.prompt"), &s, 1, "");
    cr_assert_float_eq(mb_kernel_flops(mb_kernel_find("peft.prompt"), &p), 2.0 * 2 * (10 + 3) * 8 * 6, 1e-9);
    p = point_of(mb_kernel_find("peft.lora.merge"), &s, 1, "");
    cr_assert_float_eq(mb_kernel_flops(mb_kernel_find("peft.lora.merge"), &p), 2.0 * 3 * 8 * 6 + 8 * 6, 1e-9);
    cr_assert_float_eq(mb_kernel_workspace(mb_kernel_find("peft.adapter.serial"), &(struct mb_point){0}), 0, 1e-9);
}

static int layout_error(const char *kernel, const struct shape *s, const char *extra, char *err, size_t errlen) {
    const struct mb_kernel *k = mb_kernel_find(kernel);
    struct mb_point p = point_of(k, s, 1, extra);
    struct mb_workload w = {.family = k->family, .point = p};
    return k->family->layout(&w, err, errlen);
}

Test(peft, bad_shapes_and_params_are_refused) {
    char err[256];
    const struct shape too_wide = {1, 4, 16, 16, 17, 0};
    cr_assert_eq(layout_error("peft.lora.unmerged", &too_wide, "", err, sizeof err), -1);
    cr_assert(strstr(err, "rank r = 17") && strstr(err, "1..16"), "%s", err);
    cr_assert_eq(layout_error("peft.lora.merge", &too_wide, "", err, sizeof err), -1);
    cr_assert(strstr(err, "rank r = 17") && strstr(err, "1..16"), "%s", err);
    /* each adapter kernel computes its own placement */
    const struct mb_kernel *serial = mb_kernel_find("peft.adapter.serial");
    struct mb_point p = point_of(serial, &shapes[1], 1, "placement=parallel");
    cr_assert_eq(mb_kernel_supports(serial, &p, err, sizeof err), 1);
    cr_assert(strstr(err, "serial") && strstr(err, "peft.adapter.parallel"), "%s", err);
    cr_assert_eq(mb_params_parse(serial, "act=tanh", 0, &p, err, sizeof err), -1);
    cr_assert(strstr(err, "tanh") && strstr(err, "gelu_tanh"), "%s", err);
    /* the layouts follow the placement: down_weight (m, d_out) serial, (m, d_in) parallel */
    struct mb_workload w;
    p = point_of(serial, &shapes[1], 1, "");
    cr_assert_eq(mb_workload_create(&w, serial->family, &p, 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_workload_tensor(&w, "down_weight")->shape[1], shapes[1].d_out);
    mb_workload_free(&w);
    const struct mb_kernel *parallel = mb_kernel_find("peft.adapter.parallel");
    p = point_of(parallel, &shapes[1], 1, "");
    cr_assert_eq(mb_workload_create(&w, parallel->family, &p, 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_workload_tensor(&w, "down_weight")->shape[1], shapes[1].d_in);
    mb_workload_free(&w);
}
