/* The plots of a results file (`mechbench plot`): measured rows grouped into series, one per kernel and
 * combination of the axes that vary in the file (store/rows.h), drawn along one axis as time, GFLOP/s, error,
 * memory, the error/time Pareto view or the family's task score; one PNG and one SVG per kind, all drawn by
 * one gnuplot run (plot/gnuplot.h). More than 6 series become small multiples (plot/panels.h), each panel with
 * its legend below the data; every figure has the machine / threads / date footer.
 */
#ifndef MB_SERIES_PLOT_H
#define MB_SERIES_PLOT_H

#include "store/rows.h"

enum mb_plot_kind { MB_PLOT_TIME, MB_PLOT_GFLOPS, MB_PLOT_ERROR, MB_PLOT_MEMORY, MB_PLOT_PARETO, MB_PLOT_TASK,
                    MB_PLOT_KIND_COUNT };
extern const char *const mb_plot_kind_names[MB_PLOT_KIND_COUNT]; /* "time", "gflops", ... */

/* "time,error", "pareto", "all" (every kind but pareto and task) into want[]. Returns 0, or -1 for an unknown
   name or an empty list. */
int mb_plot_kinds_parse(const char *spec, int want[MB_PLOT_KIND_COUNT]);

/* Which measured rows are drawn: every condition axis = value holds and the kernel matches the globs. */
#define MB_PLOT_MAX_WHERE 8
struct mb_row_filter {
    int count;
    int axis[MB_PLOT_MAX_WHERE];
    double value[MB_PLOT_MAX_WHERE];
    const char *kernels; /* comma-separated globs; NULL: every kernel */
};
/* Add "AXIS=VALUE". Returns 0 or -1 with a message naming the bad part. */
int mb_row_filter_add(struct mb_row_filter *f, const char *text, char *err, size_t errlen);
int mb_row_filter_match(const struct mb_row *r, const struct mb_row_filter *f);
/* "n, threads": the names of the axes in mask ("none" when empty). */
void mb_plot_axis_names(uint64_t mask, char *buf, size_t len);

/* A results file's rows ready to plot along one axis. */
struct mb_series_plot {
    struct mb_results results;
    const struct mb_row **rows; /* the measured rows that pass the filter */
    int64_t count;
    int x_axis;
    struct mb_series_set set;
    char title[640];            /* "experiment — CPU, N cores" */
    char footer[400];           /* machine, threads, date (plot/panels.h) */
};

/* Load file, keep its measured rows that pass filter (NULL: all), group them into series along x_axis.
   Returns 0, 1 (failure: unreadable file, no measured row) or 2 (x_axis does not vary: a usage error), with a
   message in err. Free with mb_series_plot_free whatever it returns. */
int mb_series_plot_load(struct mb_series_plot *p, const char *file, const struct mb_row_filter *filter, int x_axis,
                        char *err, size_t errlen);
void mb_series_plot_free(struct mb_series_plot *p);

/* Draw PREFIX_KIND.png and PREFIX_KIND.svg for every wanted kind. Returns 0 or -1 with a message (then no
   image was written). */
int mb_series_plot_draw(const struct mb_series_plot *p, const char *prefix, const int want[MB_PLOT_KIND_COUNT],
                        char *err, size_t errlen);
/* PREFIX_KIND.png (svg = 0) or .svg: the images mb_series_plot_draw writes. */
void mb_series_plot_path(const char *prefix, enum mb_plot_kind kind, int svg, char *buf, size_t len);

#endif
