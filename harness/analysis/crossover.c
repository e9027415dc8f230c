/* Crossover of two timing curves (see crossover.h). */
#include "analysis/crossover.h"

#include "store/rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sign(double v) { return (v > 0) - (v < 0); }

int mb_crossover_find(const double *x, const double *ta, const double *tb, int n, struct mb_crossover *out) {
    memset(out, 0, sizeof *out);
    if (n < 1) return -1;
    for (int i = 0; i < n; i++) {
        if (!(ta[i] > 0 && tb[i] > 0 && isfinite(ta[i]) && isfinite(tb[i]) && isfinite(x[i]))) return -1;
        if (i > 0 && !(x[i] > x[i - 1])) return -1;
    }
    /* f > 0: A is slower, B faster */
    int first = -1;
    for (int i = 0; i < n && first < 0; i++)
        if (sign(log(ta[i] / tb[i])) != 0) first = i;
    if (first < 0) return 0; /* equal everywhere */
    int s0 = sign(log(ta[first] / tb[first])), current = s0, last_from = -1, last_to = -1;
    for (int j = first + 1; j < n; j++) {
        int sj = sign(log(ta[j] / tb[j]));
        if (sj == 0 || sj == current) continue;
        out->crossings++;
        current = sj;
        last_to = j;
        last_from = j - 1;
    }
    if (last_to < 0) {
        out->faster = s0;
        return 0;
    }
    double fi = log(ta[last_from] / tb[last_from]), fj = log(ta[last_to] / tb[last_to]);
    const double xi = x[last_from], xj = x[last_to];
    out->found = 1;
    out->b_faster_above = current > 0;
    out->x_below = xi;
    out->x_above = xj;
    if (fi == 0) { /* touched zero at x[i] */
        out->x = xi;
    } else {
        double t = fi / (fi - fj);
        out->x = xi > 0 ? exp(log(xi) + t * (log(xj) - log(xi))) : xi + t * (xj - xi);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------- series pairs */

struct kernel_rows {
    const struct mb_row **rows;
    int64_t count;
    uint64_t vary; /* axes varying among them, x excluded */
    int params_vary;
};

static int select_kernel(const struct mb_row *const *rows, int64_t n, const char *kernel, int x_axis,
                         struct kernel_rows *out) {
    out->rows = malloc((size_t)(n ? n : 1) * sizeof *out->rows);
    out->count = 0;
    if (!out->rows) return -1;
    for (int64_t i = 0; i < n; i++)
        if (strcmp(rows[i]->kernel, kernel) == 0) out->rows[out->count++] = rows[i];
    out->vary = mb_rows_varying(out->rows, out->count, &out->params_vary) & ~(UINT64_C(1) << x_axis);
    return 0;
}

/* Do series a (of kernel A) and b (of kernel B) sit at the same point of the axes both kernels vary? */
static int series_match(const struct mb_series *a, const struct mb_series *b, const struct kernel_rows *ka,
                        const struct kernel_rows *kb) {
    uint64_t both = ka->vary & kb->vary;
    for (int ax = 0; ax < MB_AXIS_COUNT; ax++)
        if ((both & (UINT64_C(1) << ax)) && mb_point_get(&a->rows[0]->point, (enum mb_axis)ax) !=
                                                mb_point_get(&b->rows[0]->point, (enum mb_axis)ax))
            return 0;
    return !(ka->params_vary && kb->params_vary) || strcmp(a->rows[0]->point.params, b->rows[0]->point.params) == 0;
}

/* The crossover of one matched pair of series. */
static int pair_crossover(const struct mb_series *sa, const struct mb_series *sb, const struct kernel_rows *ka,
                          const struct kernel_rows *kb, int x_axis, struct mb_crossover_pair *out) {
    memset(out, 0, sizeof *out);
    int n = 0, i = 0, j = 0;
    int cap = sa->count < sb->count ? sa->count : sb->count;
    double *x = malloc((size_t)(cap ? cap : 1) * 3 * sizeof *x), *ta = x + cap, *tb = x + 2 * cap;
    if (!x) return -1;
    while (i < sa->count && j < sb->count) { /* both sorted by x: merge on common x */
        double xa = mb_row_x(sa->rows[i], x_axis), xb = mb_row_x(sb->rows[j], x_axis);
        if (xa < xb) i++;
        else if (xb < xa) j++;
        else {
            x[n] = xa;
            ta[n] = sa->rows[i++]->time_median;
            tb[n++] = sb->rows[j++]->time_median;
        }
    }
    char key_b[200];
    mb_series_key(&sa->rows[0]->point, ka->vary, ka->params_vary, out->key, sizeof out->key);
    mb_series_key(&sb->rows[0]->point, kb->vary & ~ka->vary, kb->params_vary && !ka->params_vary, key_b,
                  sizeof key_b);
    if (key_b[0])
        snprintf(out->key + strlen(out->key), sizeof out->key - strlen(out->key), "%s%s", out->key[0] ? " " : "", key_b);
    out->common = n;
    if (n > 0) {
        out->x_first = x[0];
        out->x_last = x[n - 1];
        out->status = mb_crossover_find(x, ta, tb, n, &out->c);
    }
    free(x);
    return 0;
}

int mb_crossover_pairs(const struct mb_row *const *rows, int64_t n, int x_axis, const char *a, const char *b,
                       struct mb_crossover_pair **pairs, int *n_pairs, char *err, size_t errlen) {
    struct kernel_rows ka = {0}, kb = {0};
    struct mb_series_set sa = {0}, sb = {0};
    int rc = 0, cap = 0;
    *pairs = NULL;
    *n_pairs = 0;
    if (select_kernel(rows, n, a, x_axis, &ka) || select_kernel(rows, n, b, x_axis, &kb)) {
        rc = mb_errorf(err, errlen, "out of memory");
    } else if (mb_series_group(ka.rows, ka.count, x_axis, ka.vary, ka.params_vary, &sa, err, errlen) ||
               mb_series_group(kb.rows, kb.count, x_axis, kb.vary, kb.params_vary, &sb, err, errlen)) {
        rc = -1;
    } else {
        for (int i = 0; i < sa.count && !rc; i++)
            for (int j = 0; j < sb.count && !rc; j++) {
                if (!series_match(&sa.series[i], &sb.series[j], &ka, &kb)) continue;
                if (*n_pairs == cap) {
                    cap = cap ? 2 * cap : 8;
                    struct mb_crossover_pair *grown = realloc(*pairs, (size_t)cap * sizeof *grown);
                    if (!grown) {
                        rc = mb_errorf(err, errlen, "out of memory");
                        break;
                    }
                    *pairs = grown;
                }
                if (pair_crossover(&sa.series[i], &sb.series[j], &ka, &kb, x_axis, &(*pairs)[*n_pairs]))
                    rc = mb_errorf(err, errlen, "out of memory");
                else (*n_pairs)++;
            }
    }
    if (rc) {
        free(*pairs);
        *pairs = NULL;
        *n_pairs = 0;
    }
    mb_series_free(&sa);
    mb_series_free(&sb);
    free(ka.rows);
    free(kb.rows);
    return rc;
}
