/* data.features.cross.fingerprint (alias data.features.cross): TF crossed_column of integer id features.
 *
 *   h = 0xDECAFCAFFE; for f in features: h = FingerprintCat64(h, (uint64) ids[r, f]); out[r] = h % buckets
 * One value per feature, so the cartesian product of a row is the single tuple of its ids; integer ids enter raw
 * (sparse_cross_op.cc SparseTensorColumn<int64>::Feature returns the int64 itself, strings their Fingerprint64).
 * Source: TensorFlow core/kernels/sparse_cross_op.cc (HashCrosser::Generate), core/platform/fingerprint.h. */
#include "data/family_features.h"

#include <stdlib.h>

struct state {
    const float *ids;
    float *out;
    int64_t n, features;
    uint64_t buckets;
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **out, struct mb_workload *w, char *err, size_t errlen) {
    struct state *s = malloc(sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    *s = (struct state){.ids = w->inputs[MB_FC_IN_VALUES].data, .out = w->outputs[MB_FC_OUT].data, .n = w->point.n,
                        .features = w->point.features, .buckets = (uint64_t)w->point.rank};
    *out = s;
    return 0;
}

static void run(void *state) {
    const struct state *s = state;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < s->n; r++) {
        uint64_t h = MB_FC_CROSS_HASH_KEY;
        for (int64_t f = 0; f < s->features; f++)
            h = mb_fc_fingerprint_cat64(h, (uint64_t)(int64_t)s->ids[r * s->features + f]);
        s->out[r] = (float)(h % s->buckets);
    }
}

static double flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 6.0 * (double)p->n * (double)p->features; /* 64-bit multiplies per FingerprintCat64 (4) + the mod */
}

static double bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return mb_fc_io_bytes(p, (double)p->n);
}

const struct mb_kernel mb_kernel_data_features_cross_fingerprint = {
    .name = "data.features.cross.fingerprint",
    .aliases = "data.features.cross",
    .family = &mb_family_data_features_cross,
    .mechanism = "cross",
    .summary = "crossed column: FingerprintCat64 chain from 0xDECAFCAFFE over a row's ids % buckets, OpenMP over rows",
    .complexity = "O(n features) time, O(1) workspace",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(features) | MB_AXIS_BIT(rank),
    .rank_meaning = "hash buckets B of the cross",
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = free,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = mb_fc_no_workspace,
    .items = mb_fc_rows,
    .items_unit = "rows",
};
