/* Complexity fits: time ~ c0 + c1 n + c2 n log2 n + c3 n^2 (+ c4 n r + c5 r when a rank axis varies).
 *
 * Every subset of the non-constant terms is fitted, always with the intercept c0 (fixed overhead), by weighted
 * least squares (gsl_multifit_wlinear, weights 1/t^2: relative residuals, so the small-n points count as much as
 * the large ones). The model is chosen by AICc (N ln(RSS/N) + 2k + 2k(k+1)/(N-k-1), on the weighted RSS) or by
 * leave-one-out cross-validation (relative RMSE); ties go to the smaller model. A model in which a cost term
 * (not the intercept) has a negative coefficient is physically meaningless and ranks after all the others. Unlike Google Benchmark's
 * one-term fit (t = c f(n)) the intercept is reported, and the competing models stay visible.
 */
#ifndef MB_FIT_H
#define MB_FIT_H

#include <stddef.h>

enum mb_fit_term { MB_TERM_N, MB_TERM_NLOGN, MB_TERM_N2, MB_TERM_NR, MB_TERM_R, MB_TERM_COUNT };
extern const char *const mb_fit_term_names[MB_TERM_COUNT]; /* "n", "n log n", "n^2", "n r", "r" */

enum mb_fit_select { MB_FIT_AIC, MB_FIT_CV };

struct mb_fit_model {
    unsigned terms;                  /* bit t set: term t is in the model (the intercept always is) */
    double c0, coef[MB_TERM_COUNT];  /* intercept and coefficients (0 for absent terms) */
    int k;                           /* parameters, intercept included */
    double rss;                      /* weighted (relative) residual sum of squares */
    double aic;                      /* AICc */
    double cv;                       /* leave-one-out relative RMSE (NAN when too few points) */
    int negative;                    /* a cost term has a negative coefficient: ranked after every model without */
};

#define MB_FIT_MAX_MODELS 32
struct mb_fit_result {
    int n_models;
    struct mb_fit_model models[MB_FIT_MAX_MODELS]; /* sorted best first by the selection criterion */
    int best;                                     /* index of the chosen model (0) */
};

/* n[i], r[i] (r may be NULL: no rank terms), t[i] > 0, count points. Returns 0, or -1 (too few points, bad
   values) with a message in err. */
int mb_fit_complexity(const double *n, const double *r, const double *t, int count, enum mb_fit_select select,
                      struct mb_fit_result *out, char *err, size_t errlen);
/* "1.2e-05 + 3.4e-09 n^2": the model as text */
void mb_fit_format(const struct mb_fit_model *m, char *buf, size_t len);
/* Value of the model at (n, r). */
double mb_fit_eval(const struct mb_fit_model *m, double n, double r);

#endif
