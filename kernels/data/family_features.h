/* data.features.*: TensorFlow FeatureColumn transforms as kernels, and the exact helpers they share with the
 * spec-driven transforms of feature_columns.c (one definition of each formula).
 *
 * Families (one per tensor layout, as peft.*): data.features.bucketize, data.features.hash, data.features.cross,
 * data.features.embedding. Integer ids travel in float tensors (exact below 2^24; the fills stay below).
 * Sources: TensorFlow feature_column_v2.py (bucketized_column, categorical_column_with_hash_bucket, crossed_column,
 * embedding_column), core/kernels/sparse_cross_op.cc (HashCrosser), core/platform/fingerprint.h (FingerprintCat64),
 * embedding_ops.py (safe_embedding_lookup_sparse). */
#ifndef MB_DATA_FAMILY_FEATURES_H
#define MB_DATA_FAMILY_FEATURES_H

#include "core/mechbench.h"
#include "data/farmhash_shim.h"

#include <math.h>

/* crossed_column's hash key (feature_column_v2.py: sparse_cross_hashed(..., hash_key=None) -> 0xDECAFCAFFE,
   sparse_ops.py _DEFAULT_HASH_KEY). */
#define MB_FC_CROSS_HASH_KEY UINT64_C(0xDECAFCAFFE)

/* tensorflow/core/platform/fingerprint.h:
 *   ShiftMix(v) = v ^ (v >> 47)
 *   FingerprintCat64(fp1, fp2): kMul = 0xc6a4a7935bd1e995; r = fp1 ^ kMul; r ^= ShiftMix(fp2 * kMul) * kMul;
 *                               r *= kMul; r = ShiftMix(r) * kMul; r = ShiftMix(r)       (all mod 2^64) */
static inline uint64_t mb_fc_shift_mix(uint64_t v) { return v ^ (v >> 47); }
static inline uint64_t mb_fc_fingerprint_cat64(uint64_t fp1, uint64_t fp2) {
    const uint64_t k_mul = UINT64_C(0xc6a4a7935bd1e995);
    uint64_t r = fp1 ^ k_mul;
    r ^= mb_fc_shift_mix(fp2 * k_mul) * k_mul;
    r *= k_mul;
    r = mb_fc_shift_mix(r) * k_mul;
    return mb_fc_shift_mix(r);
}

/* v as decimal text (tf.strings.as_string of an int64: "-12"), no NUL; returns the length (<= 20). */
static inline int mb_fc_decimal(int64_t v, char *buf) {
    char rev[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do rev[n++] = (char)('0' + u % 10), u /= 10; while (u);
    int len = 0;
    if (v < 0) buf[len++] = '-';
    while (n) buf[len++] = rev[--n];
    return len;
}
/* categorical_column_with_hash_bucket on an int64 feature: Fingerprint64(as_string(v)). */
static inline uint64_t mb_fc_hash_int(int64_t v) {
    char buf[24];
    return mb_fingerprint64(buf, (size_t)mb_fc_decimal(v, buf));
}

/* Bucketize (math_ops._bucketize, BucketizeOp: std::upper_bound): the number of boundaries <= x, so a value equal
   to a boundary goes to the bucket above it. Branchless binary search over sorted boundaries[0..nb): a window
   [base, base + len) with every boundary before it <= x and every one after it > x halves each step (the comparison
   picks the new base by a conditional move; the trip count depends on nb only), then its one element decides. */
static inline int64_t mb_fc_bucketize(const float *boundaries, int64_t nb, float x) {
    if (nb == 0) return 0;
    const float *base = boundaries;
    int64_t len = nb;
    while (len > 1) {
        const int64_t half = len / 2;
        base = base[half] <= x ? base + half : base;
        len -= half;
    }
    return (base - boundaries) + (base[0] <= x);
}

/* Embedding combiners (embedding_ops.embedding_lookup_sparse): sum; mean = sum / sum(w); sqrtn = sum / sqrt(sum w^2).
   Ids < 0 and weights <= 0 are dropped first (safe_embedding_lookup_sparse); a row left empty gives zeros. */
enum mb_fc_combiner { MB_FC_SUM, MB_FC_MEAN, MB_FC_SQRTN };
#define MB_FC_COMBINERS "sum|mean|sqrtn"
/* The divisor of the combiner for weights summing to sum_w and squares to sum_w2 (0 when the row is empty). */
static inline double mb_fc_combiner_scale(enum mb_fc_combiner c, double sum_w, double sum_w2) {
    if (sum_w2 <= 0) return 0;
    return c == MB_FC_SUM ? 1.0 : c == MB_FC_MEAN ? 1.0 / sum_w : 1.0 / sqrt(sum_w2);
}

/* The families (family_features.c). */
extern const struct mb_family mb_family_data_features_bucketize, mb_family_data_features_hash,
    mb_family_data_features_cross, mb_family_data_features_embedding;
#define MB_FC_EMBEDDING_PARAMS_COUNT 2
/* features_probes.c: hash_occupancy (the birthday bound of hash buckets). */
#define MB_FC_N_PROBES 1
extern const struct mb_probe mb_features_probes[MB_FC_N_PROBES];
/* features_tool.c: `mechbench features apply` (the dense input layer of a spec over a TFRecord). */
#define MB_FC_N_TOOLS 1
extern const struct mb_tool mb_features_tools[MB_FC_N_TOOLS];
/* Tensor indices. */
enum { MB_FC_IN_VALUES = 0, MB_FC_IN_SECOND = 1, MB_FC_OUT = 0 };

/* Shared kernel bookkeeping: n x features inputs (4 bytes each) and the output tensor's bytes. */
double mb_fc_io_bytes(const struct mb_point *p, double out_values);
double mb_fc_no_workspace(const struct mb_kernel *k, const struct mb_point *p);
/* Items models: n features values (bucketize, hash: unit "values"), n rows (cross, embedding: unit "rows"). */
double mb_fc_values(const struct mb_kernel *k, const struct mb_point *p);
double mb_fc_rows(const struct mb_kernel *k, const struct mb_point *p);
/* Rows [*r0, *r1) of n for the calling OpenMP thread. */
void mb_fc_row_range(int64_t n, int64_t *r0, int64_t *r1);
/* Ids of the embedding's vocabulary: the family param "vocab"; combiner: the param "combiner". */
int64_t mb_fc_vocab(const struct mb_point *p);

#endif
