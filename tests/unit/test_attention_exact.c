/* The exact softmax kernels: attention.softmax.flash (tiled online softmax) and attention.softmax.decode (KV-cache
 * decode step) against attention.softmax.naive and the double-precision oracle. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run/runner.h"

static struct mb_point make_point(const struct mb_kernel *k, int64_t batch, int64_t heads, int64_t n, int64_t d,
                                  int64_t causal, int64_t block, int64_t threads) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = batch, p.heads = heads, p.n = n, p.d = d, p.causal = causal, p.block = block, p.threads = threads;
    mb_point_complete(k, &p, causal ? 0 : MB_AXIS_BIT(causal));
    p.causal = causal;
    return p;
}

/* ||a - b|| / ||b|| over count floats */
static double rel_l2(const float *a, const float *b, int64_t count) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < count; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}

/* out of naive at point p (seed 5): a malloc'd copy */
static float *naive_out(const struct mb_point *given) {
    const struct mb_kernel *naive = mb_kernel_find("attention.softmax.naive");
    struct mb_point p = *given;
    p.block = 0;
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, naive->family, &p, 5, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(naive, &w, err, sizeof err), 0, "%s", err);
    const int64_t count = mb_tensor_numel(&w.outputs[0]);
    float *copy = malloc((size_t)count * sizeof(float));
    memcpy(copy, w.outputs[0].data, (size_t)count * sizeof(float));
    mb_workload_free(&w);
    return copy;
}

Test(attention_exact, flash_equals_naive_at_block_sizes_that_do_not_divide_n) {
    const struct mb_kernel *flash = mb_kernel_find("attention.softmax.flash");
    cr_assert_not_null(flash);
    const int64_t blocks[] = {0, 7, 64, 100, 1000};
    const int64_t ns[] = {1, 65, 300};
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
        for (int causal = 0; causal <= 1; causal++) {
            struct mb_point p = make_point(flash, 2, 3, ns[ni], 16, causal, 0, 2);
            float *want = naive_out(&p);
            for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
                p.block = blocks[bi];
                struct mb_workload w;
                char err[256];
                cr_assert_eq(mb_workload_create(&w, flash->family, &p, 5, err, sizeof err), 0, "%s", err);
                cr_assert_eq(mb_run_once(flash, &w, err, sizeof err), 0, "%s", err);
                const int64_t count = mb_tensor_numel(&w.outputs[0]);
                for (int64_t i = 0; i < count; i++) cr_assert(isfinite(w.outputs[0].data[i]));
                const double e = rel_l2(w.outputs[0].data, want, count);
                cr_assert_lt(e, 1e-5, "n=%lld causal=%d block=%lld: rel_l2 %g vs naive", (long long)p.n, causal,
                             (long long)p.block, e);
                mb_workload_free(&w);
            }
            free(want);
        }
}

/* qk_std = 16: scores spread over hundreds, so the AVX-512 engine's reference max (moved only when a score exceeds
   it by 2^8) moves inside blocks and rescales P already written, l and O; d = 40 covers the masked columns of
   O = P V, 128 its two full column passes (plain loads), 100 a full pass then a masked one. */
Test(attention_exact, flash_equals_naive_on_peaked_scores) {
    const struct mb_kernel *flash = mb_kernel_find("attention.softmax.flash");
    const int64_t ds[] = {40, 100, 128};
    for (size_t di = 0; di < sizeof ds / sizeof ds[0]; di++)
        for (int causal = 0; causal <= 1; causal++) {
            struct mb_point p = make_point(flash, 1, 2, 333, ds[di], causal, 50, 2);
            char err[256];
            cr_assert_eq(mb_params_parse(flash, "qk_std=16", 0, &p, err, sizeof err), 0, "%s", err);
            float *want = naive_out(&p);
            struct mb_workload w;
            cr_assert_eq(mb_workload_create(&w, flash->family, &p, 5, err, sizeof err), 0, "%s", err);
            cr_assert_eq(mb_run_once(flash, &w, err, sizeof err), 0, "%s", err);
            const double e = rel_l2(w.outputs[0].data, want, mb_tensor_numel(&w.outputs[0]));
            cr_assert_lt(e, 2e-5, "d=%lld causal=%d: rel_l2 %g vs naive", (long long)p.d, causal, e);
            mb_workload_free(&w);
            free(want);
        }
}

Test(attention_exact, flash_d64_matches_naive_and_oracle) {
    const struct mb_kernel *flash = mb_kernel_find("attention.softmax.flash");
    for (int causal = 0; causal <= 1; causal++) {
        struct mb_point p = make_point(flash, 1, 2, 517, 64, causal, 100, 2);
        float *want = naive_out(&p);
        struct mb_workload w;
        char err[256];
        cr_assert_eq(mb_workload_create(&w, flash->family, &p, 5, err, sizeof err), 0, "%s", err);
        cr_assert_eq(mb_run_once(flash, &w, err, sizeof err), 0, "%s", err);
        cr_assert_lt(rel_l2(w.outputs[0].data, want, mb_tensor_numel(&w.outputs[0])), 1e-5);
        struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
        struct mb_errors e;
        cr_assert_eq(flash->family->check(flash, &w, "softmax", &co, &e, err, sizeof err), 0, "%s", err);
        cr_assert_lt(e.rel_l2, 1e-5);
        mb_workload_free(&w);
        free(want);
    }
}

Test(attention_exact, flash_workspace_does_not_grow_with_n_squared) {
    const struct mb_kernel *flash = mb_kernel_find("attention.softmax.flash");
    struct mb_point big = make_point(flash, 1, 1, 65536, 64, 0, 0, 2), small = big;
    small.n = 4096;
    const double ws = mb_kernel_workspace(flash, &big);
    cr_assert_lt(ws, 64e6, "workspace at n = 65536: %g bytes", ws);
    cr_assert_eq(ws, mb_kernel_workspace(flash, &small), "the workspace must not depend on n beyond the key block");
    cr_assert_lt(ws, 1e-3 * 4.0 * 65536.0 * 65536.0);
}

Test(attention_exact, flash_flop_model_is_the_standard_count) {
    /* 4 n^2 d per head; causal exactly half (FlashAttention's benchmarks), not the blocks computed */
    const struct mb_kernel *flash = mb_kernel_find("attention.softmax.flash");
    struct mb_point p = make_point(flash, 1, 8, 4096, 64, 0, 0, 2);
    cr_assert_float_eq(mb_kernel_flops(flash, &p), 8 * 4.0 * 4096.0 * 4096.0 * 64.0, 1.0);
    p.causal = 1;
    cr_assert_float_eq(mb_kernel_flops(flash, &p), 8 * 2.0 * 4096.0 * 4096.0 * 64.0, 1.0);
}

Test(attention_exact, decode_row_equals_naive_last_row) {
    const struct mb_kernel *decode = mb_kernel_find("attention.softmax.decode");
    cr_assert_not_null(decode);
    cr_assert(decode->flags & MB_KERNEL_LAST_ROW);
    /* (heads, n, d, threads): one head with 2 threads splits the cache into slices merged at the end */
    const int64_t cases[][4] = {{3, 1, 16, 1}, {3, 7, 5, 2}, {3, 1000, 80, 2}, {1, 5000, 64, 2}, {1, 4099, 64, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int causal = 0; causal <= 1; causal++) {
            const int64_t heads = cases[c][0], n = cases[c][1], d = cases[c][2];
            struct mb_point p = make_point(decode, 2, heads, n, d, causal, 0, cases[c][3]);
            float *want = naive_out(&p);
            struct mb_workload w;
            char err[256];
            cr_assert_eq(mb_workload_create(&w, decode->family, &p, 5, err, sizeof err), 0, "%s", err);
            cr_assert_eq(mb_run_once(decode, &w, err, sizeof err), 0, "%s", err);
            for (int64_t head = 0; head < 2 * heads; head++) {
                const int64_t last = (head * n + n - 1) * d;
                const double e = rel_l2(w.outputs[0].data + last, want + last, d);
                cr_assert_lt(e, 1e-5, "heads=%lld n=%lld d=%lld causal=%d head %lld: rel_l2 %g", (long long)heads,
                             (long long)n, (long long)d, causal, (long long)head, e);
                if (n > 1) cr_assert_eq(w.outputs[0].data[last - 1], 0.0f, "decode writes only the last row");
            }
            mb_workload_free(&w);
            free(want);
        }
}

Test(attention_exact, decode_at_large_n_passes_its_oracle) {
    const struct mb_kernel *decode = mb_kernel_find("attention.softmax.decode");
    struct mb_point p = make_point(decode, 1, 1, 100000, 64, 1, 0, 2);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, decode->family, &p, 11, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(decode, &w, err, sizeof err), 0, "%s", err);
    struct mb_check_opts co = {.sample_rows = 1, .seed = 3};
    struct mb_errors e;
    cr_assert_eq(decode->family->check(decode, &w, "softmax", &co, &e, err, sizeof err), 0, "%s", err);
    cr_assert_eq(e.checked, 64);
    cr_assert_lt(e.rel_l2, 1e-4, "rel_l2 %g", e.rel_l2);
    mb_workload_free(&w);
}

Test(attention_exact, decode_models_are_linear_in_n) {
    const struct mb_kernel *decode = mb_kernel_find("attention.softmax.decode");
    struct mb_point p = make_point(decode, 1, 8, 4096, 64, 0, 0, 2);
    cr_assert_float_eq(mb_kernel_flops(decode, &p), 8 * 4.0 * 4096 * 64, 1.0);
    cr_assert_float_eq(mb_kernel_bytes(decode, &p), 8 * 2.0 * 4096 * 64 * 4, 1.0);
    cr_assert_lt(mb_kernel_workspace(decode, &p), 1e5);
}
