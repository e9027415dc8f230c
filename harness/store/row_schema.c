/* The columns of struct mb_row in /points order (row_schema.h): leading columns, one per axis, trailing. */
#include "store/row_schema.h"

#include <inttypes.h>
#include <stdio.h>

#define C(name, type, field) {name, type, offsetof(struct mb_row, field), sizeof(((struct mb_row *)0)->field)}
static const struct mb_column leading[] = {
    C("point_id", MB_COL_I64, point_id),
    C("kernel", MB_COL_STR, kernel),
    C("family", MB_COL_STR, family),
    C("source_hash", MB_COL_STR, source_hash),
};
static const struct mb_column trailing[] = {
    C("params", MB_COL_STR, point.params),
    C("iterations", MB_COL_I64, iterations),
    C("repetitions", MB_COL_I64, repetitions),
    C("time_mean", MB_COL_F64, time_mean),
    C("time_median", MB_COL_F64, time_median),
    C("time_min", MB_COL_F64, time_min),
    C("time_max", MB_COL_F64, time_max),
    C("time_stddev", MB_COL_F64, time_stddev),
    C("time_cv", MB_COL_F64, time_cv),
    C("flops", MB_COL_F64, flops),
    C("bytes", MB_COL_F64, bytes),
    C("gflops", MB_COL_F64, gflops),
    C("gbps", MB_COL_F64, gbps),
    C("workspace_bytes", MB_COL_F64, workspace_bytes),
    C("input_bytes", MB_COL_F64, input_bytes),
    C("items", MB_COL_F64, items),
    C("items_per_second", MB_COL_F64, items_per_second),
    C("items_unit", MB_COL_STR, items_unit),
    C("own_max_abs", MB_COL_F64, own.max_abs),
    C("own_rel_l2", MB_COL_F64, own.rel_l2),
    C("own_nmse", MB_COL_F64, own.nmse),
    C("own_checked", MB_COL_I64, own.checked),
    C("exact_max_abs", MB_COL_F64, exact.max_abs),
    C("exact_rel_l2", MB_COL_F64, exact.rel_l2),
    C("exact_nmse", MB_COL_F64, exact.nmse),
    C("exact_checked", MB_COL_I64, exact.checked),
    C("task_score", MB_COL_F64, task_score),
    C("tolerance", MB_COL_F64, tolerance),
    C("verdict", MB_COL_VERDICT, verdict),
    C("message", MB_COL_STR, message),
    C("started", MB_COL_F64, started),
    C("round", MB_COL_I64, round),
    C("host", MB_COL_STR, host),
    C("mpi_rank", MB_COL_I64, mpi_rank),
};
#undef C

#define N_LEADING (int)(sizeof leading / sizeof leading[0])
#define N_TRAILING (int)(sizeof trailing / sizeof trailing[0])

int mb_row_column_count(void) { return N_LEADING + MB_AXIS_COUNT + N_TRAILING; }

struct mb_column mb_row_column(int i) {
    if (i < N_LEADING) return leading[i];
    if (i < N_LEADING + MB_AXIS_COUNT) {
        const int axis = i - N_LEADING;
        return (struct mb_column){mb_axes[axis].name, MB_COL_AXIS, (size_t)axis, 8};
    }
    return trailing[i - N_LEADING - MB_AXIS_COUNT];
}

void mb_row_cell(const struct mb_row *r, const struct mb_column *c, char *buf, size_t len) {
    const char *base = (const char *)r + c->offset;
    switch (c->type) {
    case MB_COL_I64: snprintf(buf, len, "%" PRId64, *(const int64_t *)base); break;
    case MB_COL_F64: snprintf(buf, len, "%.15g", *(const double *)base); break;
    case MB_COL_STR: snprintf(buf, len, "%s", base); break;
    case MB_COL_AXIS:
        mb_axis_value_format((int)c->offset, mb_point_get(&r->point, (enum mb_axis)c->offset), buf, len);
        break;
    case MB_COL_VERDICT: {
        enum mb_verdict v = *(const enum mb_verdict *)base;
        snprintf(buf, len, "%s", v >= 0 && v < MB_VERDICT_COUNT ? mb_verdict_names[v] : "?");
        break;
    }
    }
}
