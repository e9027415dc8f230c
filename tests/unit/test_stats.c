/* Statistics on synthetic data with known answers: slopes, crossovers (with bootstrap intervals), ratios,
 * Mann-Whitney U, AIC model choice. Nothing here depends on timing noise: the noise is seeded. */
#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>

#include "analysis/compare.h"
#include "analysis/fit.h"
#include "analysis/stats.h"

#define NP 8
#define NS 7

/* y = c x^p with multiplicative lognormal noise (sigma) on NS samples per point; y = median. */
struct synth {
    double x[NP], y[NP], s[NP][NS];
    const double *sp[NP];
    int ns[NP];
};

static void synth_power(struct synth *c, double c0, double p, double sigma, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (int i = 0; i < NP; i++) {
        c->x[i] = 128 * pow(2, i);
        for (int j = 0; j < NS; j++) c->s[i][j] = c0 * pow(c->x[i], p) * exp(sigma * gsl_ran_gaussian(r, 1));
        c->sp[i] = c->s[i];
        c->ns[i] = NS;
        c->y[i] = mb_stats_median(c->s[i], NS);
    }
    gsl_rng_free(r);
}

static struct mb_curve curve_of(const struct synth *c) {
    return (struct mb_curve){.count = NP, .x = c->x, .y = c->y, .samples = c->sp, .ns = c->ns};
}

Test(stats, median_and_geomean) {
    double v[] = {5, 1, 3, 2, 4};
    cr_assert_float_eq(mb_stats_median(v, 5), 3, 1e-12);
    cr_assert_float_eq(mb_stats_median(v, 4), 2.5, 1e-12);
    double g[] = {1, 4, 16};
    cr_assert_float_eq(mb_stats_geomean(g, 3), 4, 1e-12);
    double bad[] = {1, -1};
    cr_assert(isnan(mb_stats_geomean(bad, 2)));
}

Test(stats, exact_slope_has_zero_width_interval) {
    struct synth c;
    synth_power(&c, 1e-9, 2, 0, 1);
    struct mb_curve cv = curve_of(&c);
    struct mb_interval s;
    cr_assert_eq(mb_stats_slope(&cv, 0, 200, 7, 0.95, &s), 0);
    cr_assert_float_eq(s.est, 2, 1e-9);
    cr_assert_float_eq(s.lo, 2, 1e-9);
    cr_assert_float_eq(s.hi, 2, 1e-9);
}

Test(stats, noisy_slope_interval_contains_truth) {
    for (unsigned long seed = 1; seed <= 5; seed++) {
        struct synth c;
        synth_power(&c, 3e-8, 1.5, 0.05, seed);
        struct mb_curve cv = curve_of(&c);
        struct mb_interval s;
        int from = mb_stats_fit_from(c.x, NP, "upper_half");
        cr_assert_eq(from, 4); /* 128..16384: upper half of the log range starts at 2048 */
        cr_assert_eq(mb_stats_slope(&cv, from, 1000, seed, 0.95, &s), 0);
        cr_assert(s.lo < 1.5 && 1.5 < s.hi, "seed %lu: [%g, %g]", seed, s.lo, s.hi);
        cr_assert(s.hi - s.lo < 0.3, "interval too wide: [%g, %g]", s.lo, s.hi);
        cr_assert(fabs(s.est - 1.5) < 0.1);
    }
}

Test(stats, fit_range_selection) {
    double x[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    cr_assert_eq(mb_stats_fit_from(x, 9, "all"), 0);
    cr_assert_eq(mb_stats_fit_from(x, 9, "upper_half"), 4);
    cr_assert_eq(mb_stats_fit_from(x, 9, "upper_third"), 6);
    cr_assert_eq(mb_stats_fit_from(x, 9, "last:4"), 5);
    cr_assert_eq(mb_stats_fit_from(x, 4, "upper_third"), 1); /* keeps 3 points */
    cr_assert_eq(mb_stats_fit_from(x, 9, "middle"), -1);
}

Test(stats, linfit_t_interval) {
    double x[] = {0, 1, 2, 3, 4}, y[] = {1, 3.1, 4.9, 7.05, 9.0};
    double a, r2;
    struct mb_interval b;
    cr_assert_eq(mb_stats_linfit(x, y, 5, 0.95, &a, &b, &r2), 0);
    cr_assert(fabs(b.est - 2) < 0.05);
    cr_assert(b.lo < 2 && b.hi > 2 && b.hi - b.lo < 0.3);
    cr_assert(r2 > 0.99);
}

Test(stats, known_crossover_bootstrap_contains_truth) {
    /* tA = 1e-9 n^2, tB = 1e-6 n: crossover at exactly n = 1000 */
    struct synth a, b;
    synth_power(&a, 1e-9, 2, 0.03, 11);
    synth_power(&b, 1e-6, 1, 0.03, 12);
    struct mb_curve ca = curve_of(&a), cb = curve_of(&b);
    struct mb_crossover pt;
    struct mb_interval x;
    double frac;
    cr_assert_eq(mb_stats_crossover(&ca, &cb, 1000, 3, 0.95, &pt, &x, &frac), 0);
    cr_assert(pt.found && pt.b_faster_above);
    cr_assert(x.lo < 1000 && 1000 < x.hi, "[%g, %g]", x.lo, x.hi);
    cr_assert(x.lo > 800 && x.hi < 1250, "[%g, %g]", x.lo, x.hi);
    cr_assert(frac > 0.99);
}

Test(stats, no_crossover_is_reported) {
    struct synth a, b;
    synth_power(&a, 1e-6, 2, 0.01, 1);
    synth_power(&b, 1e-6, 1, 0.01, 2);
    struct mb_curve ca = curve_of(&a), cb = curve_of(&b);
    struct mb_crossover pt;
    struct mb_interval x;
    double frac;
    cr_assert_eq(mb_stats_crossover(&ca, &cb, 200, 3, 0.95, &pt, &x, &frac), 0);
    cr_assert_not(pt.found);
    cr_assert_eq(pt.faster, 1); /* B faster everywhere */
    cr_assert(frac < 0.01);
}

Test(stats, ratio_of_medians) {
    double a[] = {2.0, 2.1, 1.9, 2.05, 1.95}, b[] = {1.0, 1.02, 0.98, 1.01, 0.99};
    struct mb_interval r;
    cr_assert_eq(mb_stats_ratio(a, NULL, 5, b, NULL, 5, 0, 1000, 1, 0.95, &r), 0);
    cr_assert_float_eq(r.est, 2.0, 1e-12);
    cr_assert(r.lo <= 2.0 && r.hi >= 2.0 && r.lo > 1.8 && r.hi < 2.2);
}

/* Rounds as strata: three rounds whose levels differ by 15% (the machine's drift between rounds, common to every
   point of a round), each round's points on an exact x^1 line with +-1% noise. The pooled medians mix the levels
   into each point; within rounds the slope is 1 and its interval narrow; one disturbed round does not move the
   median of the rounds' slopes. */
Test(stats, rounds_as_strata_cancel_level_shifts) {
    enum { P = 5, R = 3, K = 3 };
    const double level[R] = {1.0, 1.15, 1.07}, jitter[K] = {0.99, 1.0, 1.01};
    double x[P], y[P], samples[P][R * K];
    int rounds[P][R * K];
    const double *sp[P];
    const int *rp[P];
    int ns[P];
    for (int i = 0; i < P; i++) {
        x[i] = 1024.0 * (1 << i);
        for (int r = 0; r < R; r++)
            for (int k = 0; k < K; k++) {
                /* round 1's largest point a little slower: the rounds' slopes differ, 1 .. ~1.009 */
                const double extra = r == 1 && i == P - 1 ? 1.025 : 1.0;
                samples[i][r * K + k] = 1e-6 * x[i] * level[r] * jitter[(k + i + r) % K] * extra;
                rounds[i][r * K + k] = r;
            }
        sp[i] = samples[i];
        rp[i] = rounds[i];
        ns[i] = R * K;
        y[i] = mb_stats_median(samples[i], R * K);
    }
    struct mb_curve cv = {.count = P, .x = x, .y = y, .samples = sp, .ns = ns, .rounds = rp};
    struct mb_interval s;
    cr_assert_eq(mb_stats_slope(&cv, 0, 1000, 5, 0.95, &s), 0);
    cr_assert_eq(s.strata, 3);
    cr_assert(fabs(s.est - 1.0) < 0.005, "slope %g", s.est);
    cr_assert(s.lo > 0.99 && s.hi < 1.015 && s.lo <= s.est && s.est <= s.hi, "[%g, %g]", s.lo, s.hi);
    /* one round disturbed at one size (a neighbour's load: 5x slower there): the median of the rounds ignores it */
    for (int k = 0; k < K; k++) samples[1][2 * K + k] *= 5;
    cr_assert_eq(mb_stats_slope(&cv, 0, 1000, 5, 0.95, &s), 0);
    cr_assert(fabs(s.est - 1.0) < 0.01 && s.lo > 0.98 && s.hi < 1.02, "%g [%g, %g]", s.est, s.lo, s.hi);
    /* without the rounds the same samples are one pool per point */
    struct mb_curve pooled = cv;
    pooled.rounds = NULL;
    cr_assert_eq(mb_stats_slope(&pooled, 0, 1000, 5, 0.95, &s), 0);
    cr_assert_eq(s.strata, 0);
    /* a point missing a round: not stratified */
    ns[2] = K;
    cr_assert_eq(mb_stats_slope(&cv, 0, 1000, 5, 0.95, &s), 0);
    cr_assert_eq(s.strata, 0);
    /* ratio: a is 1.1 b within every round, the rounds' levels differ */
    double a[R * K], b[R * K];
    int ra[R * K], rb[R * K];
    for (int r = 0; r < R; r++)
        for (int k = 0; k < K; k++) {
            b[r * K + k] = level[r] * jitter[k];
            a[r * K + k] = 1.1 * level[r] * jitter[(k + 1) % K];
            ra[r * K + k] = rb[r * K + k] = r;
        }
    struct mb_interval q;
    cr_assert_eq(mb_stats_ratio(a, ra, R * K, b, rb, R * K, 0, 1000, 3, 0.95, &q), 0);
    cr_assert_float_eq(q.est, 1.1, 1e-12);
    cr_assert_eq(q.strata, 3);
    cr_assert(q.lo > 1.07 && q.hi < 1.13, "[%g, %g]", q.lo, q.hi);
}

Test(stats, mann_whitney_known_values) {
    /* separated samples: U = na nb, z from the normal approximation */
    double a[] = {10, 11, 12, 13, 14, 15, 16, 17}, b[] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct mb_mann_whitney mw;
    cr_assert_eq(mb_stats_mann_whitney(a, 8, b, 8, &mw), 0);
    cr_assert_float_eq(mw.u, 64, 1e-12);
    /* mu = 32, var = 8*8*17/12, z = (64 - 32 - 0.5)/sqrt(90.667) = 3.3082 */
    cr_assert_float_eq(mw.z, 31.5 / sqrt(64.0 * 17 / 12), 1e-9);
    cr_assert(mw.p < 0.001 && mw.p > 0.0008);
    /* identical samples: no evidence */
    cr_assert_eq(mb_stats_mann_whitney(b, 8, b, 8, &mw), 0);
    cr_assert_float_eq(mw.u, 32, 1e-12);
    cr_assert(mw.p > 0.99);
    /* ties: {1,2,2,3} vs {2,3,3,4}: U = 0 (1) + 0.5 + 0.5 (2, 2) + 1 + 0.5 + 0.5 (3) = 3 */
    double c[] = {1, 2, 2, 3}, d[] = {2, 3, 3, 4};
    cr_assert_eq(mb_stats_mann_whitney(c, 4, d, 4, &mw), 0);
    cr_assert_float_eq(mw.u, 3.0, 1e-12);
    cr_assert(mw.z < 0);
}

Test(stats, aic_chooses_quadratic_with_intercept) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    double n[12], t[12];
    for (int i = 0; i < 12; i++) {
        n[i] = 64 * pow(2, i / 1.5);
        t[i] = (2e-4 + 3e-9 * n[i] * n[i]) * (1 + 0.01 * gsl_ran_gaussian(r, 1));
    }
    gsl_rng_free(r);
    struct mb_fit_result f;
    char err[256];
    cr_assert_eq(mb_fit_complexity(n, NULL, t, 12, MB_FIT_AIC, &f, err, sizeof err), 0, "%s", err);
    const struct mb_fit_model *m = &f.models[f.best];
    cr_assert_eq(m->terms, 1u << MB_TERM_N2, "chose terms %#x", m->terms);
    cr_assert(fabs(m->c0 - 2e-4) / 2e-4 < 0.05, "intercept %g", m->c0);
    cr_assert(fabs(m->coef[MB_TERM_N2] - 3e-9) / 3e-9 < 0.05);
    cr_assert_eq(mb_fit_complexity(n, NULL, t, 12, MB_FIT_CV, &f, err, sizeof err), 0);
    cr_assert(f.models[0].terms & (1u << MB_TERM_N2));
}

Test(stats, aic_chooses_n_log_n) {
    /* AIC overfits now and then by design (a spurious term passes its 2-per-parameter penalty ~16% of the time):
       over 20 noise draws the true model must win most of the time and n log n must always be in the choice */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    int exact = 0;
    for (unsigned long seed = 1; seed <= 20; seed++) {
        gsl_rng_set(r, seed);
        double n[14], t[14];
        for (int i = 0; i < 14; i++) {
            n[i] = 16 * pow(2, i);
            t[i] = (1e-6 + 5e-9 * n[i] * log2(n[i])) * (1 + 0.002 * gsl_ran_gaussian(r, 1));
        }
        struct mb_fit_result f;
        char err[256];
        cr_assert_eq(mb_fit_complexity(n, NULL, t, 14, MB_FIT_AIC, &f, err, sizeof err), 0, "%s", err);
        cr_assert(f.models[0].terms & (1u << MB_TERM_NLOGN), "seed %lu chose %#x", seed, f.models[0].terms);
        cr_assert(fabs(f.models[0].coef[MB_TERM_NLOGN] - 5e-9) / 5e-9 < 0.05);
        exact += f.models[0].terms == 1u << MB_TERM_NLOGN;
    }
    gsl_rng_free(r);
    cr_assert_geq(exact, 15, "n log n alone chosen %d times out of 20", exact);
}

Test(stats, fit_rejects_bad_input) {
    double n[] = {1, 2, 3}, t[] = {1, 0, 2};
    struct mb_fit_result f;
    char err[256];
    cr_assert_eq(mb_fit_complexity(n, NULL, t, 3, MB_FIT_AIC, &f, err, sizeof err), -1);
    cr_assert(strstr(err, "time"));
}

/* ---------------------------------------------------------------- compare: regression detection */
static void lognormal_samples(double *s, int n, double median, double sigma, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (int i = 0; i < n; i++) s[i] = median * exp(sigma * gsl_ran_gaussian(r, 1));
    gsl_rng_free(r);
}

Test(stats, compare_flags_a_known_regression) {
    double a[10], b[10];
    lognormal_samples(a, 10, 1e-3, 0.02, 1);
    lognormal_samples(b, 10, 1.3e-3, 0.02, 2); /* 30% slower */
    struct mb_compare_opts o = {.threshold = 0.05, .alpha = 0.05};
    struct mb_compare_point p;
    cr_assert_eq(mb_compare_samples(a, 10, b, 10, &o, &p), 0);
    cr_assert_eq(p.verdict, MB_CMP_REGRESSION);
    cr_assert(fabs(p.ratio - 1.3) < 0.05, "ratio %g", p.ratio);
    cr_assert(p.mw.p < 0.001);
    cr_assert_eq(mb_compare_samples(b, 10, a, 10, &o, &p), 0); /* the other way round: an improvement */
    cr_assert_eq(p.verdict, MB_CMP_IMPROVEMENT);
}

Test(stats, compare_passes_a_rerun_of_the_same_build) {
    for (unsigned long seed = 1; seed <= 20; seed++) {
        double a[10], b[10];
        lognormal_samples(a, 10, 1e-3, 0.05, seed);
        lognormal_samples(b, 10, 1e-3, 0.05, seed + 100); /* same distribution, noisy */
        struct mb_compare_opts o = {.threshold = 0.05, .alpha = 0.05};
        struct mb_compare_point p;
        cr_assert_eq(mb_compare_samples(a, 10, b, 10, &o, &p), 0);
        cr_assert_neq(p.verdict, MB_CMP_REGRESSION, "seed %lu: ratio %g p %g", seed, p.ratio, p.mw.p);
    }
}

Test(stats, compare_small_significant_change_is_below_threshold) {
    double a[30], b[30];
    lognormal_samples(a, 30, 1e-3, 0.005, 3);
    lognormal_samples(b, 30, 1.02e-3, 0.005, 4); /* 2% slower, significant, under the 5% threshold */
    struct mb_compare_opts o = {.threshold = 0.05, .alpha = 0.05};
    struct mb_compare_point p;
    cr_assert_eq(mb_compare_samples(a, 30, b, 30, &o, &p), 0);
    cr_assert(p.mw.p < 0.05);
    cr_assert_eq(p.verdict, MB_CMP_SAME);
}
