/* mechbench plot --roofline / --scaling (called from harness/cli/plot.c).
 *
 * Roofline: every measured point at (operational intensity = FLOP model / byte model, achieved GFLOP/s at the
 * median time), one series per kernel, under the roofs min(peak, bandwidth x intensity) of this machine
 * (results/machine.h5 from `mechbench machine`): one roof for one core and one for all cores. The peak is the FP32
 * FMA peak (mb_machine_peak; sgemm only for machine files measured before the FMA probe).
 * Scaling: per kernel and combination of the axes other than threads, speedup t(1 thread) / t(T) and parallel
 * efficiency speedup / T over the threads axis, with the ideal line; the numbers are returned as a table.
 * Both draw one PNG and one SVG through plot/gnuplot.h (data inline).
 */
#include "plot/roofline.h"

#include "plot/gnuplot.h"
#include "run/machine.h"
#include "store/rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_gnuplot_canvas canvas = {.width = 1000, .height = 700};

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
    struct mb_gnuplot g;
    if (mb_gnuplot_begin(&g, err, errlen)) {
        mb_results_close(&r);
        return -1;
    }
    FILE *s = g.script;
    double imin = INFINITY, imax = 0;
    for (int64_t i = 0; i < r.count; i++)
        if (mb_row_measured(&r.rows[i]) && r.rows[i].bytes > 0) {
            double in = r.rows[i].flops / r.rows[i].bytes;
            imin = fmin(imin, in), imax = fmax(imax, in);
        }
    const char *roof;
    const double peak_1 = mb_machine_peak(&m, 0, &roof), peak_all = mb_machine_peak(&m, 1, NULL);
    imin = fmin(imin, 0.1), imax = fmax(imax, 2 * peak_all / m.triad_gbs);
    for (int k = 0; k < nk; k++) {
        char block[16];
        snprintf(block, sizeof block, "k%d", k);
        fprintf(s, "# %s\n", names[k]);
        mb_gnuplot_data_begin(&g, block);
        for (int64_t i = 0; i < r.count; i++) {
            const struct mb_row *row = &r.rows[i];
            if (mb_row_measured(row) && !strcmp(row->kernel, names[k]) && row->bytes > 0 && row->gflops > 0)
                fprintf(s, "%g %g\n", row->flops / row->bytes, row->gflops);
        }
        mb_gnuplot_data_end(&g);
    }
    fprintf(s, "set logscale xy\nset grid\nset key left top\nset xlabel 'operational intensity (FLOP/byte, from the models)'\n"
               "set ylabel 'GFLOP/s'\nset title 'roofline: %s %.0f GFLOP/s (1 core) / %.0f (%d cores), triad %.1f / %.1f GB/s'\n"
               "set xrange [%g:%g]\n",
            roof, peak_1, peak_all, m.cores, m.triad_gbs_1, m.triad_gbs, imin / 2, imax * 2);
    int rc = mb_gnuplot_figure_begin(&g, out_prefix, &canvas, err, errlen);
    if (rc == 0) {
        fprintf(s, "plot min(x) = x, roof1(x) = (%g * x < %g ? %g * x : %g), rooft(x) = (%g * x < %g ? %g * x : %g), "
                   "roof1(x) with lines dt 2 lc rgb 'gray' title '1 core roof', rooft(x) with lines lc rgb 'black' title 'all cores roof'",
                m.triad_gbs_1, peak_1, m.triad_gbs_1, peak_1, m.triad_gbs, peak_all, m.triad_gbs, peak_all);
        for (int k = 0; k < nk; k++) {
            fprintf(s, ", $k%d using 1:2 with points pt %d title ", k, 4 + k % 10);
            mb_gnuplot_quote(s, names[k]);
        }
        fprintf(s, "\n");
        mb_gnuplot_figure_end(&g);
        rc = mb_gnuplot_run(&g, err, errlen);
    }
    mb_gnuplot_free(&g);
    mb_results_close(&r);
    return rc;
}

/* A series with a 1-thread point first can be scaled. */
static int scalable(const struct mb_series *sr) {
    return sr->count >= 2 && mb_row_x(sr->rows[0], MB_AXIS_threads) == 1;
}

int mb_plot_scaling(const char *file, const char *out_prefix, struct mb_scaling_row **rows, int *n_rows, char *err,
                    size_t errlen) {
    *rows = NULL;
    *n_rows = 0;
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
    int64_t capacity = 0;
    for (int i = 0; i < set.count; i++)
        if (scalable(&set.series[i])) capacity += set.series[i].count;
    struct mb_gnuplot g;
    int rc = 0, drawn = 0;
    *rows = calloc((size_t)(capacity ? capacity : 1), sizeof **rows);
    if (!*rows) rc = mb_errorf(err, errlen, "out of memory");
    else if (mb_gnuplot_begin(&g, err, errlen)) rc = -1;
    if (rc) {
        free(*rows);
        *rows = NULL;
        mb_series_free(&set);
        free(keep);
        mb_results_close(&r);
        return -1;
    }
    FILE *s = g.script;
    double tmax = 1;
    for (int i = 0; i < set.count; i++) {
        const struct mb_series *sr = &set.series[i];
        if (!scalable(sr)) continue;
        char block[16];
        snprintf(block, sizeof block, "s%d", drawn);
        fprintf(s, "# %s\n", sr->label);
        mb_gnuplot_data_begin(&g, block);
        double t1 = sr->rows[0]->time_median;
        for (int j = 0; j < sr->count; j++) {
            double th = mb_row_x(sr->rows[j], MB_AXIS_threads), sp = t1 / sr->rows[j]->time_median;
            tmax = fmax(tmax, th);
            struct mb_scaling_row *row = &(*rows)[(*n_rows)++];
            snprintf(row->series, sizeof row->series, "%s", sr->label);
            row->threads = th;
            row->median = sr->rows[j]->time_median;
            row->speedup = sp;
            row->efficiency = sp / th;
            fprintf(s, "%g %g\n", th, sp);
        }
        mb_gnuplot_data_end(&g);
        drawn++;
    }
    fputs("set grid\nset key left top\nset xlabel 'threads'\nset ylabel 'speedup over 1 thread'\nset title ", s);
    char title[4200];
    snprintf(title, sizeof title, "thread scaling (%s)", file);
    mb_gnuplot_quote(s, title);
    fprintf(s, "\nset xrange [1:%g]\nset yrange [0:%g]\n", tmax, tmax * 1.1);
    if (!drawn) rc = mb_errorf(err, errlen, "%s: no series has a 1-thread point to scale from", file);
    else rc = mb_gnuplot_figure_begin(&g, out_prefix, &canvas, err, errlen);
    if (rc == 0) {
        fputs("plot x with lines dt 2 lc rgb 'gray' title 'ideal'", s);
        for (int k = 0, i = 0; i < set.count; i++) {
            const struct mb_series *sr = &set.series[i];
            if (!scalable(sr)) continue;
            fprintf(s, ", $s%d using 1:2 with linespoints pt %d title ", k, 4 + k % 10);
            mb_gnuplot_quote(s, sr->label);
            k++;
        }
        fputs("\n", s);
        mb_gnuplot_figure_end(&g);
        rc = mb_gnuplot_run(&g, err, errlen);
    }
    mb_gnuplot_free(&g);
    mb_series_free(&set);
    free(keep);
    mb_results_close(&r);
    return rc;
}
