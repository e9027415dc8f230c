/* Error metrics, points and parameters. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/mechbench.h"

Test(metrics, known_values) {
    float got[3] = {1.0f, 2.0f, -1.0f};
    double want[3] = {1.0, 2.5, -1.0};
    struct mb_errors e;
    mb_errors_reset(&e);
    mb_errors_add(&e, got, want, 3);
    mb_errors_finish(&e);
    cr_assert_float_eq(e.max_abs, 0.5, 1e-12);
    cr_assert_float_eq(e.nmse, 0.25 / (1 + 6.25 + 1), 1e-12);
    cr_assert_float_eq(e.rel_l2, sqrt(0.25 / 8.25), 1e-12);
    cr_assert_eq(e.checked, 3);
}

Test(metrics, nan_is_an_infinite_error) {
    float got[2] = {NAN, 1.0f};
    double want[2] = {1.0, 1.0};
    struct mb_errors e;
    mb_errors_reset(&e);
    mb_errors_add(&e, got, want, 2);
    mb_errors_finish(&e);
    cr_assert(isinf(e.rel_l2) && isinf(e.max_abs));
}

Test(metrics, merge_equals_one_pass) {
    float got[4] = {1, 2, 3, 4};
    double want[4] = {1.5, 2, 2, 4.25};
    struct mb_errors one, a, b;
    mb_errors_reset(&one);
    mb_errors_reset(&a);
    mb_errors_reset(&b);
    mb_errors_add(&one, got, want, 4);
    mb_errors_add(&a, got, want, 1);
    mb_errors_add(&b, got + 1, want + 1, 3);
    mb_errors_merge(&a, &b);
    mb_errors_finish(&one);
    mb_errors_finish(&a);
    cr_assert_float_eq(a.rel_l2, one.rel_l2, 1e-15);
    cr_assert_float_eq(a.max_abs, one.max_abs, 1e-15);
    cr_assert_eq(a.checked, 4);
}

Test(metrics, zero_reference_uses_absolute_error) {
    float got[2] = {0.0f, 0.5f};
    double want[2] = {0.0, 0.0};
    struct mb_errors e;
    mb_errors_reset(&e);
    mb_errors_add(&e, got, want, 2);
    mb_errors_finish(&e);
    cr_assert_float_eq(e.rel_l2, 0.5, 1e-12);
}

Test(points, get_set_format_and_params) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    mb_point_set(&p, MB_AXIS_n, 4096);
    mb_point_set(&p, MB_AXIS_eps, 0.125);
    cr_assert_eq(p.n, 4096);
    cr_assert_float_eq(p.eps, 0.125, 0);
    cr_assert_float_eq(mb_point_get(&p, MB_AXIS_n), 4096, 0);
    cr_assert_eq(mb_axis_lookup("heads"), MB_AXIS_heads);
    cr_assert_eq(mb_axis_lookup("nope"), -1);
    char buf[128];
    mb_point_format(&p, MB_AXIS_BIT(n) | MB_AXIS_BIT(eps) | MB_AXIS_BIT(causal) | MB_AXIS_BIT(d), buf, sizeof buf);
    cr_assert_str_eq(buf, "n=4096 causal=0 eps=0.125");
}

/* A sample starts with the distinct edge rows: no repeats when there is one group, and a decode check's sample
   always holds the last sequence's step. */
Test(check, sampled_rows_start_with_distinct_edges) {
    struct mb_check_opts o = {.sample_rows = 5, .seed = 3};
    int64_t *rows;
    cr_assert_eq(mb_pick_rows(1, 10, 0, &o, &rows), 5);
    cr_assert_eq(rows[0], 0);
    cr_assert_eq(rows[1], 9);
    for (int i = 2; i < 5; i++) cr_assert(rows[i] >= 0 && rows[i] < 10);
    free(rows);
    cr_assert_eq(mb_pick_rows(3, 10, 0, &o, &rows), 5);
    int64_t want[4] = {0, 29, 9, 20};
    for (int i = 0; i < 4; i++) cr_assert_eq(rows[i], want[i], "edge %d: %lld", i, (long long)rows[i]);
    free(rows);
    o.sample_rows = 3;
    cr_assert_eq(mb_pick_rows(5, 4, 1, &o, &rows), 3);
    cr_assert_eq(rows[0], 3, "the first sequence's last step");
    cr_assert_eq(rows[1], 19, "the last sequence's last step");
    cr_assert_eq(rows[2] % 4, 3);
    free(rows);
}

/* mb_fill_normal: the values do not depend on the thread count, block 0 (2^20 values) is the mt19937 stream seeded as
   a whole tensor always was, and the next block is a different stream. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <omp.h>
Test(fill, normal_blocks_deterministic_and_block0_unchanged) {
    const int64_t n = (INT64_C(1) << 21) + 12345; /* three blocks, the last partial */
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    cr_assert(a && b);
    struct mb_tensor ta = {.data = a, .ndim = 1, .shape = {n}}, tb = {.data = b, .ndim = 1, .shape = {n}};
    omp_set_num_threads(1);
    mb_fill_normal(&ta, 42, 3, 0.5, 2.0);
    omp_set_num_threads(2);
    mb_fill_normal(&tb, 42, 3, 0.5, 2.0);
    cr_assert(memcmp(a, b, (size_t)n * sizeof *a) == 0, "the fill depends on the thread count");
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, (unsigned long)(42 * 1000003u + 3));
    for (int64_t i = 0; i < 1000; i++) cr_assert_eq(a[i], (float)(0.5 + gsl_ran_gaussian_ziggurat(rng, 2.0)));
    gsl_rng_free(rng);
    int64_t same = 0;
    for (int64_t i = 0; i < 1000; i++) same += a[(INT64_C(1) << 20) + i] == a[i];
    cr_assert_lt(same, 5, "block 1 repeats block 0");
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) sum += a[i], sq += (double)a[i] * a[i];
    const double mean = sum / n, sd = sqrt(sq / n - mean * mean);
    cr_assert(fabs(mean - 0.5) < 0.01 && fabs(sd - 2.0) < 0.01, "mean %g sd %g", mean, sd);
    free(a);
    free(b);
}

Test(threads, team_for_gives_one_thread_per_grain_of_work) {
    cr_assert_eq(mb_team_for(0, 2), 1);
    cr_assert_eq(mb_team_for(MB_MIN_FLOPS_PER_THREAD * 1.99, 2), 1); /* below two grains: the caller alone */
    cr_assert_eq(mb_team_for(MB_MIN_FLOPS_PER_THREAD * 2, 2), 2);
    cr_assert_eq(mb_team_for(MB_MIN_FLOPS_PER_THREAD * 100, 4), 4); /* at most the threads given */
    cr_assert_eq(mb_team_for(MB_MIN_FLOPS_PER_THREAD * 3, 8), 3);
    cr_assert_eq(mb_team_for(1e30, 0), 1);
    mb_set_min_flops_per_thread(0); /* no grain: every region gets all threads */
    cr_assert_eq(mb_team_for(1, 4), 4);
    mb_set_min_flops_per_thread(MB_MIN_FLOPS_PER_THREAD);
    cr_assert_eq(mb_team_for(1, 4), 1);
}
