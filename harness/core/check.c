/* Sampled, parallel row checks against a double-precision oracle (check.h). */
#include "core/check.h"

#include <stdlib.h>

int64_t mb_pick_rows(int64_t groups, int64_t n, int last_row_only, const struct mb_check_opts *o, int64_t **rows_out) {
    const int64_t total = last_row_only ? groups : groups * n;
    const int64_t count = (o->sample_rows <= 0 || o->sample_rows >= total) ? total : o->sample_rows;
    int64_t *rows = malloc((size_t)(count ? count : 1) * sizeof *rows);
    if (!rows) return -1;
    /* a sample always starts with the distinct edge rows (causal edges; a decode step's first and last sequence) */
    const int64_t last = groups * n - 1;
    const int64_t candidates[4] = {last_row_only ? n - 1 : 0, last, n - 1, last - n + 1};
    int64_t edges[4];
    int n_edges = 0;
    for (int c = 0; c < (last_row_only ? 2 : 4); c++) {
        int seen = 0;
        for (int e = 0; e < n_edges; e++) seen |= edges[e] == candidates[c];
        if (!seen) edges[n_edges++] = candidates[c];
    }
    uint64_t state = o->seed ^ UINT64_C(0x5eed0f0bac1e);
    for (int64_t r = 0; r < count; r++) {
        if (count == total) rows[r] = last_row_only ? r * n + n - 1 : r;
        else if (r < n_edges) rows[r] = edges[r];
        else if (last_row_only) rows[r] = (int64_t)(mb_splitmix64(&state) % (uint64_t)total) * n + n - 1;
        else rows[r] = (int64_t)(mb_splitmix64(&state) % (uint64_t)total);
    }
    *rows_out = rows;
    return count;
}

int mb_check_rows(const struct mb_row_check *c, const int64_t *rows, int64_t count, struct mb_errors *out,
                  char *err, size_t errlen) {
    mb_errors_reset(out);
    int failed = 0;
#pragma omp parallel
    {
        struct mb_errors local;
        mb_errors_reset(&local);
        double *scratch = malloc((size_t)(c->scratch > 0 ? c->scratch : 1) * sizeof(double));
        double *want = malloc((size_t)c->width * sizeof(double));
        const int strided = c->stride > 1;
        float *gathered = strided ? malloc((size_t)c->width * sizeof(float)) : NULL;
        const int ok = scratch && want && (!strided || gathered);
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int64_t r = 0; r < count; r++) { /* every thread meets the worksharing loop, even one without memory */
            if (!ok) continue;
            c->oracle(c->ctx, rows[r], scratch, want);
            const float *got = c->got + (c->offset ? c->offset(c->ctx, rows[r]) : rows[r] * c->width);
            if (strided) {
                for (int64_t v = 0; v < c->width; v++) gathered[v] = got[v * c->stride];
                got = gathered;
            }
            mb_errors_add(&local, got, want, c->width);
        }
#pragma omp critical
        mb_errors_merge(out, &local);
        free(scratch);
        free(want);
        free(gathered);
    }
    if (failed) return mb_errorf(err, errlen, "out of memory in the oracle check");
    mb_errors_finish(out);
    return 0;
}

int mb_check_sampled(const struct mb_row_check *c, int64_t groups, int64_t n, int last_row_only,
                     const struct mb_check_opts *o, struct mb_errors *out, char *err, size_t errlen) {
    int64_t *rows;
    const int64_t count = mb_pick_rows(groups, n, last_row_only, o, &rows);
    if (count < 0) return mb_errorf(err, errlen, "out of memory picking the oracle rows");
    const int status = mb_check_rows(c, rows, count, out, err, errlen);
    free(rows);
    return status;
}
