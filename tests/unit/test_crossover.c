/* Crossover of two timing curves on synthetic data with known answers, and the pairing of two kernels' series. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/crossover.h"
#include "store/rows.h"

#define N 8

static void powers_of_two(double *x, int n, double start) {
    for (int i = 0; i < n; i++) x[i] = start * pow(2, i);
}

Test(crossover, quadratic_vs_linear_is_exact_on_log_log) {
    double x[N], ta[N], tb[N];
    powers_of_two(x, N, 128); /* 128 .. 16384 */
    for (int i = 0; i < N; i++) {
        ta[i] = 1e-9 * x[i] * x[i]; /* quadratic attention */
        tb[i] = 1e-6 * x[i];        /* linear attention */
    }
    struct mb_crossover c;
    cr_assert_eq(mb_crossover_find(x, ta, tb, N, &c), 0);
    cr_assert(c.found);
    cr_assert_float_eq(c.x, 1000.0, 1e-9);
    cr_assert(c.b_faster_above);
    cr_assert(c.x_below < c.x && c.x < c.x_above, "bracket %g < %g < %g", c.x_below, c.x, c.x_above);
    cr_assert_float_eq(c.x_above, 2 * c.x_below, 1e-9); /* two neighbouring measured sizes */
    cr_assert_float_eq(c.x_below, 512, 0); /* powers of two from 128: 512 < 1000 < 1024 */
}

Test(crossover, reverse_direction) {
    double x[N], ta[N], tb[N];
    powers_of_two(x, N, 128);
    for (int i = 0; i < N; i++) {
        ta[i] = 1e-6 * x[i];
        tb[i] = 1e-9 * x[i] * x[i];
    }
    struct mb_crossover c;
    cr_assert_eq(mb_crossover_find(x, ta, tb, N, &c), 0);
    cr_assert(c.found);
    cr_assert_float_eq(c.x, 1000.0, 1e-9);
    cr_assert_not(c.b_faster_above);
}

Test(crossover, power_laws_with_other_exponents) {
    /* tA = 2e-12 x^3, tB = 5e-8 x^1.5 -> x^1.5 = 2.5e4 -> x* = 2.5e4^(2/3) */
    double x[N], ta[N], tb[N];
    powers_of_two(x, N, 16);
    for (int i = 0; i < N; i++) {
        ta[i] = 2e-12 * pow(x[i], 3);
        tb[i] = 5e-8 * pow(x[i], 1.5);
    }
    struct mb_crossover c;
    cr_assert_eq(mb_crossover_find(x, ta, tb, N, &c), 0);
    cr_assert(c.found);
    cr_assert_float_eq(c.x, pow(2.5e4, 2.0 / 3.0), 1e-9 * c.x);
}

Test(crossover, last_sign_change_wins_and_crossings_are_counted) {
    double x[] = {1, 2, 4, 8, 16}, ta[] = {1, 1, 1, 1, 1}, tb[] = {2, 0.5, 0.5, 2, 0.5};
    struct mb_crossover c;
    cr_assert_eq(mb_crossover_find(x, ta, tb, 5, &c), 0);
    cr_assert(c.found);
    cr_assert_eq(c.crossings, 3);
    /* f = log(ta/tb): -log2 at x=8, +log2 at x=16: the midpoint in log x is sqrt(128) */
    cr_assert_float_eq(c.x, sqrt(128.0), 1e-12);
    cr_assert(c.b_faster_above);
}

Test(crossover, touching_zero_is_the_crossover) {
    double x[] = {1, 2, 4}, ta[] = {1, 2, 3}, tb[] = {2, 2, 2};
    struct mb_crossover c;
    cr_assert_eq(mb_crossover_find(x, ta, tb, 3, &c), 0);
    cr_assert(c.found);
    cr_assert_eq(c.x, 2);
}

Test(crossover, no_crossover) {
    double x[] = {128, 256, 512}, ta[] = {3, 4, 5}, tb[] = {1, 2, 3};
    struct mb_crossover c;
    cr_assert_eq(mb_crossover_find(x, ta, tb, 3, &c), 0);
    cr_assert_not(c.found);
    cr_assert_eq(c.faster, 1, "B faster everywhere");
    cr_assert_eq(mb_crossover_find(x, tb, ta, 3, &c), 0);
    cr_assert_not(c.found);
    cr_assert_eq(c.faster, -1, "A faster everywhere");
    cr_assert_eq(mb_crossover_find(x, ta, ta, 3, &c), 0);
    cr_assert_not(c.found);
    cr_assert_eq(c.faster, 0, "equal everywhere");
    cr_assert_eq(mb_crossover_find(x, ta, tb, 1, &c), 0, "one point: no crossover, not an error");
    cr_assert_not(c.found);
}

Test(crossover, linear_interpolation_when_x_is_zero) {
    double x[] = {0, 10}, ta[] = {1, 4}, tb[] = {2, 2};
    struct mb_crossover c;
    cr_assert_eq(mb_crossover_find(x, ta, tb, 2, &c), 0);
    cr_assert(c.found);
    /* f = log(1/2) at 0, log(2) at 10: halfway */
    cr_assert_float_eq(c.x, 5.0, 1e-12);
}

Test(crossover, bad_input) {
    double x[] = {1, 2}, xd[] = {2, 1}, t[] = {1, 1}, tz[] = {0, 1}, tn[] = {NAN, 1};
    struct mb_crossover c;
    cr_assert_eq(mb_crossover_find(x, t, t, 0, &c), -1);
    cr_assert_eq(mb_crossover_find(xd, t, t, 2, &c), -1);
    cr_assert_eq(mb_crossover_find(x, tz, t, 2, &c), -1);
    cr_assert_eq(mb_crossover_find(x, t, tn, 2, &c), -1);
}

/* ---------------------------------------------------------------------------------------------- series pairs */

static struct mb_row pair_rows[40]; /* the test below adds 2 x 2 x 8 + 1 = 33 */
static const struct mb_row *pair_ptrs[40];
static int n_pair_rows;

static void pair_row(const char *kernel, int64_t n, int64_t threads, double median) {
    cr_assert_lt(n_pair_rows, (int)(sizeof pair_rows / sizeof pair_rows[0]));
    struct mb_row *r = &pair_rows[n_pair_rows];
    memset(r, 0, sizeof *r);
    r->point_id = n_pair_rows;
    snprintf(r->kernel, sizeof r->kernel, "%s", kernel);
    r->point.n = n;
    r->point.d = 64;
    r->point.threads = threads;
    r->time_median = median;
    r->verdict = MB_PASS;
    pair_ptrs[n_pair_rows++] = r;
}

Test(crossover, pairs_of_series_match_on_the_other_axes) {
    n_pair_rows = 0;
    for (int threads = 1; threads <= 2; threads++)
        for (int64_t n = 128; n <= 16384; n *= 2) {
            pair_row("quad", n, threads, 1e-9 * (double)n * (double)n / threads);
            pair_row("lin", n, threads, 1e-6 * (double)n); /* crossover at 1000 (1 thread), 2000 (2 threads) */
        }
    pair_row("lin", 1 << 20, 1, 1.0); /* an x the other kernel lacks: not part of the common range */
    struct mb_crossover_pair *pairs;
    int n_pairs;
    char err[256];
    cr_assert_eq(mb_crossover_pairs(pair_ptrs, n_pair_rows, MB_AXIS_n, "quad", "lin", &pairs, &n_pairs, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(n_pairs, 2);
    cr_assert_str_eq(pairs[0].key, "threads=1");
    cr_assert_str_eq(pairs[1].key, "threads=2");
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pairs[i].common, 8);
        cr_assert_eq(pairs[i].x_first, 128);
        cr_assert_eq(pairs[i].x_last, 16384);
        cr_assert_eq(pairs[i].status, 0);
        cr_assert(pairs[i].c.found && pairs[i].c.b_faster_above);
    }
    cr_assert_float_eq(pairs[0].c.x, 1000.0, 1e-6);
    cr_assert_float_eq(pairs[1].c.x, 2000.0, 1e-6);
    free(pairs);

    /* a kernel without rows: no pair, no error */
    cr_assert_eq(mb_crossover_pairs(pair_ptrs, n_pair_rows, MB_AXIS_n, "quad", "none", &pairs, &n_pairs, err, sizeof err), 0);
    cr_assert_eq(n_pairs, 0);
    free(pairs);
}
