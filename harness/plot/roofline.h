/* Roofline and thread-scaling plots (`mechbench plot --roofline` / `--scaling`), see roofline.c. */
#ifndef MB_PLOT_ROOFLINE_H
#define MB_PLOT_ROOFLINE_H

#include <stddef.h>

#include "core/mechbench.h"
#include "store/rows.h"

/* Draw OUT_PREFIX.png and .svg. Return 0 or -1 with a message. */
int mb_plot_roofline(const char *file, const char *machine_path, const char *out_prefix, char *err, size_t errlen);

/* One point of a scaling series: its time at `threads` against the same series at 1 thread. */
struct mb_scaling_row {
    char series[sizeof(((struct mb_series *)0)->label)]; /* the series label, "attention.linear.elu n=1024" */
    double threads;
    double median;                  /* s */
    double speedup;                 /* t(1 thread) / t(threads) */
    double efficiency;              /* speedup / threads */
};
/* Draw OUT_PREFIX.png and .svg, and give the table of every drawn point in *rows (malloc'd, free it; also on
   failure, when the table could be computed). Return 0 or -1 with a message. */
int mb_plot_scaling(const char *file, const char *out_prefix, struct mb_scaling_row **rows, int *n_rows, char *err,
                    size_t errlen);

#endif
