/* Rows of a results file, read back for plots and exports: loading, which rows were measured, which axes vary,
 * and grouping rows into series (one per kernel and combination of the varying axes, points sorted by x). */
#ifndef MB_ROWS_H
#define MB_ROWS_H

#include "core/mechbench.h"
#include "store/store.h"

/* A results file opened for reading: every /points row (samples not loaded) and the store (attributes, samples).
   The rounds of a point (sweep --rounds: one row per round) are merged into one row (its `rounds` = their count)
   whose times come from the pooled samples of every round, and mb_store_read_samples(store, row.point_id) returns
   those pooled samples; a point's rows beyond the last of each round, and rounds that did not run, are left out. */
struct mb_results {
    struct mb_store *store;
    struct mb_row *rows;
    int64_t count;
};
int mb_results_load(const char *path, struct mb_results *r, char *err, size_t errlen);
void mb_results_close(struct mb_results *r);

/* Verdict pass or fail: the point ran, its times and errors are valid. */
int mb_row_measured(const struct mb_row *r);

/* Mask of the axes whose value differs between rows; *params_vary (may be NULL) = params differ. */
uint64_t mb_rows_varying(const struct mb_row *const *rows, int64_t count, int *params_vary);

/* "causal=0 threads=2": the axes in mask in axis order, then params when with_params. Zero values are skipped
   (0 = the axis is not read) except for BOOL axes, whose 0 is a value. */
void mb_series_key(const struct mb_point *p, uint64_t mask, int with_params, char *buf, size_t len);

struct mb_series {
    char kernel[MB_NAME_LEN];
    char key[192];                /* mb_series_key over the set's key mask (plus rank) */
    char label[MB_NAME_LEN + 192 + MB_PARAMS_LEN + 8]; /* "kernel axes params": params that differ between series */
    int count;
    const struct mb_row **rows;   /* one per x value, sorted by x */
};

struct mb_series_set {
    int x_axis;
    uint64_t key_mask; /* axes that tell series of one kernel apart (never x) */
    int key_params;    /* params tell them apart too */
    int count;
    struct mb_series *series; /* sorted by kernel name, then by the key axes' values */
};

/* Group rows into series: same kernel and same values on key_mask (and params when key_params). Within a
   series, a repeated x keeps the row appended last (highest point_id). Free with mb_series_free. */
int mb_series_group(const struct mb_row *const *rows, int64_t count, int x_axis, uint64_t key_mask, int key_params,
                    struct mb_series_set *set, char *err, size_t errlen);
void mb_series_free(struct mb_series_set *set);

/* x value of a row on axis x_axis. */
double mb_row_x(const struct mb_row *r, int x_axis);

#endif
