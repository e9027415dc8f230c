/* The data.features.* families: layouts, deterministic fills and exact oracles of TensorFlow's FeatureColumn
 * transforms (formulas and sources in family_features.h).
 *
 *   bucketize: input (n, features) ~ N(0, 1), every 5th value set exactly to a boundary (ties go up),
 *              boundaries (rank - 1) evenly spaced in (-2.5, 2.5) -> out (n, features) bucket ids in [0, rank)
 *   hash:      ids (n, features) integers in [-10^6, 10^6] -> out (n, features) = Fingerprint64(decimal id) % rank
 *   cross:     ids (n, features) integers in [0, 1000), one value per feature -> out (n, 1) =
 *              FingerprintCat64 chain from 0xDECAFCAFFE over the row's ids (raw int64) % rank
 *   embedding: ids (n, features) in [-1, vocab), ~1/8 of them -1 (dropped), weight (vocab, rank) ~ N(0, 1/rank)
 *              (TF's initializer scale 1/sqrt(dim), not truncated here) -> out (n, rank) combined per row
 * Oracles: bucketize by a linear count of boundaries <= x; hash via snprintf("%lld") and Fingerprint64; cross the
 * chain in the order of the features; embedding in double. Integer outputs are exact (tolerance ~0). */
#include "data/family_features.h"

#include "core/check.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

#define FC_EXACT_TOL 1e-12 /* integer outputs: any wrong id fails */

/* ------------------------------------------------------------------------------------------- shared helpers */
double mb_fc_io_bytes(const struct mb_point *p, double out_values) {
    return 4.0 * ((double)p->n * (double)p->features + out_values);
}

double mb_fc_no_workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p MB_UNUSED) { return 0; }
double mb_fc_values(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return (double)p->n * (double)p->features;
}
double mb_fc_rows(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) { return (double)p->n; }

void mb_fc_row_range(int64_t n, int64_t *r0, int64_t *r1) {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    *r0 = n * t / nt;
    *r1 = n * (t + 1) / nt;
}

int64_t mb_fc_vocab(const struct mb_point *p) { return mb_param_int(p, "vocab"); }

/* splitmix64: the integer fills (seed, stream) -> the same ids every time */
static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* ids[i] uniform in [lo, lo + span) */
static void fill_ids(struct mb_tensor *t, uint64_t seed, uint64_t stream, int64_t lo, int64_t span) {
    uint64_t s = seed * 1000003u + stream;
    const int64_t count = mb_tensor_numel(t);
    for (int64_t i = 0; i < count; i++) t->data[i] = (float)(lo + (int64_t)(splitmix64(&s) % (uint64_t)span));
}

static int check_rows(const struct mb_workload *w, int64_t width, const void *ctx,
                      void (*oracle)(const void *, int64_t, double *, double *), const struct mb_check_opts *opts,
                      struct mb_errors *out, char *err, size_t errlen) {
    const struct mb_row_check c = {.width = width, .got = w->outputs[MB_FC_OUT].data, .oracle = oracle, .ctx = ctx};
    return mb_check_sampled(&c, 1, w->point.n, 0, opts, out, err, errlen);
}

static int size_ok(const struct mb_point *p, double width, char *err, size_t errlen) {
    const double elems = (double)p->n * (width > (double)p->features ? width : (double)p->features);
    if (elems > (double)MB_TENSOR_MAX_ELEMENTS)
        return mb_errorf(err, errlen, "n * max(features, output width) = %.0f elements exceeds 2^%d", elems,
                         MB_TENSOR_MAX_ELEMENTS_LOG2);
    return 0;
}

static const struct mb_axis_rule ids_axes[] = {
    {MB_AXIS_n, 4096, 1, 1 << 24}, {MB_AXIS_features, 8, 1, 1024}, {MB_AXIS_rank, 1000, 2, 1 << 24},
};
#define N_IDS_AXES ((int)(sizeof ids_axes / sizeof ids_axes[0]))

/* values/ids (n, features) -> out (n, out_width) */
static void layout_rows(struct mb_workload *w, const char *in_name, int64_t out_width, const char *out_dims) {
    const struct mb_point *p = &w->point;
    mb_tensor_set(&w->inputs[w->n_inputs++], in_name, "n,features", 2, p->n, p->features, 0, 0);
    mb_tensor_set(&w->outputs[w->n_outputs++], "out", out_dims, 2, p->n, out_width, 0, 0);
}

static int rows_from_inputs(struct mb_workload *w, const char *family, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[MB_FC_IN_VALUES];
    if (x->ndim != 2)
        return mb_errorf(err, errlen, "'%s' has %d dimensions; %s expects (n, features)", x->name, x->ndim, family);
    w->point.n = x->shape[0];
    w->point.features = x->shape[1];
    return 0;
}

/* ------------------------------------------------------------------------------------------- bucketize */
struct bucketize_ctx {
    const float *x, *boundaries;
    int64_t features, nb;
};

static void bucketize_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct bucketize_ctx *c = ctx;
    for (int64_t f = 0; f < c->features; f++) {
        const double x = c->x[row * c->features + f];
        int64_t count = 0;
        for (int64_t b = 0; b < c->nb; b++) count += (double)c->boundaries[b] <= x;
        want[f] = (double)count;
    }
}

static int bucketize_layout(struct mb_workload *w, char *err, size_t errlen) {
    if (size_ok(&w->point, (double)w->point.features, err, errlen)) return -1;
    layout_rows(w, "input", w->point.features, "n,features");
    mb_tensor_set(&w->inputs[w->n_inputs++], "boundaries", "buckets-1", 1, w->point.rank - 1, 0, 0, 0);
    return 0;
}

static void bucketize_fill(struct mb_workload *w) {
    struct mb_tensor *x = &w->inputs[MB_FC_IN_VALUES], *b = &w->inputs[MB_FC_IN_SECOND];
    const int64_t nb = b->shape[0];
    for (int64_t i = 0; i < nb; i++) b->data[i] = (float)(-2.5 + 5.0 * (double)(i + 1) / (double)(nb + 1));
    mb_fill_normal(x, w->seed, 0, 0, 1);
    const int64_t count = mb_tensor_numel(x);
    for (int64_t i = 0; i < count; i += 5) x->data[i] = b->data[(i / 5) % nb]; /* ties: equal to a boundary */
}

static int bucketize_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    if (rows_from_inputs(w, "data.features.bucketize", err, errlen)) return -1;
    const struct mb_tensor *b = &w->inputs[MB_FC_IN_SECOND];
    if (b->ndim != 1) return mb_errorf(err, errlen, "'boundaries' must be 1-D (buckets - 1), got %d dimensions", b->ndim);
    for (int64_t i = 1; i < b->shape[0]; i++)
        if (!(b->data[i - 1] < b->data[i]))
            return mb_errorf(err, errlen, "'boundaries' must be strictly increasing: [%lld] = %g >= [%lld] = %g",
                             (long long)i - 1, b->data[i - 1], (long long)i, b->data[i]);
    w->point.rank = b->shape[0] + 1;
    return 0;
}

static const struct mb_mechanism bucketize_mechanisms[] = {
    {"bucketize", "out = #{j : boundaries[j] <= x} (a value equal to a boundary goes up)", FC_EXACT_TOL,
     (void (*)(void))bucketize_oracle},
};

static int bucketize_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w,
                           const char *mechanism MB_UNUSED, const struct mb_check_opts *opts, struct mb_errors *out,
                           char *err, size_t errlen) {
    const struct bucketize_ctx c = {.x = w->inputs[MB_FC_IN_VALUES].data, .boundaries = w->inputs[MB_FC_IN_SECOND].data,
                                    .features = w->point.features, .nb = w->point.rank - 1};
    return check_rows(w, c.features, &c, bucketize_oracle, opts, out, err, errlen);
}

const struct mb_family mb_family_data_features_bucketize = {
    .name = "data.features.bucketize",
    .summary = "input (n, features), boundaries (buckets - 1) -> out (n, features): TF bucketized_column's bucket ids",
    .axes = ids_axes,
    .n_meaning = "batch: examples (rows) per call",
    .n_axes = N_IDS_AXES,
    .mechanisms = bucketize_mechanisms,
    .n_mechanisms = 1,
    .layout = bucketize_layout,
    .fill = bucketize_fill,
    .point_from_inputs = bucketize_point_from_inputs,
    .check = bucketize_check,
};

/* ------------------------------------------------------------------------------------------- hash */
struct ids_ctx {
    const float *ids;
    int64_t features;
    uint64_t buckets;
};

static void hash_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct ids_ctx *c = ctx;
    for (int64_t f = 0; f < c->features; f++) {
        char text[32];
        const int len = snprintf(text, sizeof text, "%lld", (long long)c->ids[row * c->features + f]);
        want[f] = (double)(mb_fingerprint64(text, (size_t)len) % c->buckets);
    }
}

static int hash_layout(struct mb_workload *w, char *err, size_t errlen) {
    if (size_ok(&w->point, (double)w->point.features, err, errlen)) return -1;
    layout_rows(w, "ids", w->point.features, "n,features");
    return 0;
}

static void hash_fill(struct mb_workload *w) { fill_ids(&w->inputs[MB_FC_IN_VALUES], w->seed, 1, -1000000, 2000001); }

static int ids_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[MB_FC_IN_VALUES];
    if (rows_from_inputs(w, "data.features", err, errlen)) return -1;
    const int64_t count = mb_tensor_numel(x);
    for (int64_t i = 0; i < count; i++)
        if (x->data[i] != floorf(x->data[i]) || fabsf(x->data[i]) > 16777216.0f)
            return mb_errorf(err, errlen, "'ids'[%lld] = %g is not an integer in [-2^24, 2^24]", (long long)i,
                             x->data[i]);
    if (!w->point.rank) w->point.rank = 1000;
    return 0;
}

static const struct mb_mechanism hash_mechanisms[] = {
    {"hash", "out = Fingerprint64(decimal(id)) % buckets (FarmHash)", FC_EXACT_TOL, (void (*)(void))hash_oracle},
};

static int hash_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism MB_UNUSED,
                      const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    const struct ids_ctx c = {.ids = w->inputs[MB_FC_IN_VALUES].data, .features = w->point.features,
                              .buckets = (uint64_t)w->point.rank};
    return check_rows(w, c.features, &c, hash_oracle, opts, out, err, errlen);
}

const struct mb_family mb_family_data_features_hash = {
    .name = "data.features.hash",
    .summary = "ids (n, features) -> out (n, features) = Fingerprint64(decimal id) % buckets: TF's hash bucket column",
    .axes = ids_axes,
    .n_meaning = "batch: examples (rows) per call",
    .n_axes = N_IDS_AXES,
    .probes = mb_features_probes,
    .n_probes = MB_FC_N_PROBES,
    .mechanisms = hash_mechanisms,
    .n_mechanisms = 1,
    .layout = hash_layout,
    .fill = hash_fill,
    .point_from_inputs = ids_point_from_inputs,
    .check = hash_check,
    .tools = mb_features_tools,
    .n_tools = MB_FC_N_TOOLS,
};

/* ------------------------------------------------------------------------------------------- cross */
/* An independent spelling of the chain: the formula of fingerprint.h written out step by step. */
static void cross_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct ids_ctx *c = ctx;
    const uint64_t mul = 0xc6a4a7935bd1e995ull;
    uint64_t h = 0xDECAFCAFFEull;
    for (int64_t f = 0; f < c->features; f++) {
        const uint64_t v = (uint64_t)(int64_t)c->ids[row * c->features + f];
        uint64_t a = v * mul;
        a ^= a >> 47;
        uint64_t r = (h ^ mul) ^ (a * mul);
        r *= mul;
        r ^= r >> 47;
        r *= mul;
        h = r ^ (r >> 47);
    }
    want[0] = (double)(h % c->buckets);
}

static int cross_layout(struct mb_workload *w, char *err, size_t errlen) {
    if (size_ok(&w->point, 1, err, errlen)) return -1;
    layout_rows(w, "ids", 1, "n,1");
    return 0;
}

static void cross_fill(struct mb_workload *w) { fill_ids(&w->inputs[MB_FC_IN_VALUES], w->seed, 2, 0, 1000); }

static const struct mb_mechanism cross_mechanisms[] = {
    {"cross", "out = FingerprintCat64 chain from 0xDECAFCAFFE over the row's ids % buckets", FC_EXACT_TOL,
     (void (*)(void))cross_oracle},
};

static int cross_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism MB_UNUSED,
                       const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    const struct ids_ctx c = {.ids = w->inputs[MB_FC_IN_VALUES].data, .features = w->point.features,
                              .buckets = (uint64_t)w->point.rank};
    return check_rows(w, 1, &c, cross_oracle, opts, out, err, errlen);
}

const struct mb_family mb_family_data_features_cross = {
    .name = "data.features.cross",
    .summary = "ids (n, features) -> out (n, 1): TF crossed_column of the features' ids (FingerprintCat64 % buckets)",
    .axes = ids_axes,
    .n_meaning = "batch: examples (rows) per call",
    .n_axes = N_IDS_AXES,
    .mechanisms = cross_mechanisms,
    .n_mechanisms = 1,
    .layout = cross_layout,
    .fill = cross_fill,
    .point_from_inputs = ids_point_from_inputs,
    .check = cross_check,
};

/* ------------------------------------------------------------------------------------------- embedding */
static const struct mb_axis_rule embedding_axes[] = {
    {MB_AXIS_n, 4096, 1, 1 << 24}, {MB_AXIS_features, 8, 1, 1024}, {MB_AXIS_rank, 16, 1, 4096},
};
static const struct mb_param_decl embedding_params[MB_FC_EMBEDDING_PARAMS_COUNT] = {
    {"vocab", MB_PARAM_INT, 1000, 1, 1 << 24, NULL, "rows of the embedding table (ids in [-1, vocab))"},
    {"combiner", MB_PARAM_ENUM, MB_FC_MEAN, 0, 0, MB_FC_COMBINERS, "how a row's embeddings combine (TF default mean)"},
};

struct embedding_ctx {
    const float *ids, *table;
    int64_t features, dim, vocab;
    enum mb_fc_combiner combiner;
};

static void embedding_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct embedding_ctx *c = ctx;
    double count = 0;
    for (int64_t j = 0; j < c->dim; j++) want[j] = 0;
    for (int64_t f = 0; f < c->features; f++) {
        const int64_t id = (int64_t)c->ids[row * c->features + f];
        if (id < 0) continue;
        count += 1;
        for (int64_t j = 0; j < c->dim; j++) want[j] += (double)c->table[id * c->dim + j];
    }
    const double scale = count == 0 ? 0 : c->combiner == MB_FC_SUM ? 1 : c->combiner == MB_FC_MEAN ? 1 / count
                                                                                                      : 1 / sqrt(count);
    for (int64_t j = 0; j < c->dim; j++) want[j] *= scale;
}

static int embedding_layout(struct mb_workload *w, char *err, size_t errlen) {
    const int64_t vocab = mb_fc_vocab(&w->point);
    if (size_ok(&w->point, (double)w->point.rank, err, errlen)) return -1;
    if ((double)vocab * (double)w->point.rank > (double)MB_TENSOR_MAX_ELEMENTS)
        return mb_errorf(err, errlen, "vocab * rank = %.0f elements exceeds 2^%d", (double)vocab * (double)w->point.rank,
                         MB_TENSOR_MAX_ELEMENTS_LOG2);
    layout_rows(w, "ids", w->point.rank, "n,dim");
    mb_tensor_set(&w->inputs[w->n_inputs++], "weight", "vocab,dim", 2, vocab, w->point.rank, 0, 0);
    return 0;
}

static void embedding_fill(struct mb_workload *w) {
    struct mb_tensor *ids = &w->inputs[MB_FC_IN_VALUES], *table = &w->inputs[MB_FC_IN_SECOND];
    const int64_t vocab = table->shape[0];
    fill_ids(ids, w->seed, 3, 0, vocab);
    const int64_t count = mb_tensor_numel(ids);
    for (int64_t i = 3; i < count; i += 8) ids->data[i] = -1; /* dropped ids */
    mb_fill_normal(table, w->seed, 4, 0, 1 / sqrt((double)table->shape[1]));
}

static int embedding_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    if (rows_from_inputs(w, "data.features.embedding", err, errlen)) return -1;
    const struct mb_tensor *ids = &w->inputs[MB_FC_IN_VALUES], *table = &w->inputs[MB_FC_IN_SECOND];
    if (table->ndim != 2) return mb_errorf(err, errlen, "'weight' must be (vocab, dim), got %d dimensions", table->ndim);
    const int64_t count = mb_tensor_numel(ids);
    for (int64_t i = 0; i < count; i++)
        if (ids->data[i] != floorf(ids->data[i]) || ids->data[i] >= (float)table->shape[0] || ids->data[i] < -1e9f)
            return mb_errorf(err, errlen, "'ids'[%lld] = %g is not an integer id below vocab = %lld", (long long)i,
                             ids->data[i], (long long)table->shape[0]);
    w->point.rank = table->shape[1];
    char vocab[32];
    snprintf(vocab, sizeof vocab, "%lld", (long long)table->shape[0]);
    if (mb_param_set(&w->point, "vocab", vocab)) return mb_errorf(err, errlen, "no 'vocab' parameter");
    return 0;
}

static const struct mb_mechanism embedding_mechanisms[] = {
    {"embedding", "out[r] = combiner over ids >= 0 of weight[id] (sum | mean | sqrtn); empty rows give zeros", 1e-5,
     (void (*)(void))embedding_oracle},
};

static int embedding_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w,
                           const char *mechanism MB_UNUSED, const struct mb_check_opts *opts, struct mb_errors *out,
                           char *err, size_t errlen) {
    const struct embedding_ctx c = {.ids = w->inputs[MB_FC_IN_VALUES].data, .table = w->inputs[MB_FC_IN_SECOND].data,
                                    .features = w->point.features, .dim = w->point.rank,
                                    .vocab = mb_fc_vocab(&w->point),
                                    .combiner = (enum mb_fc_combiner)mb_param_enum(&w->point, "combiner")};
    return check_rows(w, c.dim, &c, embedding_oracle, opts, out, err, errlen);
}

const struct mb_family mb_family_data_features_embedding = {
    .name = "data.features.embedding",
    .summary = "ids (n, features), weight (vocab, dim) -> out (n, dim): TF embedding_column lookup + combiner",
    .axes = embedding_axes,
    .n_meaning = "batch: examples (rows) per call",
    .n_axes = (int)(sizeof embedding_axes / sizeof embedding_axes[0]),
    .params = embedding_params,
    .n_params = MB_FC_EMBEDDING_PARAMS_COUNT,
    .mechanisms = embedding_mechanisms,
    .n_mechanisms = 1,
    .layout = embedding_layout,
    .fill = embedding_fill,
    .point_from_inputs = embedding_point_from_inputs,
    .check = embedding_check,
};
