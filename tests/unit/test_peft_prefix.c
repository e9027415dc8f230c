/* peft.prefix: the kernel against its double-precision oracle at odd shapes (n = 1, 7, 257; L_p = 0, 1, 10, 33;
 * causal and not; 1 and 2 threads); L_p = 0 equals attention.softmax.naive and .flash on the same inputs; every row
 * equals a KV-cache decode step (attention.softmax.decode) whose cache holds the prefix and then the real keys up to
 * that token; a wrong output is caught. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mechbench.h"
#include "run/runner.h"

struct shape {
    int64_t batch, heads, n, d, lp;
};

static const struct shape shapes[] = {
    {1, 1, 1, 64, 0}, {1, 2, 1, 17, 10}, {2, 1, 7, 64, 1}, {1, 2, 7, 80, 33},
    {1, 1, 257, 64, 10}, {2, 2, 257, 32, 33}, {1, 1, 257, 64, 0}, {1, 3, 65, 128, 1},
};

static struct mb_point point_of(const struct mb_kernel *k, const struct shape *s, int causal, int threads) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = s->batch, p.heads = s->heads, p.n = s->n, p.d = s->d, p.rank = s->lp, p.causal = causal;
    p.threads = threads;
    mb_point_complete(k, &p, MB_AXIS_BIT(rank) | MB_AXIS_BIT(causal));
    return p;
}

/* k at p on the inputs of seed 11 (w kept for the caller to free), checked against its oracle over every row. */
static void run_checked(const struct mb_kernel *k, const struct mb_point *p, struct mb_workload *w, struct mb_errors *e) {
    char err[256];
    cr_assert_eq(mb_workload_create(w, k->family, p, 11, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, w, err, sizeof err), 0, "%s", err);
    const struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, w, k->mechanism, &co, e, err, sizeof err), 0, "%s", err);
}

static double rel_diff(const float *a, const float *b, int64_t count) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < count; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}

Test(peft_prefix, matches_its_oracle_at_odd_shapes) {
    const struct mb_kernel *k = mb_kernel_find("peft.prefix");
    cr_assert_not_null(k);
    cr_assert_str_eq(k->name, "peft.prefix.flash");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int causal = 0; causal <= 1; causal++)
            for (int threads = 1; threads <= 2; threads++) {
                const struct mb_point p = point_of(k, &shapes[s], causal, threads);
                struct mb_workload w;
                struct mb_errors e;
                run_checked(k, &p, &w, &e);
                cr_assert_eq(e.checked, shapes[s].batch * shapes[s].heads * shapes[s].n * shapes[s].d);
                cr_assert_leq(e.rel_l2, 1e-5, "shape %zu causal %d threads %d: rel_l2 %g", s, causal, threads, e.rel_l2);
                mb_workload_free(&w);
            }
}

Test(peft_prefix, a_wrong_output_is_caught) {
    const struct mb_kernel *k = mb_kernel_find("peft.prefix.flash");
    const struct mb_point p = point_of(k, &shapes[3], 1, 1);
    struct mb_workload w;
    struct mb_errors e;
    run_checked(k, &p, &w, &e);
    w.outputs[0].data[mb_tensor_numel(&w.outputs[0]) - 1] += 0.5f; /* the last row: it sees every key */
    char err[256];
    const struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, &w, "prefix", &co, &e, err, sizeof err), 0, "%s", err);
    cr_assert_gt(e.max_abs, 0.4);
    /* the prefix matters: zeroing the prefix values changes the output */
    memset(w.inputs[4].data, 0, (size_t)mb_tensor_numel(&w.inputs[4]) * sizeof(float));
    cr_assert_eq(k->family->check(k, &w, "prefix", &co, &e, err, sizeof err), 0, "%s", err);
    cr_assert_gt(e.rel_l2, 0.05, "prefix_value has no effect on the oracle (rel_l2 %g)", e.rel_l2);
    mb_workload_free(&w);
}

/* L_p = 0: exactly ordinary softmax attention, the attention family's kernels on the same q, k, v */
Test(peft_prefix, empty_prefix_equals_softmax_attention) {
    const struct mb_kernel *k = mb_kernel_find("peft.prefix.flash");
    const char *const others[] = {"attention.softmax.naive", "attention.softmax.flash"};
    const struct shape cases[] = {{1, 1, 1, 64, 0}, {2, 2, 7, 17, 0}, {1, 2, 257, 64, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int causal = 0; causal <= 1; causal++) {
            const struct mb_point p = point_of(k, &cases[c], causal, 2);
            struct mb_workload w;
            struct mb_errors e;
            run_checked(k, &p, &w, &e);
            for (int o = 0; o < 2; o++) {
                const struct mb_kernel *att = mb_kernel_find(others[o]);
                struct mb_point pa;
                memset(&pa, 0, sizeof pa);
                pa.batch = p.batch, pa.heads = p.heads, pa.n = p.n, pa.d = p.d, pa.causal = causal, pa.threads = 2;
                mb_point_complete(att, &pa, MB_AXIS_BIT(causal));
                struct mb_workload wa;
                char err[256];
                cr_assert_eq(mb_workload_create(&wa, att->family, &pa, 99, err, sizeof err), 0, "%s", err);
                for (int t = 0; t < 3; t++) /* q, k, v */
                    memcpy(wa.inputs[t].data, w.inputs[t].data, (size_t)mb_tensor_numel(&w.inputs[t]) * sizeof(float));
                cr_assert_eq(mb_run_once(att, &wa, err, sizeof err), 0, "%s", err);
                const double diff = rel_diff(w.outputs[0].data, wa.outputs[0].data, mb_tensor_numel(&w.outputs[0]));
                cr_assert_lt(diff, 1e-6, "case %zu causal %d vs %s: %g", c, causal, others[o], diff);
                mb_workload_free(&wa);
            }
            mb_workload_free(&w);
        }
}

/* Row i of causal prefix attention (and any row of the non-causal one) is one KV-cache decode step whose cache is
   pre-filled with the L_p prefix slots followed by the real keys and values 0..last (last = i causal, n - 1 not):
   attention.softmax.decode at cache length L_p + last + 1, the query q_i in the cache's last row. */
static void compare_with_decode(const struct shape *s, int causal, const int64_t *rows, int n_rows) {
    const struct mb_kernel *k = mb_kernel_find("peft.prefix.flash"), *dec = mb_kernel_find("attention.softmax.decode");
    const struct mb_point p = point_of(k, s, causal, 1);
    struct mb_workload w;
    struct mb_errors e;
    run_checked(k, &p, &w, &e);
    const int64_t d = s->d, n = s->n, lp = s->lp;
    const float *q = w.inputs[0].data, *kk = w.inputs[1].data, *vv = w.inputs[2].data;
    const float *pk = w.inputs[3].data, *pv = w.inputs[4].data, *out = w.outputs[0].data;
    for (int r = 0; r < n_rows; r++) {
        const int64_t i = rows[r], last = causal ? i : n - 1, len = lp + last + 1;
        struct mb_point pd;
        memset(&pd, 0, sizeof pd);
        pd.batch = s->batch, pd.heads = s->heads, pd.n = len, pd.d = d, pd.threads = 2;
        mb_point_complete(dec, &pd, MB_AXIS_BIT(causal));
        struct mb_workload wd;
        char err[256];
        cr_assert_eq(mb_workload_create(&wd, dec->family, &pd, 3, err, sizeof err), 0, "%s", err);
        for (int64_t head = 0; head < s->batch * s->heads; head++) {
            const int64_t h = head % s->heads;
            float *cq = wd.inputs[0].data + head * len * d, *ck = wd.inputs[1].data + head * len * d;
            float *cv = wd.inputs[2].data + head * len * d;
            memcpy(ck, pk + h * lp * d, (size_t)(lp * d) * sizeof(float)); /* the prefix, pre-filled */
            memcpy(cv, pv + h * lp * d, (size_t)(lp * d) * sizeof(float));
            memcpy(ck + lp * d, kk + head * n * d, (size_t)((last + 1) * d) * sizeof(float)); /* tokens 0..last */
            memcpy(cv + lp * d, vv + head * n * d, (size_t)((last + 1) * d) * sizeof(float));
            memcpy(cq + (len - 1) * d, q + (head * n + i) * d, (size_t)d * sizeof(float)); /* token i's query */
        }
        cr_assert_eq(mb_run_once(dec, &wd, err, sizeof err), 0, "%s", err);
        for (int64_t head = 0; head < s->batch * s->heads; head++) {
            const double diff = rel_diff(wd.outputs[0].data + (head * len + len - 1) * d, out + (head * n + i) * d, d);
            cr_assert_lt(diff, 1e-5, "n %lld L_p %lld causal %d row %lld head %lld: decode vs prefix %g", (long long)n,
                         (long long)lp, causal, (long long)i, (long long)head, diff);
        }
        mb_workload_free(&wd);
    }
    mb_workload_free(&w);
}

Test(peft_prefix, equals_kv_cache_decoding_with_the_prefix_prefilled) {
    const int64_t rows7[] = {0, 1, 3, 6}, rows257[] = {0, 1, 63, 64, 200, 256}, rows1[] = {0};
    const struct shape s7 = {2, 2, 7, 64, 10}, s257 = {1, 2, 257, 48, 33}, s1 = {1, 1, 1, 64, 1};
    const struct shape s0 = {1, 2, 7, 64, 0};
    for (int causal = 1; causal >= 0; causal--) {
        compare_with_decode(&s7, causal, rows7, 4);
        compare_with_decode(&s257, causal, rows257, 6);
        compare_with_decode(&s1, causal, rows1, 1);
        compare_with_decode(&s0, causal, rows7, 4);
    }
}

Test(peft_prefix, models_and_bad_inputs) {
    const struct mb_kernel *k = mb_kernel_find("peft.prefix.flash");
    /* non-causal: 4 d FLOPs per score, n (L_p + n) scores per head */
    const struct mb_point p = {.batch = 2, .heads = 3, .n = 100, .d = 16, .rank = 7};
    cr_assert_float_eq(mb_kernel_flops(k, &p), 2.0 * 3 * 4 * 16 * 100.0 * (7 + 100), 1e-6);
    /* causal: the prefix is seen whole, the real keys up to each query block's last row */
    struct mb_point pc = p;
    pc.causal = 1, pc.n = 64;
    cr_assert_float_eq(mb_kernel_flops(k, &pc), 2.0 * 3 * 4 * 16 * (64.0 * 7 + 64.0 * 64), 1e-6);
    /* eval: a prefix whose d differs from q's is refused in one line naming the tensor */
    struct mb_workload w;
    memset(&w, 0, sizeof w);
    w.family = k->family;
    w.point = point_of(k, &shapes[2], 0, 1);
    char err[256];
    cr_assert_eq(k->family->layout(&w, err, sizeof err), 0, "%s", err);
    w.inputs[3].shape[2] = 63;
    cr_assert_eq(k->family->point_from_inputs(&w, err, sizeof err), -1);
    cr_assert(strstr(err, "prefix_key") && strstr(err, "d = 64"), "%s", err);
}
