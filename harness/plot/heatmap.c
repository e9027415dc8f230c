/* Heat maps through the gnuplot module (see heatmap.h): the grid inline as a matrix, `with image`, a colour bar. */
#include "plot/heatmap.h"

#include "core/mechbench.h"
#include "plot/gnuplot.h"
#include "plot/panels.h"

#include <math.h>
#include <stdio.h>

int mb_plot_heatmap(const char *path_stem, const struct mb_heatmap *h, char *err, size_t errlen) {
    if (h->rows < 1 || h->cols < 1 || !h->values)
        return mb_errorf(err, errlen, "heat map %s: empty grid (%d x %d)", path_stem, h->rows, h->cols);
    double hi = -INFINITY;
    for (int i = 0; i < h->rows * h->cols; i++)
        if (isfinite(h->values[i]) && h->values[i] > hi) hi = h->values[i];
    if (!isfinite(hi)) return mb_errorf(err, errlen, "heat map %s: no finite value", path_stem);
    struct mb_gnuplot g;
    if (mb_gnuplot_begin(&g, err, errlen)) return -1;
    FILE *f = g.script;
    mb_gnuplot_data_begin(&g, "grid");
    for (int r = 0; r < h->rows; r++) {
        for (int c = 0; c < h->cols; c++) mb_gnuplot_value(f, h->values[r * h->cols + c], 0);
        fputc('\n', f);
    }
    mb_gnuplot_data_end(&g);
    fputs("set title ", f);
    mb_gnuplot_quote(f, h->title ? h->title : "");
    fputs("\nset xlabel ", f);
    mb_gnuplot_quote(f, h->x_label ? h->x_label : "");
    fputs("\nset ylabel ", f);
    mb_gnuplot_quote(f, h->y_label ? h->y_label : "");
    fputs("\nset cblabel ", f);
    mb_gnuplot_quote(f, h->value_label ? h->value_label : "");
    fputs(" offset 1.5,0\n", f); /* clear of the colour bar's tick labels, however narrow they are */
    fprintf(f, "set xrange [%g:%g]\nset yrange [%g:%g]\n", h->x0 - 0.5, h->x0 + h->cols - 0.5, h->y0 - 0.5,
            h->y0 + h->rows - 0.5);
    fprintf(f, "set cbrange [0:%.10g]\n", hi > 0 ? hi : 1);
    char footer[400]; /* computed in this process: this machine, now */
    mb_plot_footer_text(NULL, NULL, 0, footer, sizeof footer);
    fputs("set label 902 ", f);
    mb_gnuplot_quote(f, footer);
    fputs(" at screen 0.005,0.015 left front noenhanced font ',8' textcolor rgb '#555555'\nset bmargin 5\n", f);
    fputs("set size ratio -1\nset tics out nomirror\nset border 3\nset key off\nset format cb '%g'\n"
          "set palette defined (0 '#000004', 1 '#3b0f70', 2 '#8c2981', 3 '#de4968', 4 '#fe9f6d', 5 '#fcfdbf')\n",
          f);
    const struct mb_gnuplot_canvas canvas = {.width = 720, .height = 600, .font = "sans,11"};
    if (mb_gnuplot_figure_begin(&g, path_stem, &canvas, err, errlen)) return mb_gnuplot_free(&g), -1;
    fprintf(f, "plot $grid matrix using ($1 + %.10g):($2 + %.10g):3 with image\n", h->x0, h->y0);
    mb_gnuplot_figure_end(&g);
    int rc = mb_gnuplot_run(&g, err, errlen);
    mb_gnuplot_free(&g);
    return rc;
}
