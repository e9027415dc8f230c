/* Regression comparison of two results files (see compare.h). */
#include "analysis/compare.h"

#include "store/rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mb_compare_verdict_names[3] = {"same", "REGRESSION", "improvement"};

int mb_compare_samples(const double *a, int na, const double *b, int nb, const struct mb_compare_opts *o,
                       struct mb_compare_point *out) {
    if (na < 1 || nb < 1) return -1;
    out->median_a = mb_stats_median(a, na);
    out->median_b = mb_stats_median(b, nb);
    if (!(out->median_a > 0 && out->median_b > 0)) return -1;
    out->ratio = out->median_b / out->median_a;
    out->n_a = na;
    out->n_b = nb;
    if (mb_stats_mann_whitney(a, na, b, nb, &out->mw)) return -1;
    int significant = out->mw.p < o->alpha;
    out->verdict = MB_CMP_SAME;
    if (significant && out->ratio > 1 + o->threshold) out->verdict = MB_CMP_REGRESSION;
    else if (significant && out->ratio < 1 / (1 + o->threshold)) out->verdict = MB_CMP_IMPROVEMENT;
    return 0;
}

/* params text without the keys in `ignore` ("k1,k2"): the normalised text keeps its order */
static void params_matched(const char *params, const char *ignore, char *out, size_t len) {
    size_t used = 0;
    out[0] = '\0';
    for (const char *s = params; *s;) {
        size_t n = strcspn(s, ";"), key = strcspn(s, "=;");
        int skip = 0;
        for (const char *g = ignore ? ignore : ""; *g && !skip;) {
            g += strspn(g, ", ");
            size_t gl = strcspn(g, ", ");
            skip = gl && gl == key && !strncmp(g, s, key);
            g += gl;
        }
        if (!skip && used + n + 2 < len) {
            if (used) out[used++] = ';';
            memcpy(out + used, s, n);
            out[used += n] = '\0';
        }
        s += n;
        if (*s == ';') s++;
    }
}

static int same_point(const struct mb_row *x, const struct mb_row *y, const char *ignore) {
    char px[MB_PARAMS_LEN], py[MB_PARAMS_LEN];
    params_matched(x->point.params, ignore, px, sizeof px);
    params_matched(y->point.params, ignore, py, sizeof py);
    if (strcmp(x->kernel, y->kernel) || strcmp(px, py)) return 0;
    for (int a = 0; a < MB_AXIS_COUNT; a++)
        if (mb_point_get(&x->point, (enum mb_axis)a) != mb_point_get(&y->point, (enum mb_axis)a)) return 0;
    return 1;
}

/* Samples of a row, or its median alone when the file has none for it. */
static int row_samples(struct mb_results *r, const struct mb_row *row, double **s, int *n, char *err, size_t errlen) {
    if (mb_store_read_samples(r->store, row->point_id, s, n, err, errlen)) return -1;
    if (*n == 0) {
        free(*s);
        *s = malloc(sizeof **s);
        if (!*s) return mb_errorf(err, errlen, "out of memory");
        (*s)[0] = row->time_median;
        *n = 1;
    }
    return 0;
}

int mb_compare_files(const char *path_a, const char *path_b, const struct mb_compare_opts *o,
                     struct mb_compare_result *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->geomean = NAN;
    struct mb_results ra, rb;
    if (mb_results_load(path_a, &ra, err, errlen)) return -1;
    if (mb_results_load(path_b, &rb, err, errlen)) {
        mb_results_close(&ra);
        return -1;
    }
    out->points = calloc((size_t)(ra.count ? ra.count : 1), sizeof *out->points);
    char *used_b = calloc((size_t)(rb.count ? rb.count : 1), 1);
    double *ratios = calloc((size_t)(ra.count ? ra.count : 1), sizeof *ratios);
    int status = (!out->points || !used_b || !ratios) ? mb_errorf(err, errlen, "out of memory") : 0;
    /* a point measured several times in one file: the last row wins, as in plots */
    for (int64_t i = ra.count - 1; !status && i >= 0; i--) {
        const struct mb_row *a = &ra.rows[i];
        if (!mb_row_measured(a)) continue;
        int dup = 0;
        for (int64_t k = i + 1; k < ra.count && !dup; k++) dup = mb_row_measured(&ra.rows[k]) && same_point(a, &ra.rows[k], o->ignore_params);
        if (dup) continue;
        int64_t j = rb.count - 1;
        for (; j >= 0; j--)
            if (mb_row_measured(&rb.rows[j]) && same_point(a, &rb.rows[j], o->ignore_params)) break;
        if (j < 0) {
            out->only_a++;
            continue;
        }
        used_b[j] = 1;
        double *sa = NULL, *sb = NULL;
        int na = 0, nb = 0;
        if (row_samples(&ra, a, &sa, &na, err, errlen) || row_samples(&rb, &rb.rows[j], &sb, &nb, err, errlen)) {
            free(sa);
            free(sb);
            status = -1;
            break;
        }
        struct mb_compare_point *p = &out->points[out->count];
        memset(p, 0, sizeof *p);
        if (!mb_compare_samples(sa, na, sb, nb, o, p)) {
            snprintf(p->kernel, sizeof p->kernel, "%s", a->kernel);
            mb_point_format(&a->point, ~UINT64_C(0), p->point, sizeof p->point);
            if (a->point.params[0])
                snprintf(p->point + strlen(p->point), sizeof p->point - strlen(p->point), " %s", a->point.params);
            ratios[out->count++] = p->ratio;
            out->regressions += p->verdict == MB_CMP_REGRESSION;
            out->improvements += p->verdict == MB_CMP_IMPROVEMENT;
        }
        free(sa);
        free(sb);
    }
    for (int64_t j = 0; !status && j < rb.count; j++)
        if (!used_b[j] && mb_row_measured(&rb.rows[j])) out->only_b++;
    if (!status && out->count) out->geomean = mb_stats_geomean(ratios, out->count);
    /* report in file order */
    for (int i = 0; i < out->count / 2; i++) {
        struct mb_compare_point t = out->points[i];
        out->points[i] = out->points[out->count - 1 - i];
        out->points[out->count - 1 - i] = t;
    }
    free(used_b);
    free(ratios);
    mb_results_close(&ra);
    mb_results_close(&rb);
    if (status) mb_compare_free(out);
    return status;
}

void mb_compare_free(struct mb_compare_result *r) {
    free(r->points);
    r->points = NULL;
    r->count = 0;
}
