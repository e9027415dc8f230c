/* mechbench plot --roofline / --scaling (called from harness/cli/plot.c).
 *
 * Roofline: every measured point at (operational intensity I = FLOP model / byte model, achieved GFLOP/s at the
 * median time), one series per kernel (and thread count, when threads vary), under the roofs
 * min(peak, bandwidth x I) of this machine (results/machine.h5 from `mechbench machine`): one roof for one core
 * and one for all cores, drawn in every panel. The peak is the FP32 FMA peak (mb_machine_peak; sgemm only for
 * machine files measured before the FMA probe).
 * Scaling: per kernel and combination of the axes other than threads, speedup t(1 thread) / t(T) and parallel
 * efficiency speedup / T over the threads axis, with the ideal line speedup = T in every panel; the numbers are
 * returned as a table.
 * Both are small multiples with the legend below the data and the provenance footer (plot/panels.h), drawn as
 * one PNG and one SVG through plot/gnuplot.h (data inline).
 */
#include "plot/roofline.h"

#include "plot/gnuplot.h"
#include "plot/panels.h"
#include "run/machine.h"
#include "store/rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The measured rows of a results file (r loaded, *rows malloc'd), or -1 with a message. */
static int load_measured(const char *file, struct mb_results *r, const struct mb_row ***rows, int64_t *n, char *err,
                         size_t errlen) {
    *rows = NULL;
    *n = 0;
    if (mb_results_load(file, r, err, errlen)) return -1;
    *rows = malloc((size_t)(r->count ? r->count : 1) * sizeof **rows);
    if (!*rows) return mb_results_close(r), mb_errorf(err, errlen, "out of memory");
    for (int64_t i = 0; i < r->count; i++)
        if (mb_row_measured(&r->rows[i])) (*rows)[(*n)++] = &r->rows[i];
    return 0;
}

/* Draw figure OUT_PREFIX as small multiples: before the panels `settings`, then per panel i its place and
   plot_panel(f, i, ctx) (the whole plot command). The footer tells the machine, threads and date of rows. */
static int draw_panels(struct mb_gnuplot *g, const struct mb_panels *pan, const char *out_prefix, const char *settings,
                       const char *title, struct mb_store *store, const struct mb_row *const *rows, int64_t n,
                       void (*plot_panel)(FILE *, int, const void *), const void *ctx, char *err, size_t errlen) {
    char footer[512], *body = NULL;
    size_t body_len = 0;
    mb_plot_footer_text(store, rows, n, footer, sizeof footer);
    FILE *f = open_memstream(&body, &body_len);
    if (!f) return mb_errorf(err, errlen, "out of memory");
    fputs(settings, f);
    mb_panels_write(f, pan, title, footer, plot_panel, ctx);
    fclose(f);
    const struct mb_gnuplot_canvas canvas = mb_panels_canvas(pan);
    int rc = mb_gnuplot_figure_text(g, out_prefix, &canvas, body, err, errlen);
    free(body);
    return rc ? rc : mb_gnuplot_run(g, err, errlen);
}

/* Series `$sK` of panel i (pan->panel[K] == i), each `using` with its own style; empty panel: NaN. */
static void plot_series(FILE *f, const struct mb_panels *pan, int panel, const char *using, int first) {
    for (int s = 0; s < pan->n_series; s++) {
        if (pan->panel[s] != panel) continue;
        fprintf(f, "%s \\\n  $s%d %s", first ? "" : ",", s, using);
        mb_plot_style(f, pan->style[s], 0);
        fputs(" ps 0.9 lw 1.5 title ", f);
        mb_gnuplot_quote(f, pan->label[s]);
        first = 0;
    }
    if (first) fputs(" NaN notitle", f);
    fputc('\n', f);
}

/* ---------------------------------------------------------------------------------------------- roofline */

struct roof_series {
    char kernel[MB_NAME_LEN];
    char key[32]; /* "threads=2" when threads vary, else "" */
    int64_t threads;
};

static void roof_panel(FILE *f, int i, const void *ctx) {
    fputs("plot roof1(x) with lines dt 2 lw 2 lc rgb '#999999' title '1 core roof', "
          "rooft(x) with lines lw 2 lc rgb '#333333' title 'all cores roof'", f);
    plot_series(f, ctx, i, "using 1:2 with points", 0);
}

/* Series (kernel, threads when they vary) of the rows, sorted by kernel name: the panels group kernel families. */
static int roof_cmp(const void *a, const void *b) {
    const struct roof_series *x = a, *y = b;
    int c = strcmp(x->kernel, y->kernel);
    return c ? c : (x->threads > y->threads) - (x->threads < y->threads);
}

static int roof_series_list(const struct mb_row *const *rows, int64_t n, int by_threads, struct roof_series **out) {
    int count = 0;
    *out = calloc((size_t)(n ? n : 1), sizeof **out);
    if (!*out) return -1;
    for (int64_t i = 0; i < n; i++) {
        int64_t th = by_threads ? rows[i]->point.threads : 0;
        int seen = 0;
        for (int k = 0; k < count && !seen; k++) seen = !strcmp((*out)[k].kernel, rows[i]->kernel) && (*out)[k].threads == th;
        if (seen) continue;
        struct roof_series *s = &(*out)[count++];
        snprintf(s->kernel, sizeof s->kernel, "%s", rows[i]->kernel);
        s->threads = th;
        if (by_threads) snprintf(s->key, sizeof s->key, "threads=%lld", (long long)th);
    }
    qsort(*out, (size_t)count, sizeof **out, roof_cmp);
    return count;
}

int mb_plot_roofline(const char *file, const char *machine_path, const char *out_prefix, char *err, size_t errlen) {
    struct mb_machine m;
    if (mb_machine_load(&m, machine_path, err, errlen)) return -1;
    struct mb_results r;
    const struct mb_row **rows;
    int64_t n;
    if (load_measured(file, &r, &rows, &n, err, errlen)) return -1;
    int64_t kept = 0; /* the points with both models */
    for (int64_t i = 0; i < n; i++)
        if (rows[i]->bytes > 0 && rows[i]->gflops > 0) rows[kept++] = rows[i];
    n = kept;
    const int by_threads = (mb_rows_varying(rows, n, NULL) & MB_AXIS_BIT(threads)) != 0;
    struct roof_series *ser = NULL;
    int ns = n ? roof_series_list(rows, n, by_threads, &ser) : 0, oom = ns < 0;
    if (oom) ns = 0;
    const char **kernels = calloc((size_t)(ns ? ns : 1), sizeof *kernels),
               **keys = calloc((size_t)(ns ? ns : 1), sizeof *keys);
    struct mb_panels *pan = NULL;
    struct mb_gnuplot g;
    int rc = 0, begun = 0;
    if (oom || !kernels || !keys) rc = mb_errorf(err, errlen, "out of memory");
    else if (!ns) rc = mb_errorf(err, errlen, "%s has no measured point with FLOP and byte models", file);
    for (int s = 0; !rc && s < ns; s++) kernels[s] = ser[s].kernel, keys[s] = ser[s].key;
    if (!rc && !(pan = mb_panels_make(ns, kernels, keys))) rc = mb_errorf(err, errlen, "out of memory");
    if (!rc && !(rc = mb_gnuplot_begin(&g, err, errlen))) begun = 1;
    if (!rc) {
        FILE *s = g.script;
        double imin = INFINITY, imax = 0, gmin = INFINITY;
        for (int k = 0; k < ns; k++) {
            char block[16];
            snprintf(block, sizeof block, "s%d", k);
            fprintf(s, "# %s %s\n", ser[k].kernel, ser[k].key);
            mb_gnuplot_data_begin(&g, block);
            for (int64_t i = 0; i < n; i++)
                if (!strcmp(rows[i]->kernel, ser[k].kernel) && (!by_threads || rows[i]->point.threads == ser[k].threads)) {
                    double in = rows[i]->flops / rows[i]->bytes;
                    imin = fmin(imin, in), imax = fmax(imax, in), gmin = fmin(gmin, rows[i]->gflops);
                    fprintf(s, "%g %g\n", in, rows[i]->gflops);
                }
            mb_gnuplot_data_end(&g);
        }
        const char *roof;
        const double peak_1 = mb_machine_peak(&m, 0, &roof), peak_all = mb_machine_peak(&m, 1, NULL);
        imin = fmin(imin, 0.1), imax = fmax(imax, 2 * peak_all / m.triad_gbs);
        char settings[1024], title[512]; /* one x and y range in every panel: the panels compare */
        snprintf(settings, sizeof settings,
                 "set logscale xy\nset grid\nset format x '%%g'\nset format y '%%g'\n"
                 "set xlabel 'operational intensity (FLOP/byte, from the models)'\nset ylabel 'GFLOP/s'\n"
                 "set xrange [%g:%g]\nset yrange [%g:%g]\nroof1(x) = (%g * x < %g ? %g * x : %g)\nrooft(x) = (%g * x < %g ? %g * x : %g)\n",
                 imin / 2, imax * 2, fmin(gmin, imin * m.triad_gbs_1) / 2, peak_all * 2, m.triad_gbs_1, peak_1, m.triad_gbs_1, peak_1, m.triad_gbs, peak_all, m.triad_gbs,
                 peak_all);
        snprintf(title, sizeof title, "roofline: %s %.0f GFLOP/s (1 core) / %.0f (%d cores), triad %.1f / %.1f GB/s", roof,
                 peak_1, peak_all, m.cores, m.triad_gbs_1, m.triad_gbs);
        rc = draw_panels(&g, pan, out_prefix, settings, title, r.store, rows, n, roof_panel, pan, err, errlen);
    }
    if (begun) mb_gnuplot_free(&g);
    mb_panels_free(pan);
    free(kernels);
    free(keys);
    free(ser);
    free(rows);
    mb_results_close(&r);
    return rc;
}

/* ---------------------------------------------------------------------------------------------- scaling */

static void scaling_panel(FILE *f, int i, const void *ctx) {
    fputs("plot x with lines dt 2 lw 2 lc rgb '#999999' title 'ideal'", f);
    plot_series(f, ctx, i, "using 1:2 with linespoints", 0);
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
    const struct mb_row **keep;
    int64_t n;
    if (load_measured(file, &r, &keep, &n, err, errlen)) return -1;
    uint64_t vary = mb_rows_varying(keep, n, NULL);
    struct mb_series_set set = {0};
    int rc = 0, begun = 0, drawn = 0;
    if (!(vary & MB_AXIS_BIT(threads)))
        rc = mb_errorf(err, errlen, "%s: the threads axis does not vary (sweep threads = 1, 2, ...)", file);
    else if (mb_series_group(keep, n, MB_AXIS_threads, vary & ~MB_AXIS_BIT(threads), 0, &set, err, errlen))
        rc = -1;
    int64_t capacity = 0;
    for (int i = 0; i < set.count; i++)
        if (scalable(&set.series[i])) capacity += set.series[i].count, drawn++;
    const char **kernels = calloc((size_t)(drawn ? drawn : 1), sizeof *kernels),
               **keys = calloc((size_t)(drawn ? drawn : 1), sizeof *keys);
    struct mb_panels *pan = NULL;
    struct mb_gnuplot g;
    if (!rc && (!kernels || !keys || !(*rows = calloc((size_t)(capacity ? capacity : 1), sizeof **rows))))
        rc = mb_errorf(err, errlen, "out of memory");
    else if (!rc && !drawn) rc = mb_errorf(err, errlen, "%s: no series has a 1-thread point to scale from", file);
    for (int i = 0, k = 0; !rc && i < set.count; i++)
        if (scalable(&set.series[i])) kernels[k] = set.series[i].kernel, keys[k++] = set.series[i].key;
    if (!rc && !(pan = mb_panels_make(drawn, kernels, keys))) rc = mb_errorf(err, errlen, "out of memory");
    if (!rc && !(rc = mb_gnuplot_begin(&g, err, errlen))) begun = 1;
    if (!rc) {
        FILE *s = g.script;
        double tmax = 1;
        for (int i = 0, k = 0; i < set.count; i++) {
            const struct mb_series *sr = &set.series[i];
            if (!scalable(sr)) continue;
            char block[16];
            snprintf(block, sizeof block, "s%d", k++);
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
        }
        char settings[256], title[4200];
        snprintf(settings, sizeof settings,
                 "set grid\nset xlabel 'threads'\nset ylabel 'speedup over 1 thread'\nset xrange [%g:%g]\nset yrange [0:%g]\n"
                 "%s\n",
                 1 - 0.04 * (tmax - 1), tmax + 0.04 * (tmax - 1), tmax * 1.1, tmax <= 16 ? "set xtics 1" : "set xtics autofreq");
        snprintf(title, sizeof title, "thread scaling (%s)", file);
        rc = draw_panels(&g, pan, out_prefix, settings, title, r.store, keep, n, scaling_panel, pan, err, errlen);
    }
    if (rc && !*n_rows) free(*rows), *rows = NULL;
    if (begun) mb_gnuplot_free(&g);
    mb_panels_free(pan);
    free(kernels);
    free(keys);
    mb_series_free(&set);
    free(keep);
    mb_results_close(&r);
    return rc;
}
