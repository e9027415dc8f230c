/* Crossover of two timing curves on synthetic data with known answers. */
#include <criterion/criterion.h>
#include <math.h>

#include "analysis/crossover.h"

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
