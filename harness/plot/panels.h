/* Readable line plots: small multiples, distinct series styles and the provenance footer, shared by every line
 * plot (series_plot.c for `mechbench plot`, the claims' plots).
 *
 * A figure with more than MB_PANEL_SERIES series is split into panels of at most that many: by the value of one
 * axis of the series keys ("d=64 threads=1"; d first, then threads, causal, heads, ...), by two axes when one is
 * not enough, and within a panel still too full by kernel group (the kernel name up to its last dot,
 * "attention.linear"). Each panel gets its own legend, outside the data, below it; a series keeps one style (a
 * colour, dash type and point type no other series has) in every panel. Every figure is drawn as a multiplot
 * (one panel or several) with manual origins, leaving a strip at the bottom for the footer: the machine (CPU
 * model), the threads and the date of the measurement.
 *
 *   struct mb_panels *p = mb_panels_make(n, kernels, keys);     // panel of each series, titles, labels, styles
 *   canvas = mb_panels_canvas(p);
 *   mb_panels_write(f, p, title, footer, plot_panel, ctx);    // the multiplot: each panel placed, then
 *                                                               // plot_panel writes its `plot` (mb_plot_style)
 *   then plot/gnuplot.h: mb_gnuplot_figure_text with the canvas and the text.
 */
#ifndef MB_PANELS_H
#define MB_PANELS_H

#include <stdint.h>
#include <stdio.h>

#include "plot/gnuplot.h"

#define MB_PANEL_SERIES 6   /* series per panel, at most (when they can be split) */
#define MB_PANEL_MAX 16     /* panels per figure, at most */

struct mb_panels {
    int n_series;
    int n_panels, rows, cols;
    int *panel;             /* [n_series] the panel of each series */
    int *style;             /* [n_series] style index: one per distinct label */
    char (*label)[256];     /* [n_series] legend text: the series without what its panel's title says */
    char title[MB_PANEL_MAX][200]; /* "d=64 threads=1", "attention.linear.*", or "" (one panel) */
};

/* Split n series (kernel names and keys "axis=value ...", "" when none) into panels. NULL: out of memory. */
struct mb_panels *mb_panels_make(int n, const char *const *kernels, const char *const *keys);
void mb_panels_free(struct mb_panels *p);

/* The canvas for the panels: about 620 x 470 pixels a panel (900 x 620 for one), font sans,10. */
struct mb_gnuplot_canvas mb_panels_canvas(const struct mb_panels *p);

/* Before panel i's plot command: its origin and size, its title, its legend below the data; on panel 0 the
   footer (at the bottom of the canvas; "" for none) and `title` above every panel (NULL: none). Clears the
   previous panel's arrows, objects and labels. */
void mb_panels_place(FILE *f, const struct mb_panels *p, int i, const char *title, const char *footer);

/* The multiplot of the panels into f: "set multiplot", for each panel i mb_panels_place (title, footer as there)
   then plot_panel(f, i, ctx), which writes what the panel draws (its arrows and labels, and one `plot`), and
   "unset multiplot". */
void mb_panels_write(FILE *f, const struct mb_panels *p, const char *title, const char *footer,
                     void (*plot_panel)(FILE *f, int panel, const void *ctx), const void *ctx);

/* " lc rgb '#0072b2' dt 1 pt 7": style s; distinct for s < 24 (8 colours x 3 dash types, 12 point types).
   dash > 0: that dash type instead (a twin of the series, e.g. its error vs the exact mechanism). */
void mb_plot_style(FILE *f, int s, int dash);

/* "AMD EPYC 9R14 | threads 1, 2 | measured 2026-12-02 12:41 UTC" from a results file's provenance (cpu_model,
   created) and the thread counts of its rows; store NULL: this machine's CPU and the current time. */
struct mb_row;
struct mb_store;
void mb_plot_footer_text(struct mb_store *store, const struct mb_row *const *rows, int64_t n, char *buf, size_t len);

#endif
