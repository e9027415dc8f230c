/* The one oracle check driver: a family's output is `groups` blocks of `n` independent rows of `width` values
 * (attention: heads x tokens x d; Mamba: (batch, channel) time series of L steps; HiPPO: one coefficient vector per
 * signal). The driver picks a seeded sample of rows, evaluates the family's double-precision oracle of each row in
 * parallel, and accumulates the error of the kernel's float rows. A family supplies only "the oracle for row r"
 * and where row r lies in its output (offset, stride). */
#ifndef MB_CHECK_H
#define MB_CHECK_H

#include "core/mechbench.h"

/* rows[0..count) (malloc'd): flat indices group * n + i. All rows when o->sample_rows <= 0 or covers them;
 * otherwise a seeded sample that starts with the distinct edge rows: the first and last rows of the first and last
 * groups (causal edges). last_row_only (decode kernels, MB_KERNEL_LAST_ROW): the last row of each group, a sample
 * starting with the first and the last group's. Returns count or -1. */
int64_t mb_pick_rows(int64_t groups, int64_t n, int last_row_only, const struct mb_check_opts *o, int64_t **rows);

struct mb_row_check {
    int64_t width;           /* values per row */
    int64_t scratch;         /* doubles of scratch per thread for the oracle */
    const float *got;        /* the kernel's output */
    /* where row r lies in got: value c at got[offset(ctx, r) + c * stride]; offset NULL = r * width, stride 0 = 1 */
    int64_t (*offset)(const void *ctx, int64_t row);
    int64_t stride;
    /* want[0..width) = oracle row `row`; scratch: `scratch` doubles */
    void (*oracle)(const void *ctx, int64_t row, double *scratch, double *want);
    const void *ctx;
};

/* Error of the sampled rows against the oracle (mb_errors_finish applied). Returns 0 or -1 (out of memory). */
int mb_check_rows(const struct mb_row_check *c, const int64_t *rows, int64_t count, struct mb_errors *out,
                  char *err, size_t errlen);

/* mb_pick_rows + mb_check_rows: the sampled check of `groups` x `n` rows (last_row_only: the last row of each
   group, e.g. a decode step's new token or a scan's last step). Returns 0 or -1 with a message. */
int mb_check_sampled(const struct mb_row_check *c, int64_t groups, int64_t n, int last_row_only,
                     const struct mb_check_opts *o, struct mb_errors *out, char *err, size_t errlen);

#endif
