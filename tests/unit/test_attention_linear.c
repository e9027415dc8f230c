/* Group "linear": causal linear attention (RNN, chunked, decode), 1 + cos, Efficient Attention (Shen 2018).
 * Kernel-specific checks that assert values; the generic oracle test is in test_attention.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention/family_linear.h"
#include "run/runner.h"

static struct mb_point make_point(const struct mb_kernel *k, int64_t batch, int64_t heads, int64_t n, int64_t d,
                                  int causal, int64_t block, int threads) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = batch;
    p.heads = heads;
    p.n = n;
    p.d = d;
    p.causal = causal;
    p.block = block;
    p.threads = threads;
    mb_point_complete(k, &p, block ? MB_AXIS_BIT(block) : 0);
    return p;
}

/* run kernel `name` on the seeded workload of the point; returns a malloc'ed copy of `out` */
static float *run_kernel(const char *name, int64_t batch, int64_t heads, int64_t n, int64_t d, int causal,
                         int64_t block, int threads, void (*edit)(struct mb_workload *)) {
    const struct mb_kernel *k = mb_kernel_find(name);
    cr_assert_not_null(k, "%s is not registered", name);
    struct mb_point p = make_point(k, batch, heads, n, d, causal, block, threads);
    char why[160] = "";
    cr_assert_eq(mb_kernel_supports(k, &p, why, sizeof why), 0, "%s: %s", name, why);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 11, err, sizeof err), 0, "%s", err);
    if (edit) edit(&w);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    const int64_t count = mb_tensor_numel(&w.outputs[0]);
    float *out = malloc((size_t)count * sizeof(float));
    memcpy(out, w.outputs[0].data, (size_t)count * sizeof(float));
    mb_workload_free(&w);
    return out;
}

/* max |a - b| / max |b| over `count` values */
static double rel_max(const float *a, const float *b, int64_t count) {
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < count; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        ref = fmax(ref, fabs((double)b[i]));
    }
    return diff / ref;
}

static struct mb_errors check(const char *name, const char *mechanism, int64_t batch, int64_t heads, int64_t n,
                              int64_t d, int causal, int64_t block, int threads) {
    const struct mb_kernel *k = mb_kernel_find(name);
    struct mb_point p = make_point(k, batch, heads, n, d, causal, block, threads);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 11, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    struct mb_errors e;
    cr_assert_eq(k->family->check(k, &w, mechanism, &co, &e, err, sizeof err), 0, "%s", err);
    mb_workload_free(&w);
    return e;
}

/* the causal chunked kernel at each block size, 1 and 2 threads (grain 0: the parallel split even at small sizes),
   against the RNN's output and the masked oracle */
static void chunked_equals_rnn_and_oracle(int64_t b, int64_t h, int64_t n, int64_t d, const int64_t *blocks,
                                          size_t count_blocks) {
    mb_set_min_flops_per_thread(0);
    const int64_t count = b * h * n * d;
    float *rnn = run_kernel("attention.linear.elu_rnn", b, h, n, d, 1, 0, 2, NULL);
    for (size_t i = 0; i < count_blocks; i++)
        for (int threads = 1; threads <= 2; threads++) {
            float *chunked = run_kernel("attention.linear.elu_chunked", b, h, n, d, 1, blocks[i], threads, NULL);
            double r = rel_max(chunked, rnn, count);
            cr_assert_lt(r, 1e-5, "d %lld block %lld threads %d: chunked vs RNN %g", (long long)d, (long long)blocks[i],
                         threads, r);
            free(chunked);
            struct mb_errors e = check("attention.linear.elu_chunked", "linear.elu", b, h, n, d, 1, blocks[i], threads);
            cr_assert_lt(e.rel_l2, 1e-5, "d %lld block %lld: chunked vs masked oracle %g", (long long)d,
                         (long long)blocks[i], e.rel_l2);
        }
    free(rnn);
}

Test(attention_linear, rnn_equals_chunked_equals_masked_oracle) {
    const int64_t blocks[] = {1, 7, 8, 12, 64, 100, 0, 1000}; /* 8 and 12: the fused pass of the AVX-512 copy */
    chunked_equals_rnn_and_oracle(2, 2, 301, 16, blocks, sizeof blocks / sizeof blocks[0]);
    struct mb_errors e = check("attention.linear.elu_rnn", "linear.elu", 2, 2, 301, 16, 1, 0, 1);
    cr_assert_lt(e.rel_l2, 1e-5);
}

Test(attention_linear, chunked_segments_of_one_head_equal_the_rnn) {
    mb_set_min_flops_per_thread(0); /* the parallel split at this small size */
    /* one head, more threads than heads: the head's chunks are cut into segments (1 to 4, the last one short or
     * empty), each started from the prefix of the earlier segments' sums */
    const int64_t n = 301, d = 16;
    float *rnn = run_kernel("attention.linear.elu_rnn", 1, 1, n, d, 1, 0, 1, NULL);
    const int64_t blocks[] = {7, 64, 100};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        for (int threads = 1; threads <= 4; threads++) {
            float *chunked = run_kernel("attention.linear.elu_chunked", 1, 1, n, d, 1, blocks[i], threads, NULL);
            const double r = rel_max(chunked, rnn, n * d);
            cr_assert_lt(r, 1e-5, "block %lld threads %d: chunked vs RNN %g", (long long)blocks[i], threads, r);
            free(chunked);
        }
    free(rnn);
}

Test(attention_linear, fused_state_pass_equals_the_rnn) {
    /* chunks of 4..12 rows run phi(Q_c) S and the state update in one pass over S by 16-column blocks (AVX-512 copy):
     * d = 48 gives three blocks, n = 101 a short last chunk that takes the GEMMs; odd chunks take the GEMMs too */
    const int64_t blocks[] = {4, 5, 6, 8, 10, 12};
    chunked_equals_rnn_and_oracle(1, 2, 101, 48, blocks, sizeof blocks / sizeof blocks[0]);
}

static void change_last_token(struct mb_workload *w) {
    const int64_t n = w->point.n, d = w->point.d;
    for (int64_t c = 0; c < d; c++) w->inputs[1].data[(n - 1) * d + c] = 3.0f, w->inputs[2].data[(n - 1) * d + c] = 5.0f;
}

Test(attention_linear, chunked_row_i_ignores_the_future) {
    /* changing k, v of the last token must leave every earlier output row unchanged */
    const int64_t n = 130, d = 8;
    float *a = run_kernel("attention.linear.elu_chunked", 1, 1, n, d, 1, 64, 2, NULL);
    float *b = run_kernel("attention.linear.elu_chunked", 1, 1, n, d, 1, 64, 2, change_last_token);
    cr_assert_lt(rel_max(b, a, (n - 1) * d), 1e-6);
    cr_assert_gt(rel_max(b + (n - 1) * d, a + (n - 1) * d, d), 1e-3, "the last row must see its own token");
    free(a);
    free(b);
}

Test(attention_linear, decode_last_row_equals_the_rnn_last_row) {
    const int64_t b = 2, h = 3, d = 24;
    const int64_t ns[] = {1, 2, 77, 513};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        const int64_t n = ns[t];
        float *rnn = run_kernel("attention.linear.elu_rnn", b, h, n, d, 1, 0, 2, NULL);
        float *dec = run_kernel("attention.linear.elu_decode", b, h, n, d, 1, 0, 2, NULL);
        for (int64_t head = 0; head < b * h; head++) {
            const int64_t row = head * n * d + (n - 1) * d;
            double r = rel_max(dec + row, rnn + row, d);
            cr_assert_lt(r, 1e-5, "n=%lld head %lld: decode vs RNN last row %g", (long long)n, (long long)head, r);
        }
        free(rnn);
        free(dec);
    }
}

Test(attention_linear, decode_is_idempotent_across_timed_runs) {
    const struct mb_kernel *k = mb_kernel_find("attention.linear.elu_decode");
    struct mb_point p = make_point(k, 1, 2, 50, 16, 1, 0, 1);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 5, err, sizeof err), 0, "%s", err);
    void *state = NULL;
    cr_assert_eq(mb_kernel_setup(k, &state, &w, err, sizeof err), 0, "%s", err);
    k->run(state);
    float first[16];
    memcpy(first, w.outputs[0].data + 49 * 16, sizeof first);
    for (int r = 0; r < 5; r++) k->run(state);
    cr_assert_eq(memcmp(first, w.outputs[0].data + 49 * 16, sizeof first), 0, "a repeated step changed the output");
    k->teardown(state);
    mb_workload_free(&w);
}

Test(attention_linear, decode_flop_model_is_independent_of_n) {
    const struct mb_kernel *dec = mb_kernel_find("attention.linear.elu_decode");
    const struct mb_kernel *rnn = mb_kernel_find("attention.linear.elu_rnn");
    struct mb_point a = make_point(dec, 1, 8, 128, 64, 1, 0, 1), b = make_point(dec, 1, 8, 1 << 20, 64, 1, 0, 1);
    cr_assert_eq(mb_kernel_flops(dec, &a), mb_kernel_flops(dec, &b));
    cr_assert_eq(mb_kernel_bytes(dec, &a), mb_kernel_bytes(dec, &b));
    cr_assert(fabs(mb_kernel_flops(dec, &a) - 8 * 4.0 * 64 * 64) < 0.05 * mb_kernel_flops(dec, &a), "~4 d^2 per head: %g", mb_kernel_flops(dec, &a));
    cr_assert_gt(mb_kernel_flops(rnn, &b), 1000 * mb_kernel_flops(rnn, &a) / 1024.0 * 0.99, "the full RNN form grows with n");
    cr_assert_eq(dec->flags & MB_KERNEL_LAST_ROW, MB_KERNEL_LAST_ROW);
}

Test(attention_linear, causal_forms_refuse_non_causal_and_efficient_refuses_causal) {
    const char *causal_only[] = {"attention.linear.elu_rnn", "attention.linear.elu_chunked", "attention.linear.elu_decode"};
    for (int i = 0; i < 3; i++) {
        const struct mb_kernel *k = mb_kernel_find(causal_only[i]);
        struct mb_point p = make_point(k, 1, 1, 16, 8, 0, 0, 1);
        char why[160] = "";
        cr_assert_eq(mb_kernel_supports(k, &p, why, sizeof why), 1, "%s", causal_only[i]);
        cr_assert(strstr(why, "causal only"), "%s: %s", causal_only[i], why);
    }
    const char *non_causal[] = {"attention.efficient", "attention.efficient_scaling"};
    for (int i = 0; i < 2; i++) {
        const struct mb_kernel *k = mb_kernel_find(non_causal[i]);
        struct mb_point p = make_point(k, 1, 1, 16, 8, 1, 0, 1);
        char why[160] = "";
        cr_assert_eq(mb_kernel_supports(k, &p, why, sizeof why), 1);
        cr_assert(strstr(why, "non-causal only"), "%s", why);
    }
    cr_assert_null(mb_kernel_find("attention.linear.cos")->supports, "1 + cos runs causal and non-causal");
}

static void constant_v(struct mb_workload *w) {
    const int64_t count = mb_tensor_numel(&w->inputs[2]);
    for (int64_t i = 0; i < count; i++) w->inputs[2].data[i] = 2.5f;
}

Test(attention_linear, efficient_rows_are_convex_combinations_of_v) {
    /* softmax_row(Q) rows sum to 1 and softmax_col(K) columns sum to 1, so each output row is a convex
     * combination of the rows of V: a constant V comes back unchanged, and every output lies in [min v, max v]. */
    const int64_t b = 1, h = 2, n = 97, d = 20;
    float *out = run_kernel("attention.efficient", b, h, n, d, 0, 0, 2, constant_v);
    for (int64_t i = 0; i < b * h * n * d; i++) cr_assert_float_eq(out[i], 2.5f, 1e-5, "out[%lld] = %g", (long long)i, out[i]);
    free(out);
    const struct mb_kernel *k = mb_kernel_find("attention.efficient");
    struct mb_point p = make_point(k, b, h, n, d, 0, 0, 2);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 11, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    for (int64_t head = 0; head < b * h; head++)
        for (int64_t c = 0; c < d; c++) {
            float lo = INFINITY, hi = -INFINITY;
            for (int64_t j = 0; j < n; j++) {
                const float x = w.inputs[2].data[head * n * d + j * d + c];
                lo = fminf(lo, x), hi = fmaxf(hi, x);
            }
            for (int64_t i = 0; i < n; i++) {
                const float o = w.outputs[0].data[head * n * d + i * d + c];
                cr_assert(o >= lo - 1e-5f && o <= hi + 1e-5f, "out outside the hull of v: %g not in [%g, %g]", o, lo, hi);
            }
        }
    mb_workload_free(&w);
}

Test(attention_linear, efficient_scaling_equals_q_kt_v_over_n) {
    const struct mb_kernel *k = mb_kernel_find("attention.efficient_scaling");
    const int64_t n = 200, d = 12, heads = 3;
    struct mb_point p = make_point(k, 1, heads, n, d, 0, 0, 2);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 13, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    /* dot-product attention without softmax, scaling normalisation rho(Y) = Y / n: (Q K^T / n) V, in double */
    double *scores = malloc((size_t)(n * n) * sizeof(double)), diff = 0, ref = 0;
    for (int64_t head = 0; head < heads; head++) {
        const float *q = w.inputs[0].data + head * n * d, *kk = w.inputs[1].data + head * n * d;
        const float *v = w.inputs[2].data + head * n * d, *o = w.outputs[0].data + head * n * d;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t c = 0; c < d; c++) s += (double)q[i * d + c] * kk[j * d + c];
                scores[i * n + j] = s / n;
            }
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < d; c++) {
                double s = 0;
                for (int64_t j = 0; j < n; j++) s += scores[i * n + j] * v[j * d + c];
                diff += (o[i * d + c] - s) * (o[i * d + c] - s);
                ref += s * s;
            }
    }
    free(scores);
    mb_workload_free(&w);
    cr_assert_lt(sqrt(diff / ref), 1e-5, "rel_l2 %g", sqrt(diff / ref));
}

static void scale_qk(struct mb_workload *w) {
    const int64_t count = mb_tensor_numel(&w->inputs[0]);
    for (int64_t i = 0; i < count; i++) w->inputs[0].data[i] *= 8.0f, w->inputs[1].data[i] *= 0.125f;
}

Test(attention_linear, cos_is_scale_invariant_and_matches_its_oracle_with_any_chunk) {
    const int64_t b = 1, h = 2, n = 150, d = 10, count = b * h * n * d;
    for (int causal = 0; causal <= 1; causal++) {
        float *a = run_kernel("attention.linear.cos", b, h, n, d, causal, 0, 2, NULL);
        float *s = run_kernel("attention.linear.cos", b, h, n, d, causal, 0, 2, scale_qk);
        cr_assert_lt(rel_max(s, a, count), 1e-5, "1 + cos(q, k) ignores |q| and |k|");
        free(a);
        free(s);
        const int64_t blocks[] = {1, 7, 64, 100};
        for (int i = 0; i < 4; i++) {
            struct mb_errors e = check("attention.linear.cos", "linear.cos", b, h, n, d, causal, blocks[i], 2);
            cr_assert_lt(e.rel_l2, 1e-5, "causal %d block %lld: %g", causal, (long long)blocks[i], e.rel_l2);
        }
    }
}

Test(attention_linear, chunked_kernels_are_one_implementation_with_their_feature_map_as_variant) {
    const struct mb_kernel *elu = mb_kernel_find("attention.linear.elu_chunked");
    const struct mb_kernel *cos = mb_kernel_find("attention.linear.cos");
    /* the registry hands out the chosen ISA's copy: compare the two kernels with each other */
    cr_assert(elu->variant && cos->variant && elu->variant != cos->variant);
    cr_assert(elu->setup == cos->setup && elu->flops == cos->flops && elu->run == cos->run);
    if (!strcmp(mb_isa_name(), "portable")) {
        cr_assert_eq(elu->variant, &mb_lin_feature_elu1);
        cr_assert(elu->setup == mb_lin_chunked_setup && cos->flops == mb_lin_chunked_flops);
    }
    /* the models follow the feature dimension: f = d for elu + 1, f = d + 1 for [1, x/|x|] */
    struct mb_point p = make_point(elu, 1, 2, 1024, 64, 1, 0, 1);
    cr_assert_gt(mb_kernel_flops(cos, &p), mb_kernel_flops(elu, &p));
    cr_assert_gt(mb_kernel_workspace(cos, &p), mb_kernel_workspace(elu, &p));
    /* efficient and efficient_scaling: one implementation; the softmax normalisation costs the exp passes */
    const struct mb_kernel *soft = mb_kernel_find("attention.efficient"), *scal = mb_kernel_find("attention.efficient_scaling");
    cr_assert(soft->run == scal->run && soft->variant != scal->variant);
    p.causal = 0;
    cr_assert_gt(mb_kernel_flops(soft, &p), mb_kernel_flops(scal, &p));
    cr_assert_gt(mb_kernel_workspace(soft, &p), mb_kernel_workspace(scal, &p));
}
