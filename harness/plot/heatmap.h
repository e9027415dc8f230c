/* Heat maps: one grid of values drawn as an image with a colour bar, PNG + SVG through the gnuplot module
 * (plot/gnuplot.h). Used for the effective receptive field and the checkerboard overlap maps (`mechbench rf --erf`,
 * `--checkerboard`); any family tool can return such grids in its report (mechbench.h "struct mb_report_grid"). */
#ifndef MB_HEATMAP_H
#define MB_HEATMAP_H

#include <stddef.h>

struct mb_heatmap {
    const char *title;
    const char *x_label, *y_label, *value_label; /* value_label: the colour bar's */
    const double *values;                       /* rows x cols, row-major; row 0 drawn at the bottom */
    int rows, cols;
    double x0, y0;                              /* the coordinates of column 0 and row 0 (unit steps) */
};

/* Draw PATH_STEM.png and PATH_STEM.svg (directories created). Square cells, a sequential palette from 0 (dark) to
   the maximum (bright), the machine / date footer of plot/panels.h. Returns 0 or -1 with one line (then no image was written). */
int mb_plot_heatmap(const char *path_stem, const struct mb_heatmap *h, char *err, size_t errlen);

#endif
