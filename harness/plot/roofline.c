/* mechbench plot --roofline / --scaling (called from harness/cli_plot.c).
 *
 * Roofline: every measured point at (operational intensity = FLOP model / byte model, achieved GFLOP/s at the
 * median time), one series per kernel, under the roofs min(peak, bandwidth x intensity) of this machine
 * (results/machine.h5 from `mechbench machine`): one roof for one core and one for all cores.
 * Scaling: per kernel and combination of the axes other than threads, speedup t(1 thread) / t(T) and parallel
 * efficiency speedup / T over the threads axis, with the ideal line; the numbers are printed too.
 * Both draw one PNG and one SVG with gnuplot (data inline).
 */
#include "plot/roofline.h"

#include "run/machine.h"
#include "store/rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int gnuplot_run(const char *script, const char *data, const char *out_prefix, char *err, size_t errlen) {
    static const char *const terms[2][2] = {{"pngcairo size 1000,700 noenhanced", "png"},
                                            {"svg size 1000,700 noenhanced", "svg"}};
    for (int t = 0; t < 2; t++) {
        FILE *g = popen("gnuplot 2>/dev/null", "w");
        if (!g) return mb_errorf(err, errlen, "cannot run gnuplot");
        fprintf(g, "set terminal %s\nset output '%s.%s'\n%s\n%s", terms[t][0], out_prefix, terms[t][1], script, data);
        if (pclose(g)) return mb_errorf(err, errlen, "gnuplot failed drawing %s.%s", out_prefix, terms[t][1]);
    }
    return 0;
}

/* Kernels among the measured rows, in first-seen order. */
static int kernel_list(const struct mb_results *r, char (*names)[MB_NAME_LEN], int max) {
    int n = 0;
    for (int64_t i = 0; i < r->count; i++) {
        if (!mb_row_measured(&r->rows[i])) continue;
        int seen = 0;
        for (int k = 0; k < n && !seen; k++) seen = !strcmp(names[k], r->rows[i].kernel);
        if (!seen && n < max) snprintf(names[n++], MB_NAME_LEN, "%s", r->rows[i].kernel);
    }
    return n;
}

int mb_plot_roofline(const char *file, const char *machine_path, const char *out_prefix, char *err, size_t errlen) {
    struct mb_machine m;
    if (mb_machine_load(&m, machine_path, err, errlen)) return -1;
    struct mb_results r;
    if (mb_results_load(file, &r, err, errlen)) return -1;
    char names[64][MB_NAME_LEN];
    int nk = kernel_list(&r, names, 64);
    if (!nk) {
        mb_results_close(&r);
        return mb_errorf(err, errlen, "%s has no measured point", file);
    }
    char *script = NULL, *data = NULL;
    size_t ls = 0, ld = 0;
    FILE *s = open_memstream(&script, &ls), *d = open_memstream(&data, &ld);
    double imin = INFINITY, imax = 0;
    for (int64_t i = 0; i < r.count; i++)
        if (mb_row_measured(&r.rows[i]) && r.rows[i].bytes > 0) {
            double in = r.rows[i].flops / r.rows[i].bytes;
            imin = fmin(imin, in), imax = fmax(imax, in);
        }
    imin = fmin(imin, 0.1), imax = fmax(imax, 2 * m.gflops_all / m.triad_gbs);
    fprintf(s, "set logscale xy\nset grid\nset key left top\nset xlabel 'operational intensity (FLOP/byte, from the models)'\n"
               "set ylabel 'GFLOP/s'\nset title 'roofline: sgemm %.0f GFLOP/s (1 core) / %.0f (%d cores), triad %.1f / %.1f GB/s'\n"
               "set xrange [%g:%g]\n",
            m.gflops_1, m.gflops_all, m.cores, m.triad_gbs_1, m.triad_gbs, imin / 2, imax * 2);
    fprintf(s, "plot min(x) = x, roof1(x) = (%g * x < %g ? %g * x : %g), rooft(x) = (%g * x < %g ? %g * x : %g), "
               "roof1(x) with lines dt 2 lc rgb 'gray' title '1 core roof', rooft(x) with lines lc rgb 'black' title 'all cores roof'",
            m.triad_gbs_1, m.gflops_1, m.triad_gbs_1, m.gflops_1, m.triad_gbs, m.gflops_all, m.triad_gbs, m.gflops_all);
    for (int k = 0; k < nk; k++) {
        fprintf(s, ", '-' using 1:2 with points pt %d title '%s'", 4 + k % 10, names[k]);
        for (int64_t i = 0; i < r.count; i++) {
            const struct mb_row *row = &r.rows[i];
            if (mb_row_measured(row) && !strcmp(row->kernel, names[k]) && row->bytes > 0 && row->gflops > 0)
                fprintf(d, "%g %g\n", row->flops / row->bytes, row->gflops);
        }
        fprintf(d, "e\n");
    }
    fprintf(s, "\n");
    fclose(s);
    fclose(d);
    int rc = gnuplot_run(script, data, out_prefix, err, errlen);
    free(script);
    free(data);
    mb_results_close(&r);
    if (!rc) printf("%s.png %s.svg\n", out_prefix, out_prefix);
    return rc;
}

int mb_plot_scaling(const char *file, const char *out_prefix, char *err, size_t errlen) {
    struct mb_results r;
    if (mb_results_load(file, &r, err, errlen)) return -1;
    const struct mb_row **keep = malloc((size_t)(r.count ? r.count : 1) * sizeof *keep);
    int64_t n = 0;
    for (int64_t i = 0; keep && i < r.count; i++)
        if (mb_row_measured(&r.rows[i])) keep[n++] = &r.rows[i];
    uint64_t vary = mb_rows_varying(keep, n, NULL);
    if (!(vary & MB_AXIS_BIT(threads))) {
        free(keep);
        mb_results_close(&r);
        return mb_errorf(err, errlen, "%s: the threads axis does not vary (sweep threads = 1, 2, ...)", file);
    }
    struct mb_series_set set;
    if (mb_series_group(keep, n, MB_AXIS_threads, vary & ~MB_AXIS_BIT(threads), 0, &set, err, errlen)) {
        free(keep);
        mb_results_close(&r);
        return -1;
    }
    char *script = NULL, *data = NULL;
    size_t ls = 0, ld = 0;
    FILE *s = open_memstream(&script, &ls), *d = open_memstream(&data, &ld);
    double tmax = 1;
    printf("%-60s %8s %10s %8s %10s\n", "series", "threads", "median", "speedup", "efficiency");
    int drawn = 0;
    fprintf(s, "set grid\nset key left top\nset xlabel 'threads'\nset ylabel 'speedup over 1 thread'\n"
               "set title 'thread scaling (%s)'\n", file);
    for (int i = 0; i < set.count; i++) {
        const struct mb_series *sr = &set.series[i];
        if (sr->count < 2 || mb_row_x(sr->rows[0], MB_AXIS_threads) != 1) continue;
        double t1 = sr->rows[0]->time_median;
        for (int j = 0; j < sr->count; j++) {
            double th = mb_row_x(sr->rows[j], MB_AXIS_threads), sp = t1 / sr->rows[j]->time_median;
            tmax = fmax(tmax, th);
            printf("%-60s %8g %8.4gms %8.2f %9.0f%%\n", sr->label, th, sr->rows[j]->time_median * 1e3, sp, 100 * sp / th);
            fprintf(d, "%g %g\n", th, sp);
        }
        fprintf(d, "e\n");
        drawn++;
    }
    fprintf(s, "set xrange [1:%g]\nset yrange [0:%g]\nplot x with lines dt 2 lc rgb 'gray' title 'ideal'", tmax, tmax * 1.1);
    int k = 0;
    for (int i = 0; i < set.count; i++) {
        const struct mb_series *sr = &set.series[i];
        if (sr->count < 2 || mb_row_x(sr->rows[0], MB_AXIS_threads) != 1) continue;
        fprintf(s, ", '-' using 1:2 with linespoints pt %d title '%s'", 4 + k++ % 10, sr->label);
    }
    fprintf(s, "\n");
    fclose(s);
    fclose(d);
    int rc = drawn ? gnuplot_run(script, data, out_prefix, err, errlen)
                   : mb_errorf(err, errlen, "%s: no series has a 1-thread point to scale from", file);
    free(script);
    free(data);
    mb_series_free(&set);
    free(keep);
    mb_results_close(&r);
    if (!rc) printf("%s.png %s.svg\n", out_prefix, out_prefix);
    return rc;
}
