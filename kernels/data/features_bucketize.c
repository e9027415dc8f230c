/* data.features.bucketize.search (alias data.features.bucketize): TF bucketized_column's bucket ids.
 *
 *   out[r, f] = #{j : boundaries[j] <= input[r, f]}      (BucketizeOp: std::upper_bound; a tie goes up)
 * Branchless binary search (mb_fc_bucketize: the comparison selects the next base with a conditional move, no
 * mispredicted branch per level), OpenMP over rows. O(log buckets) per value.
 * Source: TensorFlow core/kernels/bucketize_op.cc; feature_column_v2.py bucketized_column. */
#include "data/family_features.h"

#include <stdlib.h>

struct state {
    const float *x, *boundaries;
    float *out;
    int64_t n, features, nb;
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **out, struct mb_workload *w, char *err, size_t errlen) {
    struct state *s = malloc(sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    *s = (struct state){.x = w->inputs[MB_FC_IN_VALUES].data, .boundaries = w->inputs[MB_FC_IN_SECOND].data,
                        .out = w->outputs[MB_FC_OUT].data, .n = w->point.n, .features = w->point.features,
                        .nb = w->point.rank - 1};
    *out = s;
    return 0;
}

static void run(void *state) {
    const struct state *s = state;
    const int64_t total = s->n * s->features;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < total; i++) s->out[i] = (float)mb_fc_bucketize(s->boundaries, s->nb, s->x[i]);
}

static double flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return (double)p->n * (double)p->features * ceil(log2((double)p->rank)); /* comparisons */
}

static double bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return mb_fc_io_bytes(p, (double)p->n * (double)p->features) + 4.0 * (double)(p->rank - 1);
}

const struct mb_kernel mb_kernel_data_features_bucketize_search = {
    .name = "data.features.bucketize.search",
    .aliases = "data.features.bucketize",
    .family = &mb_family_data_features_bucketize,
    .mechanism = "bucketize",
    .summary = "bucket ids by branchless binary search over the sorted boundaries (a tie goes up), OpenMP over rows",
    .complexity = "O(n features log buckets) time, O(1) workspace",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(features) | MB_AXIS_BIT(rank),
    .rank_meaning = "buckets (len(boundaries) + 1)",
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = free,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = mb_fc_no_workspace,
    .items = mb_fc_values,
    .items_unit = "values",
};
