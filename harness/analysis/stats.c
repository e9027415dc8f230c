/* Statistics glue over GSL (see stats.h). */
#include "analysis/stats.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double mb_stats_median(const double *v, int n) {
    if (n <= 0) return NAN;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return NAN;
    memcpy(c, v, (size_t)n * sizeof *c);
    gsl_sort(c, 1, (size_t)n);
    double m = gsl_stats_median_from_sorted_data(c, 1, (size_t)n);
    free(c);
    return m;
}

double mb_stats_geomean(const double *v, int n) {
    if (n <= 0) return NAN;
    double s = 0;
    for (int i = 0; i < n; i++) {
        if (!(v[i] > 0)) return NAN;
        s += log(v[i]);
    }
    return exp(s / n);
}

int mb_stats_linfit(const double *x, const double *y, int n, double level, double *a, struct mb_interval *b,
                    double *r2) {
    if (n < 2) return -1;
    double c0, c1, cov00, cov01, cov11, sumsq;
    if (gsl_fit_linear(x, 1, y, 1, (size_t)n, &c0, &c1, &cov00, &cov01, &cov11, &sumsq)) return -1;
    if (!isfinite(c1)) return -1;
    if (a) *a = c0;
    b->est = c1;
    b->level = level;
    if (n >= 3) {
        double t = gsl_cdf_tdist_Pinv(0.5 + level / 2, n - 2);
        double se = sqrt(cov11);
        b->lo = c1 - t * se;
        b->hi = c1 + t * se;
    } else {
        b->lo = b->hi = c1;
    }
    if (r2) {
        double tss = gsl_stats_tss(y, 1, (size_t)n);
        *r2 = tss > 0 ? 1 - sumsq / tss : 1;
    }
    return 0;
}

int mb_stats_fit_from(const double *x, int n, const char *range) {
    if (n <= 0) return 0;
    int from;
    if (!range || !*range || !strcmp(range, "all")) return 0;
    if (!strncmp(range, "last:", 5)) {
        int k = atoi(range + 5);
        if (k < 2) return -1;
        from = n - k;
        return from < 0 ? 0 : from;
    }
    double frac;
    if (!strcmp(range, "upper_half")) frac = 0.5;
    else if (!strcmp(range, "upper_third")) frac = 2.0 / 3;
    else return -1;
    int positive = x[0] > 0;
    double lo = positive ? log(x[0]) : x[0], hi = positive ? log(x[n - 1]) : x[n - 1];
    double cut = lo + frac * (hi - lo);
    from = n - 1;
    while (from > 0 && (positive ? log(x[from - 1]) : x[from - 1]) >= cut - 1e-9) from--;
    if (n - from < 3) from = n >= 3 ? n - 3 : 0;
    return from;
}

static gsl_rng *make_rng(uint64_t seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (r) gsl_rng_set(r, (unsigned long)seed);
    return r;
}

/* Median (or mean when mean != 0) of a resample (with replacement) of s[0..n). buf: room for n. */
static double resampled_stat(gsl_rng *r, const double *s, int n, double *buf, int mean) {
    for (int i = 0; i < n; i++) buf[i] = s[gsl_rng_uniform_int(r, (unsigned long)n)];
    if (mean) return gsl_stats_mean(buf, 1, (size_t)n);
    gsl_sort(buf, 1, (size_t)n);
    return gsl_stats_median_from_sorted_data(buf, 1, (size_t)n);
}

static int max_samples(const struct mb_curve *c) {
    int m = 0;
    for (int i = 0; i < c->count; i++)
        if (c->ns && c->ns[i] > m) m = c->ns[i];
    return m;
}

static int has_samples(const struct mb_curve *c, int from) {
    if (!c->samples || !c->ns) return 0;
    for (int i = from; i < c->count; i++)
        if (c->ns[i] < 2 || !c->samples[i]) return 0;
    return 1;
}

static void percentile_interval(double *v, int n, double level, struct mb_interval *out) {
    gsl_sort(v, 1, (size_t)n);
    out->lo = gsl_stats_quantile_from_sorted_data(v, 1, (size_t)n, (1 - level) / 2);
    out->hi = gsl_stats_quantile_from_sorted_data(v, 1, (size_t)n, (1 + level) / 2);
    out->level = level;
}

/* One bootstrap replicate: the statistic of a resample drawn with r into *value, 0; or -1 when that resample has
   none (a fit that fails, no crossover found): it is dropped. */
typedef int (*replicate_fn)(void *ctx, gsl_rng *r, double *value);

/* The percentile bootstrap of the slope, crossover and ratio: `replicates` draws of fn from one mt19937 seeded with
   seed. Returns how many succeeded, and when at least min_good did, puts the level interval of those into out (lo,
   hi, level); -1 when out of memory. */
static int bootstrap(replicate_fn fn, void *ctx, int replicates, uint64_t seed, int min_good, double level,
                     struct mb_interval *out) {
    gsl_rng *r = make_rng(seed);
    double *reps = malloc((size_t)(replicates > 0 ? replicates : 1) * sizeof *reps);
    int good = r && reps ? 0 : -1;
    for (int b = 0; good >= 0 && b < replicates; b++)
        if (!fn(ctx, r, &reps[good])) good++;
    if (good >= min_good) percentile_interval(reps, good, level, out);
    gsl_rng_free(r);
    free(reps);
    return good;
}

/* ---- interleaved rounds as strata (stats.h, above mb_stats_slope) */
#define MAX_ROUNDS 64

/* The rounds every one of `points` sample sets has (ids in the first set's order), R >= 2, else 0. */
static int common_rounds(int points, const double *const *s, const int *const *rd, const int *ns, int *ids) {
    if (!rd || points < 1) return 0;
    for (int i = 0; i < points; i++)
        if (!rd[i] || !s[i] || ns[i] < 1) return 0;
    int R = 0;
    for (int j = 0; j < ns[0]; j++) {
        int seen = 0;
        for (int k = 0; k < R; k++) seen |= ids[k] == rd[0][j];
        if (seen) continue;
        if (R == MAX_ROUNDS) return 0;
        ids[R++] = rd[0][j];
    }
    for (int k = 0; k < R; k++)
        for (int i = 1; i < points; i++) {
            int found = 0;
            for (int j = 0; j < ns[i] && !found; j++) found = rd[i][j] == ids[k];
            if (!found) return 0;
        }
    return R >= 2 ? R : 0;
}

/* Samples split into (point, round) cells: cell (i, r) is v[off[i R + r] .. off[i R + r + 1]). */
struct cells {
    int R;
    double *v;
    int *off;
};

static int cells_make(int points, const double *const *s, const int *const *rd, const int *ns, const int *ids, int R,
                      struct cells *c) {
    int total = 0;
    for (int i = 0; i < points; i++) total += ns[i];
    c->R = R;
    c->v = malloc((size_t)(total ? total : 1) * sizeof *c->v);
    c->off = malloc((size_t)(points * R + 1) * sizeof *c->off);
    if (!c->v || !c->off) return free(c->v), free(c->off), -1;
    int used = 0;
    for (int i = 0; i < points; i++)
        for (int r = 0; r < R; r++) {
            c->off[i * R + r] = used;
            for (int j = 0; j < ns[i]; j++)
                if (rd[i][j] == ids[r]) c->v[used++] = s[i][j];
        }
    c->off[points * R] = used;
    return 0;
}

static void cells_free(struct cells *c) {
    free(c->v);
    free(c->off);
}

/* The statistic (median, or mean) of cell (i, r), of its samples or of a resample of them (rng != NULL). */
static double cell_stat(const struct cells *c, int i, int r, gsl_rng *rng, double *buf, int mean) {
    const int a = c->off[i * c->R + r], n = c->off[i * c->R + r + 1] - a;
    if (rng) return resampled_stat(rng, c->v + a, n, buf, mean);
    return mean ? gsl_stats_mean(c->v + a, 1, (size_t)n) : mb_stats_median(c->v + a, n);
}

/* Median over the rounds of the log-log slope within each round, of the cells' samples or (rng) of a resample of
   each cell. -1 when a value is not positive or a fit fails. */
static int rounds_slope(const struct cells *c, const double *lx, int m, gsl_rng *rng, double *buf, double *ly,
                        int mean, double *slope) {
    double per_round[MAX_ROUNDS];
    for (int r = 0; r < c->R; r++) {
        for (int i = 0; i < m; i++) {
            const double v = cell_stat(c, i, r, rng, buf, mean);
            if (!(v > 0)) return -1;
            ly[i] = log(v);
        }
        struct mb_interval fit;
        if (mb_stats_linfit(lx, ly, m, 0.95, NULL, &fit, NULL)) return -1;
        per_round[r] = fit.est;
    }
    *slope = mb_stats_median(per_round, c->R);
    return 0;
}

/* Median over the rounds of stat(a) / stat(b) within each round (cells: point 0 = a, point 1 = b). */
static int rounds_ratio(const struct cells *c, gsl_rng *rng, double *buf, int mean, double *ratio) {
    double per_round[MAX_ROUNDS];
    for (int r = 0; r < c->R; r++) {
        const double a = cell_stat(c, 0, r, rng, buf, mean), b = cell_stat(c, 1, r, rng, buf, mean);
        if (!(a > 0 && b > 0)) return -1;
        per_round[r] = a / b;
    }
    *ratio = mb_stats_median(per_round, c->R);
    return 0;
}

/* A slope's replicates: within rounds (cl) or pooled (c, from); lx fixed, ly and buf scratch. */
struct slope_ctx {
    const struct mb_curve *c;
    int from, m;
    const struct cells *cl;
    const double *lx;
    double *ly, *buf;
    double level;
};

static int slope_in_rounds(void *ctx, gsl_rng *r, double *value) {
    struct slope_ctx *k = ctx;
    return rounds_slope(k->cl, k->lx, k->m, r, k->buf, k->ly, k->c->mean, value);
}

static int slope_pooled(void *ctx, gsl_rng *r, double *value) {
    struct slope_ctx *k = ctx;
    int ok = 1;
    for (int i = 0; i < k->m && ok; i++) {
        double med = resampled_stat(r, k->c->samples[k->from + i], k->c->ns[k->from + i], k->buf, k->c->mean);
        if (med > 0) k->ly[i] = log(med);
        else ok = 0;
    }
    struct mb_interval bi;
    if (!ok || mb_stats_linfit(k->lx, k->ly, k->m, k->level, NULL, &bi, NULL)) return -1;
    *value = bi.est;
    return 0;
}

int mb_stats_slope(const struct mb_curve *c, int from, int replicates, uint64_t seed, double level,
                   struct mb_interval *out) {
    int m = c->count - from;
    if (m < 2) return -1;
    double *lx = malloc((size_t)m * sizeof *lx), *ly = malloc((size_t)m * sizeof *ly);
    if (!lx || !ly) return free(lx), free(ly), -1;
    int status = 0;
    for (int i = 0; i < m; i++) {
        if (!(c->x[from + i] > 0 && c->y[from + i] > 0)) status = -1;
        else {
            lx[i] = log(c->x[from + i]);
            ly[i] = log(c->y[from + i]);
        }
    }
    if (!status) status = mb_stats_linfit(lx, ly, m, level, NULL, out, NULL);
    out->strata = 0;
    int ids[MAX_ROUNDS];
    const int bootstrapped = !status && has_samples(c, from) && replicates >= 20;
    const int R = bootstrapped && c->rounds ? common_rounds(m, c->samples + from, c->rounds + from, c->ns + from, ids)
                                            : 0;
    struct cells cl = {0};
    struct slope_ctx k = {c, from, m, &cl, lx, ly, NULL, level};
    if (bootstrapped) {
        k.buf = malloc((size_t)max_samples(c) * sizeof *k.buf);
        if (!k.buf) status = -1;
    }
    if (!status && R) { /* within rounds (stats.h) */
        if (cells_make(m, c->samples + from, c->rounds + from, c->ns + from, ids, R, &cl)) {
            status = -1;
        } else {
            if (rounds_slope(&cl, lx, m, NULL, k.buf, ly, c->mean, &out->est) ||
                bootstrap(slope_in_rounds, &k, replicates, seed, replicates / 2, level, out) < replicates / 2)
                status = -1;
            else out->strata = R;
            cells_free(&cl);
        }
    } else if (!status && bootstrapped &&
               bootstrap(slope_pooled, &k, replicates, seed, replicates / 2, level, out) < replicates / 2) {
        status = -1;
    }
    free(k.buf);
    free(lx);
    free(ly);
    return status;
}

/* A crossover's replicates: each curve's points resampled, the crossing of the resampled curves. */
struct crossover_ctx {
    const struct mb_curve *a, *b;
    double *ta, *tb, *buf;
};

static int crossover_resampled(void *ctx, gsl_rng *r, double *value) {
    struct crossover_ctx *k = ctx;
    const int n = k->a->count;
    for (int i = 0; i < n; i++) {
        k->ta[i] = resampled_stat(r, k->a->samples[i], k->a->ns[i], k->buf, k->a->mean);
        k->tb[i] = resampled_stat(r, k->b->samples[i], k->b->ns[i], k->buf, k->b->mean);
    }
    struct mb_crossover c;
    if (mb_crossover_find(k->a->x, k->ta, k->tb, n, &c) || !c.found) return -1;
    *value = c.x;
    return 0;
}

int mb_stats_crossover(const struct mb_curve *a, const struct mb_curve *b, int replicates, uint64_t seed,
                       double level, struct mb_crossover *point, struct mb_interval *x, double *found_fraction) {
    int n = a->count;
    if (n != b->count || n < 2) return -1;
    for (int i = 0; i < n; i++)
        if (a->x[i] != b->x[i]) return -1;
    if (mb_crossover_find(a->x, a->y, b->y, n, point)) return -1;
    x->est = point->found ? point->x : NAN;
    x->lo = x->hi = x->est;
    x->level = level;
    if (found_fraction) *found_fraction = point->found;
    if (!has_samples(a, 0) || !has_samples(b, 0) || replicates < 20) return 0;
    int ms = max_samples(a) > max_samples(b) ? max_samples(a) : max_samples(b);
    struct crossover_ctx k = {a, b, malloc((size_t)n * sizeof(double)), malloc((size_t)n * sizeof(double)),
                              malloc((size_t)ms * sizeof(double))};
    const int good = !k.ta || !k.tb || !k.buf ? -1 : bootstrap(crossover_resampled, &k, replicates, seed, 2, level, x);
    if (good >= 0 && found_fraction) *found_fraction = (double)good / replicates;
    free(k.ta);
    free(k.tb);
    free(k.buf);
    return good < 0 ? -1 : 0;
}

/* A ratio's replicates: within rounds (cl) or pooled (a over b, each resampled). */
struct ratio_ctx {
    const struct cells *cl;
    const double *a, *b;
    int na, nb, mean;
    double *buf;
};

static int ratio_in_rounds(void *ctx, gsl_rng *r, double *value) {
    struct ratio_ctx *k = ctx;
    return rounds_ratio(k->cl, r, k->buf, k->mean, value);
}

static int ratio_pooled(void *ctx, gsl_rng *r, double *value) {
    struct ratio_ctx *k = ctx;
    const double ma = resampled_stat(r, k->a, k->na, k->buf, k->mean);
    *value = ma / resampled_stat(r, k->b, k->nb, k->buf, k->mean);
    return 0;
}

int mb_stats_ratio(const double *a, const int *ra, int na, const double *b, const int *rb, int nb, int mean,
                   int replicates, uint64_t seed, double level, struct mb_interval *out) {
    if (na < 1 || nb < 1) return -1;
    const double *const sets[2] = {a, b};
    const int *const set_rounds[2] = {ra, rb}, counts[2] = {na, nb};
    int ids[MAX_ROUNDS];
    const int R = ra && rb ? common_rounds(2, sets, set_rounds, counts, ids) : 0;
    struct cells cl = {0};
    struct ratio_ctx k = {&cl, a, b, na, nb, mean, NULL};
    int status = 0;
    if (R) { /* within rounds (stats.h) */
        if (cells_make(2, sets, set_rounds, counts, ids, R, &cl)) return -1;
        k.buf = malloc((size_t)(na > nb ? na : nb) * sizeof *k.buf);
        double q;
        status = !k.buf || rounds_ratio(&cl, NULL, k.buf, mean, &q) ? -1 : 0;
        if (!status) *out = (struct mb_interval){.est = q, .lo = q, .hi = q, .level = level, .strata = R};
        if (!status && replicates >= 20 &&
            bootstrap(ratio_in_rounds, &k, replicates, seed, replicates / 2, level, out) < replicates / 2)
            status = -1;
        cells_free(&cl);
        free(k.buf);
        return status;
    }
    double mb = mean ? gsl_stats_mean(b, 1, (size_t)nb) : mb_stats_median(b, nb);
    if (!(mb > 0)) return -1;
    out->est = (mean ? gsl_stats_mean(a, 1, (size_t)na) : mb_stats_median(a, na)) / mb;
    out->lo = out->hi = out->est;
    out->level = level;
    out->strata = 0;
    if (na < 2 || nb < 2 || replicates < 20) return 0;
    k.buf = malloc((size_t)(na > nb ? na : nb) * sizeof *k.buf);
    status = !k.buf || bootstrap(ratio_pooled, &k, replicates, seed, replicates, level, out) < replicates ? -1 : 0;
    free(k.buf);
    return status;
}

int mb_stats_mann_whitney(const double *a, int na, const double *b, int nb, struct mb_mann_whitney *out) {
    if (na < 1 || nb < 1) return -1;
    int n = na + nb;
    double *all = malloc((size_t)n * sizeof *all);
    size_t *order = malloc((size_t)n * sizeof *order);
    if (!all || !order) return free(all), free(order), -1;
    memcpy(all, a, (size_t)na * sizeof *all);
    memcpy(all + na, b, (size_t)nb * sizeof *all);
    gsl_sort_index(order, all, 1, (size_t)n);
    /* ranks with ties averaged; tie term sum(t^3 - t) */
    double rank_sum_a = 0, ties = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && all[order[j + 1]] == all[order[i]]) j++;
        double avg = (i + j) / 2.0 + 1, t = j - i + 1;
        ties += t * t * t - t;
        for (int k = i; k <= j; k++)
            if (order[k] < (size_t)na) rank_sum_a += avg;
        i = j + 1;
    }
    free(all);
    free(order);
    out->u = rank_sum_a - na * (na + 1) / 2.0;
    double mu = na * (double)nb / 2;
    double var = na * (double)nb / 12 * ((n + 1) - ties / ((double)n * (n - 1)));
    if (var <= 0) {
        out->z = 0;
        out->p = 1;
        return 0;
    }
    double diff = out->u - mu;
    double cc = diff > 0 ? -0.5 : diff < 0 ? 0.5 : 0; /* continuity correction */
    out->z = (diff + cc) / sqrt(var);
    out->p = 2 * gsl_cdf_ugaussian_P(-fabs(out->z));
    if (out->p > 1) out->p = 1;
    return 0;
}
