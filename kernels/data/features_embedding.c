/* data.features.embedding.gather (alias data.features.embedding): TF embedding_column's lookup and combiner.
 *
 *   out[r] = s * sum_{f : ids[r, f] >= 0} weight[ids[r, f]],  s = 1 (sum), 1/c (mean), 1/sqrt(c) (sqrtn),
 *   c = the number of kept ids; a row with none gives zeros (safe_embedding_lookup_sparse, unit weights).
 * Gather + sum: each kept id adds its table row into a float accumulator of dim values (a contiguous loop the
 * compiler vectorises with AVX-512), then one scale. OpenMP over rows.
 * Source: TensorFlow embedding_ops.py safe_embedding_lookup_sparse / embedding_lookup_sparse (combiners). */
#include "data/family_features.h"

#include <stdlib.h>

struct state {
    const float *ids, *table;
    float *out;
    int64_t n, features, dim;
    enum mb_fc_combiner combiner;
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **out, struct mb_workload *w, char *err, size_t errlen) {
    struct state *s = malloc(sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    *s = (struct state){.ids = w->inputs[MB_FC_IN_VALUES].data, .table = w->inputs[MB_FC_IN_SECOND].data,
                        .out = w->outputs[MB_FC_OUT].data, .n = w->point.n, .features = w->point.features,
                        .dim = w->point.rank, .combiner = (enum mb_fc_combiner)mb_param_enum(&w->point, "combiner")};
    *out = s;
    return 0;
}

static void run(void *state) {
    const struct state *s = state;
    const int64_t dim = s->dim;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < s->n; r++) {
        float *restrict acc = s->out + r * dim;
        for (int64_t j = 0; j < dim; j++) acc[j] = 0;
        double kept = 0;
        for (int64_t f = 0; f < s->features; f++) {
            const int64_t id = (int64_t)s->ids[r * s->features + f];
            if (id < 0) continue;
            const float *restrict row = s->table + id * dim;
            for (int64_t j = 0; j < dim; j++) acc[j] += row[j];
            kept += 1;
        }
        const float scale = (float)mb_fc_combiner_scale(s->combiner, kept, kept);
        for (int64_t j = 0; j < dim; j++) acc[j] *= scale;
    }
}

static double flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return (double)p->n * ((double)p->features + 1) * (double)p->rank;
}

static double bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    /* ids, the gathered rows (each read once per use) and out */
    return mb_fc_io_bytes(p, (double)p->n * (double)p->rank) + 4.0 * (double)p->n * (double)p->features * (double)p->rank;
}

const struct mb_kernel mb_kernel_data_features_embedding_gather = {
    .name = "data.features.embedding.gather",
    .aliases = "data.features.embedding",
    .family = &mb_family_data_features_embedding,
    .mechanism = "embedding",
    .summary = "embedding lookup: gather the table rows of a row's ids >= 0, sum, scale by the combiner; OpenMP rows",
    .complexity = "O(n features dim) time, O(1) workspace",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(features) | MB_AXIS_BIT(rank),
    .rank_meaning = "embedding dimension",
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
