/* peft family: every registered peft kernel against its double-precision oracle at odd shapes (n = 1, 7, 257;
 * d_in != d_out; r = 1 and r = min(d_in, d_out); 1 and 2 threads); merged == unmerged; a wrong output is caught. */
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
    {1, 1, 33, 17, 1, 0}, {2, 7, 64, 96, 5, 16}, {1, 257, 48, 48, 48, 0}, {3, 65, 17, 40, 17, 3.5},
    {1, 130, 128, 64, 64, 64},
};

/* Runs k at s; returns its output (malloc'd, count in *count) and the error vs `mechanism` (tamper: one value off). */
static float *run(const struct mb_kernel *k, const struct shape *s, int threads, const char *mechanism, int tamper,
                  struct mb_errors *e, int64_t *count) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = s->batch, p.n = s->n, p.d = s->d_in, p.rank = s->r, p.alpha = s->alpha, p.threads = threads;
    char params[32], err[256];
    snprintf(params, sizeof params, "d_out=%lld", (long long)s->d_out);
    cr_assert_eq(mb_params_parse(k, params, 0, &p, err, sizeof err), 0, "%s", err);
    mb_point_complete(k, &p, MB_AXIS_BIT(alpha));
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 7, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    if (tamper) w.outputs[0].data[mb_tensor_numel(&w.outputs[0]) - 1] += 0.5f;
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, &w, mechanism, &co, e, err, sizeof err), 0, "%s", err);
    *count = mb_tensor_numel(&w.outputs[0]);
    float *out = malloc((size_t)*count * sizeof(float));
    memcpy(out, w.outputs[0].data, (size_t)*count * sizeof(float));
    mb_workload_free(&w);
    return out;
}

Test(peft, every_kernel_matches_its_oracle_at_odd_shapes) {
    int kernels = 0;
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strcmp(k->family->name, "peft")) continue;
        kernels++;
        const double tol = mb_family_mechanism(k->family, k->mechanism)->tolerance;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 1; t <= 2; t++) {
                struct mb_errors e;
                int64_t count;
                free(run(k, &shapes[s], t, k->mechanism, 0, &e, &count));
                cr_assert_eq(e.checked, shapes[s].batch * shapes[s].n * shapes[s].d_out, "%s", k->name);
                cr_assert_leq(e.rel_l2, tol, "%s shape %zu threads %d: rel_l2 %g", k->name, s, t, e.rel_l2);
            }
        struct mb_errors bad;
        int64_t count;
        free(run(k, &shapes[1], 1, k->mechanism, 1, &bad, &count));
        cr_assert_gt(bad.max_abs, 0.4, "%s: a wrong output must be caught", k->name);
    }
    cr_assert_geq(kernels, 3);
}

Test(peft, merged_equals_unmerged_and_lora_changes_the_base) {
    const struct mb_kernel *merged = mb_kernel_find("peft.lora.merged"), *unmerged = mb_kernel_find("peft.lora.unmerged");
    const struct mb_kernel *base = mb_kernel_find("peft.linear.base");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        struct mb_errors e;
        int64_t n1, n2, n3;
        float *a = run(merged, &shapes[s], 1, "lora", 0, &e, &n1), *b = run(unmerged, &shapes[s], 2, "lora", 0, &e, &n2);
        float *c = run(base, &shapes[s], 1, "linear", 0, &e, &n3);
        cr_assert_eq(n1, n2);
        double diff = 0, ref = 0, lora = 0;
        for (int64_t i = 0; i < n1; i++) {
            diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            ref += (double)b[i] * b[i];
            lora += ((double)b[i] - c[i]) * ((double)b[i] - c[i]);
        }
        cr_assert_lt(sqrt(diff / ref), 1e-5, "shape %zu: merged vs unmerged %g", s, sqrt(diff / ref));
        cr_assert_gt(sqrt(lora / ref), 1e-3, "shape %zu: the LoRA update is not the zero of its init", s);
        free(a), free(b), free(c);
    }
}

Test(peft, bad_shapes_are_refused) {
    const struct mb_kernel *k = mb_kernel_find("peft.lora.unmerged");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = 1, p.n = 4, p.d = 16, p.rank = 17, p.threads = 1;
    char err[256];
    cr_assert_eq(mb_params_parse(k, "", 0, &p, err, sizeof err), 0);
    struct mb_workload w = {.family = k->family, .point = p};
    cr_assert_eq(k->family->layout(&w, err, sizeof err), -1);
    cr_assert(strstr(err, "rank r = 17") && strstr(err, "1..16"), "%s", err);
    cr_assert_float_eq(mb_kernel_flops(k, &(struct mb_point){.batch = 1, .n = 10, .d = 8, .rank = 2}),
                       2.0 * 10 * 8 * 8 + 2.0 * 10 * 2 * 16, 1e-9);
}
