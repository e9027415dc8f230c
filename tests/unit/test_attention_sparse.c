/* Sparse attention group: patterns vs their formulas, limits that equal exact softmax, FLOP models, ties. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention/family_sparse.h"
#include "run/runner.h"

static struct mb_point point_of(const struct mb_kernel *k, int64_t n, int64_t d, int64_t heads, int64_t causal,
                                int64_t rank, const char *params, int threads) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = 1;
    p.heads = heads;
    p.n = n;
    p.d = d;
    p.causal = causal;
    p.rank = rank;
    p.threads = threads;
    if (params) snprintf(p.params, sizeof p.params, "%s", params);
    mb_point_complete(k, &p, MB_AXIS_BIT(rank) | MB_AXIS_BIT(causal));
    return p;
}

/* Run kernel `name` at p (all rows checked) and return its error vs `mechanism`'s oracle. */
static struct mb_errors run_vs(const char *name, const struct mb_point *p, const char *mechanism) {
    const struct mb_kernel *k = mb_kernel_find(name);
    cr_assert_not_null(k, "%s not registered", name);
    char err[256];
    cr_assert_eq(mb_kernel_supports(k, p, err, sizeof err), 0, "%s", err);
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, p, 5, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    struct mb_errors e;
    cr_assert_eq(k->family->check(k, &w, mechanism, &co, &e, err, sizeof err), 0, "%s", err);
    mb_workload_free(&w);
    return e;
}

Test(attention_sparse, local_with_a_window_of_n_is_exact_softmax) {
    const struct mb_kernel *k = mb_kernel_find("attention.sparse.local");
    for (int causal = 0; causal <= 1; causal++) {
        struct mb_point p = point_of(k, 200, 64, 2, causal, 200, NULL, 2);
        struct mb_errors e = run_vs("attention.sparse.local", &p, "softmax");
        cr_assert_lt(e.rel_l2, 1e-5, "causal=%d: rel_l2 %g", causal, e.rel_l2);
        /* and a small window is far from softmax but matches its own oracle */
        p.rank = 4;
        cr_assert_gt(run_vs("attention.sparse.local", &p, "softmax").rel_l2, 0.05);
        cr_assert_lt(run_vs("attention.sparse.local", &p, "sparse.local").rel_l2, 1e-5);
    }
}

Test(attention_sparse, atrous_with_dilation_1_is_exact_softmax) {
    const struct mb_kernel *k = mb_kernel_find("attention.sparse.atrous");
    for (int causal = 0; causal <= 1; causal++) {
        struct mb_point p = point_of(k, 150, 80, 1, causal, 1, NULL, 2);
        struct mb_errors e = run_vs("attention.sparse.atrous", &p, "softmax");
        cr_assert_lt(e.rel_l2, 1e-5, "causal=%d: rel_l2 %g", causal, e.rel_l2);
    }
}

Test(attention_sparse, topk_with_k_of_n_is_exact_softmax) {
    const struct mb_kernel *k = mb_kernel_find("attention.sparse.topk");
    for (int causal = 0; causal <= 1; causal++) {
        struct mb_point p = point_of(k, 130, 64, 2, causal, 130, NULL, 2);
        struct mb_errors e = run_vs("attention.sparse.topk", &p, "softmax");
        cr_assert_lt(e.rel_l2, 1e-5, "causal=%d: rel_l2 %g", causal, e.rel_l2);
        p.rank = 3;
        cr_assert_lt(run_vs("attention.sparse.topk", &p, "sparse.topk").rel_l2, 1e-5);
        cr_assert_gt(run_vs("attention.sparse.topk", &p, "softmax").rel_l2, 0.05);
    }
}

static int64_t brute_count(const struct mb_sparse *sp) {
    int64_t c = 0;
    for (int64_t i = 0; i < sp->n; i++)
        for (int64_t j = 0; j < sp->n; j++) c += mb_sparse_allowed(sp, i, j);
    return c;
}

static struct mb_sparse pattern(enum mb_sparse_kind kind, int64_t n, int causal, int64_t rank, const char *params) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = n;
    p.causal = causal;
    p.rank = rank;
    struct mb_sparse sp;
    char err[128];
    cr_assert_eq(mb_params_parse(mb_kernel_find("attention.sparse.fixed"), params, 0, &p, err, sizeof err), 0, "%s", err);
    mb_sparse_resolve(&sp, &mb_sparse_patterns[kind], &p);
    return sp;
}

Test(attention_sparse, strided_and_fixed_masks_count_the_formula_at_n64_l8) {
    /* strided causal: min(i+1, 8) band + floor(i/8) residues = 36 + 56*8 + 8*28 */
    struct mb_sparse sp = pattern(MB_SPARSE_STRIDED, 64, 1, 8, NULL);
    cr_assert_eq(brute_count(&sp), 36 + 56 * 8 + 8 * 28);
    cr_assert_eq(mb_sparse_total_count(&sp), 36 + 56 * 8 + 8 * 28);
    /* non-causal: band |i-j| < 8 (64*15 - 56) + the 7 other keys of the same residue */
    sp = pattern(MB_SPARSE_STRIDED, 64, 0, 8, NULL);
    cr_assert_eq(brute_count(&sp), 64 * 15 - 56 + 64 * 7);
    cr_assert_eq(mb_sparse_total_count(&sp), 64 * 15 - 56 + 64 * 7);
    /* fixed, c = max(1, 8/8) = 1; causal: 1..8 in each own block + one summary column per earlier block */
    sp = pattern(MB_SPARSE_FIXED, 64, 1, 8, NULL);
    cr_assert_eq(sp.c, 1);
    cr_assert_eq(brute_count(&sp), 8 * 36 + 8 * 28);
    cr_assert_eq(mb_sparse_total_count(&sp), 8 * 36 + 8 * 28);
    sp = pattern(MB_SPARSE_FIXED, 64, 0, 8, "c=2");
    cr_assert_eq(brute_count(&sp), 64 * 8 + 64 * 7 * 2);
    cr_assert_eq(mb_sparse_total_count(&sp), 64 * 8 + 64 * 7 * 2);
    /* defaults: l = ceil(sqrt(n)) */
    cr_assert_eq(pattern(MB_SPARSE_STRIDED, 65, 0, 0, NULL).l, 9);
    cr_assert_eq(pattern(MB_SPARSE_FIXED, 64, 0, 0, NULL).l, 8);
    cr_assert_eq(pattern(MB_SPARSE_LOCAL, 64, 0, 0, NULL).l, 64);
    cr_assert_eq(pattern(MB_SPARSE_ATROUS, 64, 0, 0, NULL).l, 8);
}

Test(attention_sparse, key_lists_and_counts_equal_the_predicate) {
    const int64_t ns[] = {1, 7, 64, 67, 130};
    const int64_t ranks[] = {1, 2, 3, 8, 11, 200};
    int64_t *idx = malloc(130 * sizeof *idx);
    for (int kind = MB_SPARSE_LOCAL; kind <= MB_SPARSE_FIXED; kind++)
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t b = 0; b < sizeof ranks / sizeof ranks[0]; b++)
                for (int causal = 0; causal <= 1; causal++)
                    for (int c = 1; c <= 3; c++) {
                        char params[16];
                        snprintf(params, sizeof params, "c=%d", c);
                        struct mb_sparse sp = pattern((enum mb_sparse_kind)kind, ns[a], causal, ranks[b], params);
                        for (int64_t i = 0; i < sp.n; i++) {
                            const int64_t m = mb_sparse_row_keys(&sp, i, idx);
                            cr_assert_eq(m, mb_sparse_row_count(&sp, i), "kind %d n %lld l %lld causal %d i %lld",
                                         kind, (long long)sp.n, (long long)sp.l, causal, (long long)i);
                            int64_t t = 0;
                            for (int64_t j = 0; j < sp.n; j++)
                                if (mb_sparse_allowed(&sp, i, j)) {
                                    cr_assert_lt(t, m);
                                    cr_assert_eq(idx[t], j, "kind %d n %lld l %lld causal %d i %lld", kind,
                                                 (long long)sp.n, (long long)sp.l, causal, (long long)i);
                                    t++;
                                }
                            cr_assert_eq(t, m);
                        }
                    }
    free(idx);
}

Test(attention_sparse, flop_models_follow_the_pattern) {
    const struct mb_kernel *strided = mb_kernel_find("attention.sparse.strided");
    const struct mb_kernel *fixed = mb_kernel_find("attention.sparse.fixed");
    const struct mb_kernel *local = mb_kernel_find("attention.sparse.local");
    const struct mb_kernel *topk = mb_kernel_find("attention.sparse.topk");
    for (int causal = 0; causal <= 1; causal++) {
        struct mb_point p1 = point_of(strided, 4096, 64, 1, causal, 0, NULL, 1), p4 = p1;
        p4.n = 4 * p1.n; /* rank 0: l = sqrt(n) at both */
        double r = mb_kernel_flops(strided, &p4) / mb_kernel_flops(strided, &p1);
        cr_assert(r > 7.5 && r < 8.5, "strided causal=%d: flops(4n)/flops(n) = %g, want ~8", causal, r);
        /* fixed at l = sqrt(n) is O(n sqrt(n)) only at a fixed summary width c (the default c = l/8 grows) */
        struct mb_point f1 = point_of(fixed, 4096, 64, 1, causal, 0, "c=2", 1), f4 = f1;
        f4.n *= 4;
        r = mb_kernel_flops(fixed, &f4) / mb_kernel_flops(fixed, &f1);
        cr_assert(r > 7.5 && r < 8.5, "fixed c=2 causal=%d: ratio %g", causal, r);
        f1 = point_of(fixed, 4096, 64, 1, causal, 0, NULL, 1);
        f4 = f1;
        f4.n *= 4;
        r = mb_kernel_flops(fixed, &f4) / mb_kernel_flops(fixed, &f1);
        cr_assert(r > 12 && r < 16, "fixed c=l/8 causal=%d: ratio %g, the n^2/8 summary part dominates", causal, r);
        p1 = point_of(local, 4096, 64, 1, causal, 64, NULL, 1);
        p4 = p1;
        p4.n *= 4;
        r = mb_kernel_flops(local, &p4) / mb_kernel_flops(local, &p1);
        cr_assert(r > 3.9 && r < 4.1, "local causal=%d: ratio %g, want ~4 at fixed w", causal, r);
        p1 = point_of(topk, 4096, 64, 1, causal, 32, NULL, 1);
        p4 = p1;
        p4.n *= 4;
        r = mb_kernel_flops(topk, &p4) / mb_kernel_flops(topk, &p1);
        cr_assert(r > 15 && r < 16.5, "topk causal=%d: ratio %g, want ~16 (all scores)", causal, r);
    }
    /* exactly (4 d + 3) per allowed entry: strided n = 64, l = 8, causal */
    struct mb_point p = point_of(strided, 64, 16, 2, 1, 8, NULL, 1);
    cr_assert_float_eq(mb_kernel_flops(strided, &p), 2.0 * (4 * 16 + 3) * (36 + 56 * 8 + 8 * 28), 1e-6);
}

Test(attention_sparse, fixed_summary_width_parameter) {
    const struct mb_kernel *k = mb_kernel_find("attention.sparse.fixed");
    struct mb_point p = point_of(k, 100, 16, 2, 0, 10, "c=3", 2);
    cr_assert_lt(run_vs("attention.sparse.fixed", &p, "sparse.fixed").rel_l2, 1e-5);
    p.causal = 1;
    cr_assert_lt(run_vs("attention.sparse.fixed", &p, "sparse.fixed").rel_l2, 1e-5);
    /* c changes the result */
    struct mb_point p1 = point_of(k, 100, 16, 1, 0, 10, "c=1", 1);
    cr_assert_gt(mb_sparse_flops(k, &p), mb_sparse_flops(k, &p1));
    char why[128] = "";
    cr_assert_eq(mb_params_parse(k, "c=-1", 0, &p, why, sizeof why), -1);
    cr_assert(strstr(why, "c=-1"), "%s", why);
    cr_assert_eq(mb_params_parse(k, "c=x", 0, &p, why, sizeof why), -1);
    cr_assert(strstr(why, "c=x") && strstr(why, "integer"), "%s", why);
}

Test(attention_sparse, pattern_kernels_are_one_implementation_with_their_pattern_as_variant) {
    const char *names[MB_SPARSE_KIND_COUNT] = {[MB_SPARSE_LOCAL] = "attention.sparse.local",
                                               [MB_SPARSE_ATROUS] = "attention.sparse.atrous",
                                               [MB_SPARSE_STRIDED] = "attention.sparse.strided",
                                               [MB_SPARSE_FIXED] = "attention.sparse.fixed"};
    /* mb_kernel_find returns the copy of the chosen ISA (core/isa.c), so compare the kernels with each other, not
       with the (portable) symbols named in this file */
    const struct mb_kernel *first = mb_kernel_find(names[0]);
    for (int kind = 0; kind < MB_SPARSE_KIND_COUNT; kind++) {
        const struct mb_kernel *k = mb_kernel_find(names[kind]);
        cr_assert_not_null(k, "%s", names[kind]);
        const struct mb_sparse_pattern *pattern = k->variant;
        cr_assert_eq(pattern->kind, (enum mb_sparse_kind)kind);
        cr_assert_eq(pattern->kind, mb_sparse_patterns[kind].kind);
        cr_assert(k->setup == first->setup && k->run == first->run && k->flops == first->flops &&
                      k->workspace_bytes == first->workspace_bytes,
                  "%s: the shared functions, no wrappers", names[kind]);
    }
    if (!strcmp(mb_isa_name(), "portable"))
        cr_assert(first->setup == mb_sparse_setup && first->flops == mb_sparse_flops);
}

static int nothing_allowed(const void *ctx, int64_t i, int64_t j) {
    (void)ctx, (void)i, (void)j;
    return 0;
}

Test(attention_sparse, a_row_with_no_allowed_key_is_zero_not_nan) {
    const struct mb_kernel *k = mb_kernel_find("attention.sparse.local");
    struct mb_point p = point_of(k, 9, 8, 1, 1, 2, NULL, 1);
    struct mb_workload w;
    char err[128];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 1, err, sizeof err), 0);
    struct mb_attn a;
    mb_attn_bind(&a, &w);
    double scratch[9], out[8];
    mb_sparse_oracle_masked(&a, 0, 4, nothing_allowed, NULL, scratch, out);
    for (int c = 0; c < 8; c++) cr_assert_eq(out[c], 0.0);
    float row[8], scores[1];
    for (int c = 0; c < 8; c++) row[c] = NAN;
    mb_sparse_attend_row(a.q, a.k, a.v, 8, 1.0f, NULL, 0, 1, scores, row);
    for (int c = 0; c < 8; c++) cr_assert_eq(row[c], 0.0f);
    mb_workload_free(&w);
}

Test(attention_sparse, topk_ties_keep_the_lowest_index) {
    /* keys 3 and 5 are identical and score highest for every query; k = 1 must keep key 3 */
    const struct mb_kernel *k = mb_kernel_find("attention.sparse.topk");
    const int64_t n = 8, d = 4;
    for (int causal = 0; causal <= 1; causal++) {
        struct mb_point p = point_of(k, n, d, 1, causal, 1, NULL, 1);
        struct mb_workload w;
        char err[128];
        cr_assert_eq(mb_workload_create(&w, k->family, &p, 1, err, sizeof err), 0);
        float *q = w.inputs[0].data, *key = w.inputs[1].data, *v = w.inputs[2].data;
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < d; c++) {
                q[i * d + c] = 1.0f;
                key[i * d + c] = (i == 3 || i == 5) ? 2.0f : -1.0f + 0.01f * (float)i;
                v[i * d + c] = (float)(10 * i + c);
            }
        cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
        const float *out = w.outputs[0].data;
        for (int64_t i = 3; i < n; i++)
            for (int64_t c = 0; c < d; c++) cr_assert_eq(out[i * d + c], v[3 * d + c], "row %lld", (long long)i);
        struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
        struct mb_errors e;
        cr_assert_eq(k->family->check(k, &w, "sparse.topk", &co, &e, err, sizeof err), 0);
        cr_assert_lt(e.rel_l2, 1e-6, "the oracle must use the same tie rule");
        mb_workload_free(&w);
    }
}

Test(attention_sparse, topk_selection_is_exact_at_near_ties) {
    /* many rows, moderate k: the kept set (decided in double near the threshold) must equal the oracle's */
    const struct mb_kernel *k = mb_kernel_find("attention.sparse.topk");
    for (int causal = 0; causal <= 1; causal++) {
        struct mb_point p = point_of(k, 1000, 16, 2, causal, 17, NULL, 2);
        struct mb_errors e = run_vs("attention.sparse.topk", &p, "sparse.topk");
        cr_assert_lt(e.rel_l2, 1e-5, "causal=%d: rel_l2 %g", causal, e.rel_l2);
        cr_assert_lt(e.max_abs, 1e-4, "causal=%d: max_abs %g (a key swapped at the boundary?)", causal, e.max_abs);
    }
}

Test(attention_sparse, topk_decides_fp32_ties_in_double_like_the_oracle) {
    /* key 5 beats key 3 by 2^-22 in one coordinate: equal in fp32 (8 + 2^-22 rounds to 8), larger in double */
    const struct mb_kernel *k = mb_kernel_find("attention.sparse.topk");
    const int64_t n = 8, d = 4;
    struct mb_point p = point_of(k, n, d, 1, 0, 1, NULL, 1);
    struct mb_workload w;
    char err[128];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 1, err, sizeof err), 0);
    float *q = w.inputs[0].data, *key = w.inputs[1].data, *v = w.inputs[2].data;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) {
            q[i * d + c] = 1.0f;
            key[i * d + c] = (i == 3 || i == 5) ? 2.0f : -1.0f;
            v[i * d + c] = (float)(10 * i + c);
        }
    key[5 * d] = 2.0f + ldexpf(1.0f, -22);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) cr_assert_eq(w.outputs[0].data[i * d + c], v[5 * d + c], "row %lld", (long long)i);
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    struct mb_errors e;
    cr_assert_eq(k->family->check(k, &w, "sparse.topk", &co, &e, err, sizeof err), 0);
    cr_assert_lt(e.rel_l2, 1e-6);
    mb_workload_free(&w);
}

Test(attention_sparse, both_engines_match_the_oracle_across_ranks) {
    /* small ranks take the row engine, larger ones the block engine (sgemm on rows sharing keys; strided merges
       the band and the residues): all must equal the masked-softmax oracle */
    const char *names[] = {"attention.sparse.local", "attention.sparse.atrous", "attention.sparse.strided",
                           "attention.sparse.fixed"};
    const char *mechs[] = {"sparse.local", "sparse.atrous", "sparse.strided", "sparse.fixed"};
    const int64_t ranks[] = {1, 2, 3, 7, 8, 13, 40, 200};
    const int64_t ns[] = {37, 150};
    for (int kk = 0; kk < 4; kk++)
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t b = 0; b < sizeof ranks / sizeof ranks[0]; b++)
                for (int causal = 0; causal <= 1; causal++) {
                    const struct mb_kernel *k = mb_kernel_find(names[kk]);
                    struct mb_point p = point_of(k, ns[a], 24, 2, causal, ranks[b], NULL, 2);
                    struct mb_errors e = run_vs(names[kk], &p, mechs[kk]);
                    cr_assert_lt(e.rel_l2, 1e-5, "%s n=%lld rank=%lld causal=%d: rel_l2 %g", names[kk],
                                 (long long)ns[a], (long long)ranks[b], causal, e.rel_l2);
                }
}
