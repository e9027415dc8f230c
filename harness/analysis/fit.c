/* Complexity fits by weighted least squares and AICc / cross-validation (see fit.h). */
#include "analysis/fit.h"

#include "core/mechbench.h"

#include <gsl/gsl_multifit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const mb_fit_term_names[MB_TERM_COUNT] = {"n", "n log n", "n^2", "n r", "r"};

static double term_value(int t, double n, double r) {
    switch (t) {
    case MB_TERM_N: return n;
    case MB_TERM_NLOGN: return n > 0 ? n * log2(n) : 0;
    case MB_TERM_N2: return n * n;
    case MB_TERM_NR: return n * r;
    case MB_TERM_R: return r;
    }
    return 0;
}

double mb_fit_eval(const struct mb_fit_model *m, double n, double r) {
    double v = m->c0;
    for (int t = 0; t < MB_TERM_COUNT; t++)
        if (m->terms & (1u << t)) v += m->coef[t] * term_value(t, n, r);
    return v;
}

/* Weighted LS of the model `terms` on the points except `skip` (-1: none). Fills c0/coef and the weighted RSS. */
static int fit_terms(const double *n, const double *r, const double *t, int count, unsigned terms, int skip,
                     struct mb_fit_model *m) {
    int k = 1, cols[MB_TERM_COUNT];
    for (int j = 0; j < MB_TERM_COUNT; j++)
        if (terms & (1u << j)) cols[k++ - 1] = j;
    int rows = count - (skip >= 0);
    if (rows < k) return -1;
    gsl_matrix *X = gsl_matrix_alloc((size_t)rows, (size_t)k), *cov = gsl_matrix_alloc((size_t)k, (size_t)k);
    gsl_vector *y = gsl_vector_alloc((size_t)rows), *w = gsl_vector_alloc((size_t)rows), *c = gsl_vector_alloc((size_t)k);
    gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc((size_t)rows, (size_t)k);
    int status = -1;
    if (X && cov && y && w && c && ws) {
        /* scale every column to unit max so the normal equations stay well conditioned (n^2 vs 1) */
        double scale[MB_TERM_COUNT + 1] = {1};
        for (int j = 1; j < k; j++) {
            scale[j] = 0;
            for (int i = 0; i < count; i++) {
                double v = fabs(term_value(cols[j - 1], n[i], r ? r[i] : 0));
                if (v > scale[j]) scale[j] = v;
            }
            if (scale[j] == 0) scale[j] = 1;
        }
        for (int i = 0, row = 0; i < count; i++) {
            if (i == skip) continue;
            gsl_matrix_set(X, (size_t)row, 0, 1);
            for (int j = 1; j < k; j++)
                gsl_matrix_set(X, (size_t)row, (size_t)j, term_value(cols[j - 1], n[i], r ? r[i] : 0) / scale[j]);
            gsl_vector_set(y, (size_t)row, t[i]);
            gsl_vector_set(w, (size_t)row, 1 / (t[i] * t[i]));
            row++;
        }
        double chisq;
        if (!gsl_multifit_wlinear(X, w, y, c, cov, &chisq, ws)) {
            memset(m, 0, sizeof *m);
            m->terms = terms;
            m->k = k;
            m->c0 = gsl_vector_get(c, 0);
            for (int j = 1; j < k; j++) m->coef[cols[j - 1]] = gsl_vector_get(c, (size_t)j) / scale[j];
            m->rss = chisq;
            status = 0;
        }
    }
    gsl_matrix_free(X);
    gsl_matrix_free(cov);
    gsl_vector_free(y);
    gsl_vector_free(w);
    gsl_vector_free(c);
    if (ws) gsl_multifit_linear_free(ws);
    return status;
}

static int better(const struct mb_fit_model *a, const struct mb_fit_model *b, enum mb_fit_select s) {
    if (a->negative != b->negative) return b->negative;
    double va = s == MB_FIT_CV ? a->cv : a->aic, vb = s == MB_FIT_CV ? b->cv : b->aic;
    if (isnan(va)) return 0;
    if (isnan(vb)) return 1;
    if (fabs(va - vb) > 1e-12 * (fabs(va) + fabs(vb))) return va < vb;
    return a->k < b->k;
}

int mb_fit_complexity(const double *n, const double *r, const double *t, int count, enum mb_fit_select select,
                      struct mb_fit_result *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (count < 3) return mb_errorf(err, errlen, "a complexity fit needs at least 3 points (got %d)", count);
    for (int i = 0; i < count; i++)
        if (!(t[i] > 0 && isfinite(t[i]) && n[i] > 0))
            return mb_errorf(err, errlen, "point %d: n = %g, time = %g (need n > 0 and a positive time)", i, n[i], t[i]);
    int rank_varies = 0;
    for (int i = 1; r && i < count; i++)
        if (r[i] != r[0]) rank_varies = 1;
    unsigned all = (1u << MB_TERM_N) | (1u << MB_TERM_NLOGN) | (1u << MB_TERM_N2);
    if (rank_varies) all |= (1u << MB_TERM_NR) | (1u << MB_TERM_R);
    for (unsigned terms = 1; terms <= all; terms++) {
        if ((terms & ~all) || out->n_models == MB_FIT_MAX_MODELS) continue;
        struct mb_fit_model m;
        int k = 1 + __builtin_popcount(terms);
        if (count < k + 2) continue; /* AICc needs N > k + 1 */
        if (fit_terms(n, rank_varies ? r : NULL, t, count, terms, -1, &m)) continue;
        for (int j = 0; j < MB_TERM_COUNT; j++) m.negative |= (terms & (1u << j)) && m.coef[j] < 0;
        double rss = m.rss > 1e-300 ? m.rss : 1e-300;
        m.aic = count * log(rss / count) + 2.0 * k + 2.0 * k * (k + 1) / (count - k - 1);
        m.cv = NAN;
        if (count >= k + 2) { /* leave-one-out: relative prediction error of each left-out point */
            double s = 0;
            int ok = 1;
            for (int i = 0; i < count && ok; i++) {
                struct mb_fit_model loo;
                if (fit_terms(n, rank_varies ? r : NULL, t, count, terms, i, &loo)) ok = 0;
                else {
                    double e = (mb_fit_eval(&loo, n[i], r ? r[i] : 0) - t[i]) / t[i];
                    s += e * e;
                }
            }
            if (ok) m.cv = sqrt(s / count);
        }
        out->models[out->n_models++] = m;
    }
    if (!out->n_models) return mb_errorf(err, errlen, "no model could be fitted to %d points", count);
    for (int i = 1; i < out->n_models; i++) /* insertion sort, best first */
        for (int j = i; j > 0 && better(&out->models[j], &out->models[j - 1], select); j--) {
            struct mb_fit_model tmp = out->models[j];
            out->models[j] = out->models[j - 1];
            out->models[j - 1] = tmp;
        }
    out->best = 0;
    return 0;
}

void mb_fit_format(const struct mb_fit_model *m, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "%.3g", m->c0);
    for (int t = 0; t < MB_TERM_COUNT && used < len; t++)
        if (m->terms & (1u << t))
            used += (size_t)snprintf(buf + used, len - used, " %s %.3g %s", m->coef[t] < 0 ? "-" : "+", fabs(m->coef[t]),
                                     mb_fit_term_names[t]);
}
