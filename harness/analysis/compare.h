/* mechbench compare A.h5 B.h5: is B (the candidate) slower than A (the baseline)?
 *
 * Points are matched by kernel, every axis and params (the source hash may differ: that is the point of a
 * comparison); keys listed in ignore_params are left out of the match (compare one setting against another). Per matched point: ratio = median(B) / median(A) of the per-repetition samples, a two-sided
 * Mann-Whitney U test on those samples, and the verdict
 *   regression   ratio > 1 + threshold and p < alpha
 *   improvement  ratio < 1 / (1 + threshold) and p < alpha
 *   same         otherwise (within the threshold, or not significant).
 * Over all matched points: the geometric mean of the ratios.
 */
#ifndef MB_COMPARE_H
#define MB_COMPARE_H

#include <stddef.h>

#include "core/mechbench.h"
#include "analysis/stats.h"

enum mb_compare_verdict { MB_CMP_SAME, MB_CMP_REGRESSION, MB_CMP_IMPROVEMENT };
extern const char *const mb_compare_verdict_names[3];

struct mb_compare_opts {
    double threshold; /* relative slowdown that counts (default 0.05) */
    double alpha;     /* significance level (default 0.05) */
    const char *ignore_params; /* comma-separated parameter keys not matched ("work"), or NULL */
};

struct mb_compare_point {
    char kernel[MB_NAME_LEN];
    char point[160];              /* "n=4096 d=64 threads=2" */
    double median_a, median_b, ratio;
    struct mb_mann_whitney mw;
    int n_a, n_b;                 /* samples */
    enum mb_compare_verdict verdict;
};

struct mb_compare_result {
    int count;
    struct mb_compare_point *points; /* malloc'd */
    int only_a, only_b;              /* measured points without a partner */
    int regressions, improvements;
    double geomean;                  /* of the ratios (NAN when no point matched) */
};

/* One point from its two sets of samples (baseline a, candidate b). */
int mb_compare_samples(const double *a, int na, const double *b, int nb, const struct mb_compare_opts *o,
                       struct mb_compare_point *out);
/* Whole files. Returns 0 or -1 with a message. Free with mb_compare_free. */
int mb_compare_files(const char *path_a, const char *path_b, const struct mb_compare_opts *o,
                     struct mb_compare_result *out, char *err, size_t errlen);
void mb_compare_free(struct mb_compare_result *r);

#endif
