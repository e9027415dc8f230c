/* Kernel-specific checks of the "lowrank" attention kernels: attention.linformer, attention.performer,
 * attention.reformer_lsh (the generic oracle test in test_attention.c covers their own formulas at odd shapes). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention/family_lowrank.h"
#include "run/runner.h"

/* Run kernel `name` at the point, fill own/exact errors (all rows); keep the workload in *w when w != NULL. */
static void run_point(const char *name, int64_t n, int64_t d, int64_t heads, int64_t rank, int causal,
                      const char *params, uint64_t seed, struct mb_errors *own, struct mb_errors *exact,
                      struct mb_workload *keep) {
    const struct mb_kernel *k = mb_kernel_find(name);
    cr_assert_not_null(k, "%s not registered", name);
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = n;
    p.d = d;
    p.heads = heads;
    p.batch = 1;
    p.rank = rank;
    p.causal = causal;
    p.threads = 2;
    snprintf(p.params, sizeof p.params, "%s", params ? params : "");
    mb_point_complete(k, &p, MB_AXIS_BIT(causal));
    char err[256];
    cr_assert_eq(mb_kernel_supports(k, &p, err, sizeof err), 0, "%s unsupported: %s", name, err);
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, &p, seed, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    if (own) cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, own, err, sizeof err), 0, "%s", err);
    if (exact) cr_assert_eq(k->family->check(k, &w, "softmax", &co, exact, err, sizeof err), 0, "%s", err);
    if (keep) *keep = w;
    else mb_workload_free(&w);
}

static int refuses(const char *name, int64_t rank, int causal, const char *params, const char *reason) {
    const struct mb_kernel *k = mb_kernel_find(name);
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = 64;
    p.rank = rank;
    p.causal = causal;
    char why[MB_MESSAGE_LEN] = "";
    if (mb_params_parse(k, params, 0, &p, why, sizeof why)) return strstr(why, reason) != NULL; /* a bad param */
    mb_point_complete(k, &p, MB_AXIS_BIT(causal));
    return mb_kernel_supports(k, &p, why, sizeof why) == 1 && strstr(why, reason) != NULL;
}

/* ------------------------------------------------------------------------------------------ linformer */
Test(attention_lowrank, linformer_error_vs_softmax_falls_as_k_grows) {
    const int64_t ks[3] = {16, 64, 256};
    double mean[3] = {0, 0, 0};
    const int seeds = 4;
    for (int s = 0; s < seeds; s++)
        for (int t = 0; t < 3; t++) {
            struct mb_errors own, exact;
            run_point("attention.linformer", 512, 32, 1, ks[t], 0, NULL, 100 + s, &own, &exact, NULL);
            cr_assert_lt(own.rel_l2, 1e-4);
            mean[t] += exact.rel_l2 / seeds;
        }
    cr_log_info("linformer rel_l2 vs softmax at n=512: k=16 %.4f, k=64 %.4f, k=256 %.4f", mean[0], mean[1], mean[2]);
    cr_assert_gt(mean[0], mean[1], "k=16 %g, k=64 %g", mean[0], mean[1]);
    cr_assert_gt(mean[1], mean[2], "k=64 %g, k=256 %g", mean[1], mean[2]);
}

Test(attention_lowrank, linformer_default_k_and_larger_than_n) {
    struct mb_errors own;
    run_point("attention.linformer", 100, 16, 2, 0, 0, NULL, 5, &own, NULL, NULL);   /* k = min(n, 256) = 100 */
    cr_assert_lt(own.rel_l2, 1e-4);
    run_point("attention.linformer", 50, 16, 1, 300, 0, NULL, 5, &own, NULL, NULL);  /* k > n is well defined */
    cr_assert_lt(own.rel_l2, 1e-4);
    cr_assert(refuses("attention.linformer", 0, 1, "", "non-causal"));
}

/* ------------------------------------------------------------------------------------------ performer */
/* mean over pairs of (phi(q').phi(k') - exp(q.k / sqrt(d)))^2, phi = exp(W x' - |x'|^2/2) / sqrt(m), in double */
static double favor_mse(uint64_t seed, int64_t d, int64_t m, int orthogonal, const double *x, int64_t pairs) {
    double *w = malloc((size_t)(m * d) * sizeof(double));
    cr_assert_not_null(w);
    cr_assert_eq(mb_lowrank_performer_features(seed, d, m, orthogonal, w), 0);
    const double xs = pow((double)d, -0.25);
    double mse = 0;
    for (int64_t p = 0; p < pairs; p++) {
        const double *q = x + 2 * p * d, *k = q + d;
        double qk = 0, qq = 0, kk = 0, est = 0;
        for (int64_t c = 0; c < d; c++) qk += q[c] * k[c], qq += q[c] * q[c], kk += k[c] * k[c];
        for (int64_t f = 0; f < m; f++) {
            double wq = 0, wk = 0;
            for (int64_t c = 0; c < d; c++) wq += w[f * d + c] * q[c], wk += w[f * d + c] * k[c];
            est += exp(xs * wq - 0.5 * xs * xs * qq) * exp(xs * wk - 0.5 * xs * xs * kk) / (double)m;
        }
        const double want = exp(qk / sqrt((double)d));
        mse += (est - want) * (est - want) / (double)pairs;
    }
    free(w);
    return mse;
}

static double *random_pairs(int64_t pairs, int64_t d, double sd) {
    double *x = malloc((size_t)(2 * pairs * d) * sizeof(double));
    cr_assert_not_null(x);
    mb_lowrank_gaussian(12345, x, 2 * pairs * d, sd);
    return x;
}

Test(attention_lowrank, performer_kernel_estimate_mse_falls_like_one_over_m) {
    const int64_t d = 16, pairs = 64, ms[3] = {16, 64, 256};
    const int seeds = 8;
    double *x = random_pairs(pairs, d, 0.7);
    double mse[3] = {0, 0, 0};
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < seeds; s++) mse[t] += favor_mse(1000 + s, d, ms[t], 1, x, pairs) / seeds;
    cr_log_info("FAVOR+ MSE: m=16 %.4g, m=64 %.4g, m=256 %.4g", mse[0], mse[1], mse[2]);
    cr_assert_gt(mse[0], mse[1]);
    cr_assert_gt(mse[1], mse[2]);
    cr_assert_gt(mse[0] / mse[2], 4.0, "MSE(16)/MSE(256) = %g, expected ~16", mse[0] / mse[2]);
    free(x);
}

Test(attention_lowrank, performer_orthogonal_features_beat_iid_at_m_equal_d) {
    const int64_t d = 16, pairs = 64;
    const int seeds = 16;
    double *x = random_pairs(pairs, d, 0.7);
    double ort = 0, iid = 0;
    for (int s = 0; s < seeds; s++) {
        ort += favor_mse(2000 + s, d, d, 1, x, pairs) / seeds;
        iid += favor_mse(2000 + s, d, d, 0, x, pairs) / seeds;
    }
    cr_log_info("FAVOR+ MSE at m = d = 16: orthogonal %.4g, iid %.4g", ort, iid);
    cr_assert_lt(ort, iid);
    free(x);
}

Test(attention_lowrank, performer_orthogonal_blocks_are_orthogonal_with_chi_norms) {
    const int64_t d = 8, m = 20;
    double w[20 * 8];
    cr_assert_eq(mb_lowrank_performer_features(3, d, m, 1, w), 0);
    for (int64_t a = 0; a < m; a++)
        for (int64_t b = a + 1; b < m && b / d == a / d; b++) { /* rows of one block are orthogonal */
            double dot = 0;
            for (int64_t c = 0; c < d; c++) dot += w[a * d + c] * w[b * d + c];
            cr_assert_lt(fabs(dot), 1e-9, "rows %lld, %lld: %g", (long long)a, (long long)b, dot);
        }
    double w2[20 * 8];
    cr_assert_eq(mb_lowrank_performer_features(3, d, m, 1, w2), 0);
    cr_assert_eq(memcmp(w, w2, sizeof w), 0, "features are deterministic for a seed");
}

Test(attention_lowrank, performer_causal_and_iid_match_their_oracle) {
    struct mb_errors own;
    run_point("attention.performer", 200, 32, 2, 64, 1, "features=iid", 9, &own, NULL, NULL);
    cr_assert_lt(own.rel_l2, 1e-4);
    run_point("attention.performer", 130, 16, 1, 0, 1, NULL, 9, &own, NULL, NULL);
    cr_assert_lt(own.rel_l2, 1e-4);
    cr_assert(refuses("attention.performer", 0, 0, "features=sobol", "features"));
}

/* ------------------------------------------------------------------------------------------ reformer */
Test(attention_lowrank, reformer_one_chunk_is_shared_qk_softmax_with_self_mask) {
    const int64_t n = 100, d = 16, heads = 2;
    for (int causal = 0; causal <= 1; causal++) {
        struct mb_workload w;
        run_point("attention.reformer_lsh", n, d, heads, 2, causal, "chunk=128;rounds=1", 21, NULL, NULL, &w);
        const float *q = w.inputs[0].data, *v = w.inputs[2].data, *out = w.outputs[0].data;
        double num = 0, den = 0;
        double *s = malloc((size_t)n * sizeof(double));
        for (int64_t h = 0; h < heads; h++)
            for (int64_t i = 0; i < n; i++) {
                const float *qh = q + h * n * d, *vh = v + h * n * d;
                const int64_t last = causal ? i : n - 1;
                double m = -INFINITY, z = 0, o[16] = {0};
                for (int64_t j = 0; j <= last; j++) {
                    double dot = 0, sq = 0;
                    for (int64_t c = 0; c < d; c++) dot += (double)qh[i * d + c] * qh[j * d + c],
                                                    sq += (double)qh[j * d + c] * qh[j * d + c];
                    s[j] = (j == i && last > 0) ? -INFINITY : dot / sqrt(sq) / sqrt((double)d);
                    m = s[j] > m ? s[j] : m;
                }
                for (int64_t j = 0; j <= last; j++) {
                    const double p = exp(s[j] - m);
                    z += p;
                    for (int64_t c = 0; c < d; c++) o[c] += p * vh[j * d + c];
                }
                for (int64_t c = 0; c < d; c++) {
                    const double diff = out[(h * n + i) * d + c] - o[c] / z;
                    num += diff * diff;
                    den += (o[c] / z) * (o[c] / z);
                }
            }
        free(s);
        cr_assert_lt(sqrt(num / den), 1e-5, "causal=%d: rel %g", causal, sqrt(num / den));
        mb_workload_free(&w);
    }
}

Test(attention_lowrank, reformer_hashes_are_deterministic_for_a_seed) {
    const int64_t d = 16, b = 8;
    float r1[4 * 16], r2[4 * 16], r3[4 * 16];
    mb_lowrank_lsh_rotations(77, d, b, 0, r1);
    mb_lowrank_lsh_rotations(77, d, b, 0, r2);
    mb_lowrank_lsh_rotations(78, d, b, 0, r3);
    cr_assert_eq(memcmp(r1, r2, sizeof r1), 0);
    cr_assert_neq(memcmp(r1, r3, sizeof r1), 0, "another seed gives other rotations");
    float x[16];
    for (int c = 0; c < 16; c++) x[c] = (float)sin(c + 1.0);
    const int32_t h = mb_lowrank_lsh_bucket(x, r1, d, b);
    cr_assert(h >= 0 && h < b);
    cr_assert_eq(mb_lowrank_lsh_bucket(x, r2, d, b), h);
    for (int c = 0; c < 16; c++) x[c] *= 3.0f; /* angular: scale-invariant */
    cr_assert_eq(mb_lowrank_lsh_bucket(x, r1, d, b), h);
    for (int c = 0; c < 16; c++) x[c] = -x[c]; /* -x lands in the opposite bucket */
    cr_assert_eq(mb_lowrank_lsh_bucket(x, r1, d, b), (h + b / 2) % b);
    /* the whole kernel: same seed, same output bits */
    struct mb_workload w1, w2;
    run_point("attention.reformer_lsh", 300, 16, 1, 8, 0, "rounds=2;chunk=32", 4, NULL, NULL, &w1);
    run_point("attention.reformer_lsh", 300, 16, 1, 8, 0, "rounds=2;chunk=32", 4, NULL, NULL, &w2);
    cr_assert_eq(memcmp(w1.outputs[0].data, w2.outputs[0].data, 300 * 16 * sizeof(float)), 0);
    mb_workload_free(&w1);
    mb_workload_free(&w2);
}

Test(attention_lowrank, reformer_rounds_and_chunks_match_their_oracle) {
    struct mb_errors own;
    run_point("attention.reformer_lsh", 333, 24, 2, 6, 1, "rounds=3;chunk=20", 8, &own, NULL, NULL);
    cr_assert_lt(own.rel_l2, 1e-4);
    run_point("attention.reformer_lsh", 257, 64, 1, 0, 0, "rounds=4", 8, &own, NULL, NULL);
    cr_assert_lt(own.rel_l2, 1e-4);
    cr_assert(refuses("attention.reformer_lsh", 7, 0, "", "even"));
    cr_assert(refuses("attention.reformer_lsh", 0, 0, "rounds=0", "rounds"));
}
