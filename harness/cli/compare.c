/* mechbench compare A.h5 B.h5 (regressions, harness/compare.h) and mechbench fit F.h5 (complexity, harness/fit.h). */
#include "cli/args.h"
#include "cli/commands.h"
#include "analysis/compare.h"
#include "analysis/fit.h"
#include "store/rows.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every key of --ignore-params must be a parameter some kernel declares: a misspelt key would ignore nothing. */
static int check_param_keys(const char *list) {
    for (const char *key = list; *key;) {
        const size_t len = strcspn(key, ",");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)len, key);
        key += len + (key[len] == ',');
        int known = 0;
        for (int i = 0; i < mb_n_kernels && !known; i++) known = mb_param_decl_of(mb_kernels[i], name) != NULL;
        if (!known)
            return mb_cli_fail("compare", 2, "--ignore-params: no kernel has a parameter '%s' (see mechbench describe "
                               "KERNEL)", name);
    }
    return 0;
}

int mb_cmd_compare(int argc, char **argv) {
    struct mb_compare_opts o = {.threshold = 0.05, .alpha = 0.05};
    int quiet = 0;
    const struct mb_opt opts[] = {
        MB_OPT("threshold", MB_OPT_REAL, &o.threshold),
        MB_OPT("alpha", MB_OPT_REAL, &o.alpha),
        MB_OPT("quiet", MB_OPT_FLAG, &quiet),
        MB_OPT("ignore-params", MB_OPT_STRING, &o.ignore_params),
    };
    struct mb_cli_parse cli = {.command = "compare", .opts = opts, .n_opts = 4};
    int rc = mb_cli_parse(&cli, argc, argv);
    if (rc == 3) {
        printf("usage: mechbench compare BASELINE.h5 CANDIDATE.h5 [--threshold 0.05] [--alpha 0.05] [--quiet]\n"
               "                         [--ignore-params KEY,...]\n"
               "  Per point measured in both files (same kernel, axes and params; --ignore-params leaves those keys\n"
               "  out of the match, to compare one setting against another): time ratio candidate/baseline of\n"
               "  the medians, two-sided Mann-Whitney U test on the raw repetition samples, verdict; then the\n"
               "  geometric mean of the ratios. Exit status 1 when a significant (p < alpha) slowdown exceeds the\n"
               "  threshold (5%%: ratio > 1.05) at any point, 0 otherwise, 2 on usage errors.\n");
        return 0;
    }
    if (rc) return rc;
    if (cli.n_positional != 2) return mb_cli_fail("compare", 2, "expected two results files: BASELINE.h5 CANDIDATE.h5");
    if (!(o.threshold >= 0 && o.threshold < 10)) return mb_cli_fail("compare", 2, "--threshold %g (allowed: 0..10, e.g. 0.05 = 5%%)", o.threshold);
    if (!(o.alpha > 0 && o.alpha < 1)) return mb_cli_fail("compare", 2, "--alpha %g (allowed: 0 < alpha < 1)", o.alpha);
    if (o.ignore_params && (rc = check_param_keys(o.ignore_params))) return rc;
    struct mb_compare_result r;
    char err[1024];
    if (mb_compare_files(cli.positional[0], cli.positional[1], &o, &r, err, sizeof err))
        return mb_cli_fail("compare", 1, "%s", err);
    if (!quiet) {
        printf("%-30s %-40s %11s %11s %7s %6s %9s  %s\n", "kernel", "point", "A median", "B median", "B/A", "U", "p",
               "verdict");
        for (int i = 0; i < r.count; i++) {
            const struct mb_compare_point *p = &r.points[i];
            printf("%-30s %-40s %9.4gms %9.4gms %7.3f %6.1f %9.2g  %s\n", p->kernel, p->point, p->median_a * 1e3,
                   p->median_b * 1e3, p->ratio, p->mw.u, p->mw.p, mb_compare_verdict_names[p->verdict]);
        }
    }
    printf("%d points compared (%d only in A, %d only in B): geometric mean B/A = %.4f; %d regressions, %d improvements "
           "(threshold %.0f%%, alpha %g)\n",
           r.count, r.only_a, r.only_b, r.geomean, r.regressions, r.improvements, o.threshold * 100, o.alpha);
    int regress = r.regressions > 0;
    if (r.count == 0) fprintf(stderr, "mechbench compare: no point is measured in both files\n");
    mb_compare_free(&r);
    return regress ? 1 : 0;
}

int mb_cmd_fit(int argc, char **argv) {
    const char *kernel = NULL, *select = "aic";
    int all = 0;
    const struct mb_opt opts[] = {
        MB_OPT("kernel", MB_OPT_STRING, &kernel),
        MB_OPT("select", MB_OPT_STRING, &select),
        MB_OPT("all", MB_OPT_FLAG, &all),
    };
    struct mb_cli_parse cli = {.command = "fit", .opts = opts, .n_opts = 3};
    int rc = mb_cli_parse(&cli, argc, argv);
    if (rc == 3) {
        printf("usage: mechbench fit F.h5 [--kernel GLOB] [--select aic|cv] [--all]\n"
               "  Complexity fit of the median time per series (kernel x the axes other than n and rank):\n"
               "  t ~ c0 + c1 n + c2 n log2 n + c3 n^2 (+ c4 n r + c5 r when rank varies), every subset of the terms,\n"
               "  always with the intercept c0, by weighted least squares (relative residuals); the model is chosen\n"
               "  by AICc (default) or leave-one-out cross-validation. --all prints every candidate model.\n");
        return 0;
    }
    if (rc) return rc;
    if (cli.n_positional != 1) return mb_cli_fail("fit", 2, "expected one results file");
    enum mb_fit_select sel;
    if (!strcmp(select, "aic")) sel = MB_FIT_AIC;
    else if (!strcmp(select, "cv")) sel = MB_FIT_CV;
    else return mb_cli_fail("fit", 2, "--select '%s' (allowed: aic, cv)", select);
    struct mb_results res;
    char err[1024];
    if (mb_results_load(cli.positional[0], &res, err, sizeof err)) return mb_cli_fail("fit", 1, "%s", err);
    const struct mb_row **keep = malloc((size_t)(res.count ? res.count : 1) * sizeof *keep);
    int64_t n = 0;
    for (int64_t i = 0; keep && i < res.count; i++)
        if (mb_row_measured(&res.rows[i]) && (!kernel || !fnmatch(kernel, res.rows[i].kernel, 0))) keep[n++] = &res.rows[i];
    /* one fit per kernel and combination of the axes other than n and rank (rank is a term of the model) */
    uint64_t vary = mb_rows_varying(keep, n, NULL) & ~(MB_AXIS_BIT(n) | MB_AXIS_BIT(rank));
    char *done = calloc((size_t)n + 1, 1);
    double *xn = malloc(sizeof(double) * (size_t)(n + 1)), *xr = malloc(sizeof(double) * (size_t)(n + 1)),
           *t = malloc(sizeof(double) * (size_t)(n + 1));
    int printed = 0;
    for (int64_t i = 0; keep && done && xn && xr && t && i < n; i++) {
        if (done[i]) continue;
        char key[256], other[256];
        mb_series_key(&keep[i]->point, vary, 1, key, sizeof key);
        int m = 0;
        for (int64_t j = i; j < n; j++) {
            if (done[j] || strcmp(keep[j]->kernel, keep[i]->kernel)) continue;
            mb_series_key(&keep[j]->point, vary, 1, other, sizeof other);
            if (strcmp(key, other)) continue;
            done[j] = 1;
            xn[m] = (double)keep[j]->point.n;
            xr[m] = (double)keep[j]->point.rank;
            t[m++] = keep[j]->time_median;
        }
        struct mb_fit_result fr;
        printf("%s %s (%d points)\n", keep[i]->kernel, key, m);
        if (mb_fit_complexity(xn, xr, t, m, sel, &fr, err, sizeof err)) printf("  no fit: %s\n", err);
        else
            for (int k = 0; k < (all ? fr.n_models : 1); k++) {
                char text[256];
                mb_fit_format(&fr.models[k], text, sizeof text);
                printf("  %s t = %s   (AICc %.2f, LOO rel. RMSE %.3g, intercept %.3g s)\n", k == 0 ? "best" : "    ",
                       text, fr.models[k].aic, fr.models[k].cv, fr.models[k].c0);
            }
        printed++;
    }
    free(done), free(xn), free(xr), free(t);
    free(keep);
    mb_results_close(&res);
    if (!printed) /* like plot: nothing to fit is a failure, not an empty report */
        return mb_cli_fail("fit", 1, "%s has no measured points%s to fit", cli.positional[0],
                           kernel ? " matching --kernel" : "");
    return 0;
}
