/* The one gnuplot module: every plot of mechbench is a script built here and drawn by one gnuplot process.
 *
 * A script holds its data inline (`$name << EOD` blocks, so `replot` can draw the same figure again) and any
 * number of figures; each figure is drawn twice, as PNG (pngcairo) and as SVG, into temporary names next to
 * its outputs (store/outfile.h) that are renamed into place only when gnuplot succeeded: no half-written image
 * is ever seen. Nothing is printed: failures come back as one line (gnuplot's own last error line included).
 *
 *   struct mb_gnuplot g;
 *   mb_gnuplot_begin(&g, err, errlen);
 *   mb_gnuplot_data_begin(&g, "s0");  fprintf(g.script, "1 2\n");  mb_gnuplot_data_end(&g);
 *   fputs("set logscale x\n", g.script);                         // settings of the figure
 *   mb_gnuplot_figure_begin(&g, "plots/x", &canvas, err, errlen); // plots/x.png and plots/x.svg
 *   fputs("plot $s0 using 1:2 with lines\n", g.script);           // exactly one plot command
 *   mb_gnuplot_figure_end(&g);
 *   mb_gnuplot_run(&g, err, errlen);                              // draws, renames into place
 *   mb_gnuplot_free(&g);
 */
#ifndef MB_GNUPLOT_H
#define MB_GNUPLOT_H

#include <stddef.h>
#include <stdio.h>

#define MB_GNUPLOT_MAX_FIGURES 16

struct mb_gnuplot_canvas {
    int width, height; /* pixels (SVG: the same size, dynamic) */
    const char *font;  /* e.g. "sans,11"; NULL: gnuplot's default */
};

struct mb_gnuplot {
    FILE *script; /* the script being built: write settings, data and plot commands here */
    /* private */
    char *text;
    size_t len;
    int n_figures;
    struct mb_gnuplot_canvas canvas; /* of the figure being written */
    struct mb_gnuplot_files {
        char out[2][4096];  /* [0 png, 1 svg] */
        char temp[2][4200]; /* where gnuplot writes them */
    } *files;               /* [MB_GNUPLOT_MAX_FIGURES] */
};

/* Is gnuplot on PATH? */
int mb_gnuplot_available(void);

/* Start an empty script. Returns 0 or -1 with a message. */
int mb_gnuplot_begin(struct mb_gnuplot *g, char *err, size_t errlen);
/* `$name << EOD` ... `EOD`: write the rows between the two calls to g->script. */
void mb_gnuplot_data_begin(struct mb_gnuplot *g, const char *name);
void mb_gnuplot_data_end(struct mb_gnuplot *g);
/* A gnuplot single-quoted string ('' escapes a quote). */
void mb_gnuplot_quote(FILE *f, const char *s);
/* " %.10g", or " NaN" (gnuplot's missing value) when v is not finite, or not positive on a log axis. */
void mb_gnuplot_value(FILE *f, double v, int log_axis);

/* Start figure PATH.png / PATH.svg (PATH without extension; its directories are created): the caller writes
   the figure's one `plot` command next, then calls mb_gnuplot_figure_end. Settings written before the call
   apply to the figure. Returns 0 or -1 (too many figures, a directory that cannot be made). */
int mb_gnuplot_figure_begin(struct mb_gnuplot *g, const char *path, const struct mb_gnuplot_canvas *canvas, char *err,
                            size_t errlen);
void mb_gnuplot_figure_end(struct mb_gnuplot *g);
/* A whole figure given as text (settings and plot commands, e.g. a multiplot, which `replot` cannot redraw):
   written once for the PNG and once for the SVG terminal. Returns 0 or -1 as mb_gnuplot_figure_begin. */
int mb_gnuplot_figure_text(struct mb_gnuplot *g, const char *path, const struct mb_gnuplot_canvas *canvas,
                           const char *commands, char *err, size_t errlen);
/* The output of figure i: PATH.png (svg = 0) or PATH.svg (svg = 1). */
const char *mb_gnuplot_output(const struct mb_gnuplot *g, int figure, int svg);

/* Run gnuplot once on the script, then rename every image into place. Frees the script (g->script is NULL
   afterwards); the output names stay readable until mb_gnuplot_free. Returns 0 or -1 with a message (no
   output is left behind). */
int mb_gnuplot_run(struct mb_gnuplot *g, char *err, size_t errlen);
/* Release g (the script too, when it was not run). */
void mb_gnuplot_free(struct mb_gnuplot *g);

#endif
