/* Statistics for claims, fits and comparisons: log-log slopes, bootstrap intervals, Mann-Whitney U.
 *
 * The numerics are GSL's (gsl_fit_linear, gsl_stats_*, gsl_cdf_*, gsl_rng); this file is glue that turns timing
 * curves (a median per point plus the raw per-repetition samples) into estimates with intervals:
 *   slope       exponent p of y ~ c x^p: OLS on (log x, log y); interval from a bootstrap over the samples of each
 *               point (medians recomputed per replicate), or the t-interval of the OLS slope without samples;
 *   crossover   mb_crossover_find on the medians, and a percentile bootstrap over the samples of both curves;
 *   ratio       median(a) / median(b) with a percentile bootstrap interval;
 *   rounds      slopes and ratios within each interleaved round when the samples carry their rounds (below);
 *   Mann-Whitney U with the normal approximation and the tie correction (two-sided p).
 * Every function returns 0, or -1 when its input cannot give an answer (too few points, non-positive values).
 */
#ifndef MB_STATS_H
#define MB_STATS_H

#include <stdint.h>

#include "analysis/crossover.h"

#define MB_BOOTSTRAP_DEFAULT 1000 /* replicates */

struct mb_interval {
    double est;    /* point estimate */
    double lo, hi; /* two-sided interval at `level` */
    double level;  /* e.g. 0.95 */
    int strata;    /* slopes and ratios: the interleaved rounds the estimate was taken within (below), 0: pooled */
};

/* One curve: x strictly increasing, y[i] the value (median) at x[i], optional samples[i][0..ns[i]) of which y[i]
   is the median (NULL or ns[i] == 0: no samples). */
struct mb_curve {
    int count;
    const double *x;
    const double *y;
    const double *const *samples;
    const int *ns;
    int mean;  /* 1: y[i] is the mean of the samples (the bootstrap redraws means), 0: the median */
    const int *const *rounds; /* optional: rounds[i][j] = the interleaved round samples[i][j] was measured in */
};

/* Interleaved rounds as strata. A sweep in R rounds measures every point once per round; the machine's speed drifts
   between rounds (seen: one round 15% slower at every size of a slope), which a median of the pooled samples turns
   into bimodal samples and heavy-tailed bootstrap intervals, and a neighbour's load can disturb one round (seen: one
   round of a decode sweep 5x slower at one size). When every point of [from, count) has samples of the same R >= 2
   rounds, a slope is fitted within each round and a ratio taken within each round, and the estimate is the median
   over the rounds (R = 3: one disturbed round cannot move it); the bootstrap resamples the samples within each
   (point, round) cell, the rounds kept; the result's `strata` says R (0: the pooled samples were used). */

double mb_stats_median(const double *v, int n);      /* copies; NAN when n == 0 */
double mb_stats_geomean(const double *v, int n);     /* exp(mean(log v)); NAN unless every v > 0 */

/* OLS y = a + b x with the two-sided t-interval of b at level; r2 may be NULL. Needs n >= 3 for an interval
   (n == 2: lo = hi = b). */
int mb_stats_linfit(const double *x, const double *y, int n, double level, double *a, struct mb_interval *b,
                    double *r2);

/* Index of the first point of the fit range: "all" (0), "upper_half" (x >= the geometric middle of the range),
   "upper_third", or "last:K" (the last K points). Keeps at least 3 points when the curve has them. -1: unknown. */
int mb_stats_fit_from(const double *x, int n, const char *range);

/* Exponent of c x^p over points [from, count): bootstrap over samples when every point has >= 2, else OLS t. */
int mb_stats_slope(const struct mb_curve *c, int from, int replicates, uint64_t seed, double level,
                   struct mb_interval *out);

/* Crossover of a and b (same x): the point estimate from the medians (out->found etc.), its interval from a
   percentile bootstrap (replicates without a crossover are counted in *found_fraction and left out). */
int mb_stats_crossover(const struct mb_curve *a, const struct mb_curve *b, int replicates, uint64_t seed,
                       double level, struct mb_crossover *point, struct mb_interval *x, double *found_fraction);

/* median(a) / median(b) (mean(a) / mean(b) when mean) with a percentile bootstrap interval; with the rounds of the
   samples (ra, rb; NULL: none) and the same R >= 2 rounds in both, the median of the per-round ratios (see
   the strata above mb_stats_slope). */
int mb_stats_ratio(const double *a, const int *ra, int na, const double *b, const int *rb, int nb, int mean,
                   int replicates, uint64_t seed, double level, struct mb_interval *out);

struct mb_mann_whitney {
    double u;  /* U of sample a: pairs (a_i, b_j) with a_i > b_j, ties counted 1/2 */
    double z;  /* normal approximation with continuity and tie correction */
    double p;  /* two-sided */
};
int mb_stats_mann_whitney(const double *a, int na, const double *b, int nb, struct mb_mann_whitney *out);

#endif
