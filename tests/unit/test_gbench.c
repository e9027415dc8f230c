/* The Google Benchmark shim: repetitions, samples and aggregates come back consistent (no wall-clock asserts). */
#include <criterion/criterion.h>
#include <math.h>

#include "run/gbench.h"

static void count_calls(void *ctx) {
    volatile double x = 0;
    for (int i = 0; i < 2000; i++) x += i * 0.5;
    (*(long *)ctx)++;
}

Test(gbench, repetitions_samples_and_aggregates) {
    long calls = 0;
    double samples[4];
    struct mb_timing t;
    char err[128];
    cr_assert_eq(mb_gbench_measure("shim_test", count_calls, &calls, 0.01, 4, samples, &t, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(t.repetitions, 4);
    cr_assert_geq(t.iterations, 1);
    cr_assert_geq(calls, 4 * t.iterations, "the body ran %ld times for 4 x %lld iterations", calls,
                  (long long)t.iterations);
    double sum = 0, lo = INFINITY, hi = 0;
    for (int i = 0; i < 4; i++) {
        cr_assert_gt(samples[i], 0);
        sum += samples[i];
        lo = fmin(lo, samples[i]);
        hi = fmax(hi, samples[i]);
    }
    cr_assert_float_eq(t.mean, sum / 4, 1e-9 * t.mean + 1e-15);
    cr_assert_float_eq(t.min, lo, 0);
    cr_assert_float_eq(t.max, hi, 0);
    cr_assert(t.min <= t.median && t.median <= t.max);
    cr_assert_float_eq(t.cv, t.stddev / t.mean, 1e-6);
}

Test(gbench, one_repetition_has_no_spread) {
    long calls = 0;
    double sample;
    struct mb_timing t;
    char err[128];
    cr_assert_eq(mb_gbench_measure("shim_once", count_calls, &calls, 0.001, 1, &sample, &t, err, sizeof err), 0);
    cr_assert_eq(t.repetitions, 1);
    cr_assert_float_eq(t.median, sample, 0);
    cr_assert_float_eq(t.stddev, 0, 0);
}

Test(gbench, bad_arguments) {
    long calls = 0;
    double sample;
    struct mb_timing t;
    char err[128];
    cr_assert_eq(mb_gbench_measure("bad", count_calls, &calls, 0, 1, &sample, &t, err, sizeof err), -1);
    cr_assert_eq(mb_gbench_measure("bad", count_calls, &calls, 0.01, 0, &sample, &t, err, sizeof err), -1);
    cr_assert_eq(calls, 0);
}
