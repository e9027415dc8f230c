/* data.features.hash.farmhash (alias data.features.hash): TF categorical_column_with_hash_bucket on int64 ids.
 *
 *   out[r, f] = Fingerprint64(as_string(ids[r, f])) % buckets      (FarmHash Fingerprint64 of the decimal text)
 * The id is written as decimal text into a stack buffer (no snprintf), hashed by FarmHash, reduced mod buckets.
 * OpenMP over values. Source: TensorFlow feature_column_v2.py HashedCategoricalColumn (as_string then
 * string_to_hash_bucket_fast), core/kernels/string_to_hash_bucket_op.h (Fingerprint64 % num_buckets). */
#include "data/family_features.h"

#include <stdlib.h>

struct state {
    const float *ids;
    float *out;
    int64_t count;
    uint64_t buckets;
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **out, struct mb_workload *w, char *err, size_t errlen) {
    struct state *s = malloc(sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    *s = (struct state){.ids = w->inputs[MB_FC_IN_VALUES].data, .out = w->outputs[MB_FC_OUT].data,
                        .count = w->point.n * w->point.features, .buckets = (uint64_t)w->point.rank};
    *out = s;
    return 0;
}

static void run(void *state) {
    const struct state *s = state;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < s->count; i++) s->out[i] = (float)(mb_fc_hash_int((int64_t)s->ids[i]) % s->buckets);
}

static double flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p MB_UNUSED) { return 0; }

static double bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return mb_fc_io_bytes(p, (double)p->n * (double)p->features);
}

const struct mb_kernel mb_kernel_data_features_hash_farmhash = {
    .name = "data.features.hash.farmhash",
    .aliases = "data.features.hash",
    .family = &mb_family_data_features_hash,
    .mechanism = "hash",
    .summary = "hash bucket of int64 ids: FarmHash Fingerprint64 of the decimal text % buckets, OpenMP over values",
    .complexity = "O(n features) time, O(1) workspace",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(features) | MB_AXIS_BIT(rank),
    .rank_meaning = "hash buckets B",
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
