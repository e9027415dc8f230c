/* Roofline and thread-scaling plots (`mechbench plot --roofline` / `--scaling`), see plot_roofline.c. */
#ifndef MB_PLOT_ROOFLINE_H
#define MB_PLOT_ROOFLINE_H

#include <stddef.h>

/* Draw OUT_PREFIX.png and .svg. Return 0 or -1 with a message. */
int mb_plot_roofline(const char *file, const char *machine_path, const char *out_prefix, char *err, size_t errlen);
int mb_plot_scaling(const char *file, const char *out_prefix, char *err, size_t errlen);

#endif
