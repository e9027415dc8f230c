/* The columns of a result row (struct mb_row), in /points order: the one description of the row that the HDF5
 * store, `mechbench export` and `mechbench run --json` all use, so their column names and order agree. */
#ifndef MB_ROW_SCHEMA_H
#define MB_ROW_SCHEMA_H

#include "core/mechbench.h"

enum mb_col_type {
    MB_COL_I64,     /* int64_t field */
    MB_COL_F64,     /* double field */
    MB_COL_STR,     /* char[size] field, NUL-terminated */
    MB_COL_AXIS,    /* one axis of the point: offset is the axis index (int64 or double by the axis kind) */
    MB_COL_VERDICT, /* enum mb_verdict field, written as its name ("pass", "skipped-budget", ...) */
};

struct mb_column {
    const char *name;
    enum mb_col_type type;
    size_t offset; /* into struct mb_row (MB_COL_AXIS: the axis index) */
    size_t size;   /* bytes of the field */
};

int mb_row_column_count(void);
struct mb_column mb_row_column(int i); /* REQUIRES: 0 <= i < mb_row_column_count() */
/* The value of column c in row r as text (numbers with full precision, strings raw). */
void mb_row_cell(const struct mb_row *r, const struct mb_column *c, char *buf, size_t len);

#endif
