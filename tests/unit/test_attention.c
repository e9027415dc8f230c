/* Every attention kernel against the family's double-precision oracle, at odd shapes, causal and not. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run/runner.h"

struct shape {
    int64_t batch, heads, n, d, causal;
};

static const struct shape shapes[] = {
    {1, 1, 1, 16, 0}, {1, 1, 1, 16, 1}, {2, 3, 7, 16, 0}, {2, 3, 7, 16, 1},   {1, 3, 129, 64, 0},
    {1, 3, 129, 64, 1}, {1, 1, 1000, 80, 0}, {1, 1, 1000, 80, 1}, {3, 2, 65, 5, 0}, {1, 1, 300, 64, 1},
};

/* Run k at shape s with `threads` threads; all rows checked. Returns 0 if unsupported, else 1 (errors in own/exact). */
static int run_and_check(const struct mb_kernel *k, const struct shape *s, int threads, struct mb_errors *own,
                         struct mb_errors *exact, int corrupt) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = s->batch;
    p.heads = s->heads;
    p.n = s->n;
    p.d = s->d;
    p.causal = s->causal;
    p.threads = threads;
    mb_point_complete(k, &p, 0);
    char why[256];
    if (mb_kernel_supports(k, &p, why, sizeof why)) return 0;
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 7, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    if (corrupt) w.outputs[0].data[mb_tensor_numel(&w.outputs[0]) - 1] += 0.5f; /* last row: checked by all */
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, own, err, sizeof err), 0, "%s", err);
    if (k->approximates)
        cr_assert_eq(k->family->check(k, &w, k->approximates, &co, exact, err, sizeof err), 0, "%s", err);
    mb_workload_free(&w);
    return 1;
}

Test(attention, every_kernel_matches_its_oracle_at_odd_shapes) {
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strcmp(k->family->name, "attention")) continue;
        int ran = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int run = 0; run < 3; run++) { /* 1 thread; 2 threads (small regions on 1); 2 threads, no grain */
                const int threads = run ? 2 : 1;
                mb_set_min_flops_per_thread(run == 2 ? 0 : MB_MIN_FLOPS_PER_THREAD);
                struct mb_errors own, exact;
                if (!run_and_check(k, &shapes[s], threads, &own, &exact, 0)) continue;
                ran++;
                const struct mb_mechanism *m = mb_family_mechanism(k->family, k->mechanism);
                double tol = k->tolerance > 0 ? k->tolerance : m->tolerance;
                const int64_t rows = (k->flags & MB_KERNEL_LAST_ROW) ? 1 : shapes[s].n;
                cr_assert_eq(own.checked, shapes[s].batch * shapes[s].heads * rows * shapes[s].d);
                cr_assert(own.rel_l2 <= tol, "%s b=%lld h=%lld n=%lld d=%lld causal=%lld t=%d%s: rel_l2 %g > %g",
                          k->name, (long long)shapes[s].batch, (long long)shapes[s].heads, (long long)shapes[s].n,
                          (long long)shapes[s].d, (long long)shapes[s].causal, threads, run == 2 ? " (no grain)" : "",
                          own.rel_l2, tol);
            }
        cr_assert_gt(ran, 0, "%s ran at no shape", k->name);
    }
}

Test(attention, the_check_catches_a_wrong_output) {
    const struct shape s = {1, 2, 33, 16, 0};
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strcmp(k->family->name, "attention")) continue;
        struct mb_errors own, exact;
        if (!run_and_check(k, &s, 1, &own, &exact, 1)) continue;
        cr_assert_gt(own.max_abs, 0.49, "%s: a corrupted output went unnoticed", k->name);
        cr_assert_gt(own.rel_l2, 1e-3, "%s", k->name);
    }
}

Test(attention, linear_attention_is_an_approximation_of_softmax) {
    const struct mb_kernel *k = mb_kernel_find("attention.linear.elu");
    const struct shape s = {1, 2, 129, 64, 0};
    struct mb_errors own, exact;
    cr_assert(run_and_check(k, &s, 2, &own, &exact, 0));
    cr_assert_lt(own.rel_l2, 1e-4);
    cr_assert_gt(exact.rel_l2, 0.05, "vs softmax the error must be that of a different similarity");
}

Test(attention, linear_elu_refuses_causal) {
    const struct mb_kernel *k = mb_kernel_find("attention.linear.elu");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    mb_point_complete(k, &p, 0);
    p.causal = 1;
    char why[128] = "";
    cr_assert_eq(mb_kernel_supports(k, &p, why, sizeof why), 1);
    cr_assert(strstr(why, "non-causal"));
}

Test(attention, sampled_check_includes_the_edge_rows) {
    /* with 4 sampled rows the check must still look at the first and last rows of the tensor */
    const struct mb_kernel *k = mb_kernel_find("attention.softmax.naive");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = 64;
    p.d = 8;
    p.heads = 2;
    p.threads = 1;
    mb_point_complete(k, &p, 0);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 3, err, sizeof err), 0);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0);
    w.outputs[0].data[mb_tensor_numel(&w.outputs[0]) - 1] += 1.0f; /* last element of the last row */
    struct mb_check_opts co = {.sample_rows = 4, .seed = 9};
    struct mb_errors e;
    cr_assert_eq(k->family->check(k, &w, "softmax", &co, &e, err, sizeof err), 0);
    cr_assert_gt(e.max_abs, 0.99);
    cr_assert_eq(e.checked, 4 * 8);
    mb_workload_free(&w);
}

/* The recall task (params inputs=recall): exact softmax retrieves every stored pair, a small linear state cannot. */
static double recall_score(const char *kernel, int64_t n, int64_t d, int recall) {
    const struct mb_kernel *k = mb_kernel_find(kernel);
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = n;
    p.d = d;
    p.threads = 2;
    if (recall) snprintf(p.params, sizeof p.params, "inputs=recall");
    mb_point_complete(k, &p, 0);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 5, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    double score = -1;
    int rc = k->family->task(k, &w, &co, &score, err, sizeof err);
    mb_workload_free(&w);
    cr_assert_eq(rc, recall ? 1 : 0);
    return score;
}

Test(attention, recall_task_scores_retrieval) {
    cr_assert_float_eq(recall_score("attention.softmax.naive", 256, 64, 1), 1.0, 0);
    cr_assert_lt(recall_score("attention.linear.elu", 512, 16, 1), 0.5, "a 16 x 16 state cannot hold 512 pairs");
    cr_assert_float_eq(recall_score("attention.softmax.naive", 8, 64, 0), -1.0, 0, "no task on normal inputs");
}

Test(attention, recall_inputs_store_the_keys_as_queries) {
    const struct mb_kernel *k = mb_kernel_find("attention.softmax.naive");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = 9;
    p.d = 16;
    p.threads = 1;
    snprintf(p.params, sizeof p.params, "inputs=recall");
    mb_point_complete(k, &p, 0);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 5, err, sizeof err), 0, "%s", err);
    for (int64_t r = 0; r < 9; r++) {
        double norm = 0;
        for (int64_t c = 0; c < 16; c++) {
            cr_assert_eq(w.inputs[0].data[r * 16 + c], w.inputs[1].data[r * 16 + c]);
            norm += (double)w.inputs[1].data[r * 16 + c] * w.inputs[1].data[r * 16 + c];
        }
        cr_assert_float_eq(norm, 4.0 * 16, 1e-3, "|k|^2 = 4 d");
    }
    mb_workload_free(&w);
    cr_assert_eq(mb_params_parse(k, "inputs=nonsense", 0, &p, err, sizeof err), -1);
    cr_assert(strstr(err, "inputs=nonsense") && strstr(err, "normal, recall"), "%s", err);
}
