/* Shared oracle checking for families whose output is `groups` blocks of `n` independent rows of `width` values
 * (attention heads, RetNet heads, ...): pick a seeded sample of rows, evaluate the family's double-precision row
 * oracle on each in parallel, and accumulate the error of the kernel's float rows. */
#ifndef MB_CHECK_H
#define MB_CHECK_H

#include "core/mechbench.h"

/* rows[0..count) (malloc'd): flat indices group * n + i. All rows when o->sample_rows <= 0 or covers them;
 * otherwise a seeded sample that always includes the first and last rows of the first and last groups (causal
 * edges). last_row_only (decode kernels, MB_KERNEL_LAST_ROW): the last row of each group. Returns count or -1. */
int64_t mb_pick_rows(int64_t groups, int64_t n, int last_row_only, const struct mb_check_opts *o, int64_t **rows);

struct mb_row_check {
    int64_t width;           /* values per row */
    int64_t scratch;         /* doubles of scratch per thread for the oracle */
    const float *got;        /* the kernel's output, row r at got + r * width */
    /* want[0..width) = oracle row `row`; scratch: `scratch` doubles */
    void (*oracle)(const void *ctx, int64_t row, double *scratch, double *want);
    const void *ctx;
};

/* Error of the sampled rows against the oracle (mb_errors_finish applied). Returns 0 or -1 (out of memory). */
int mb_check_rows(const struct mb_row_check *c, const int64_t *rows, int64_t count, struct mb_errors *out,
                  char *err, size_t errlen);

#endif
