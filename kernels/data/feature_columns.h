/* TensorFlow FeatureColumns from a spec file, applied to parsed examples: the dense input layer
 * (tf.keras.layers.DenseFeatures / input_layer) with TensorFlow's exact semantics.
 *
 * Spec: an INI file, one [section] per column, the section name being the column's name:
 *   [age]        type = numeric; key = age (default: the name); shape = 1; default = 30; mean = 40; std = 10
 *                -> (x - mean) / std (the normalizer_fn); FixedLenFeature float: a missing feature takes `default`
 *                   or is an error, an int64 or bytes feature is a wrong type
 *   [age_b]      type = bucketized; source = age (a numeric column); boundaries = 18, 25, 30 (strictly increasing)
 *                -> bucket = #{boundaries <= normalised x} (a tie goes up); dense: one-hot of len(boundaries) + 1
 *   [id]         type = identity; num_buckets = 5; default = 0 (optional) -> the int64 ids; one out of [0, 5) is an
 *                   error naming the record, or `default` (categorical_column_with_identity)
 *   [city]       type = vocabulary_list; vocabulary = NY, SF; num_oov = 2 (or default = -1 when num_oov = 0);
 *                dtype = string|int64 -> index in the list, else vocab_size + Fingerprint64(text) % num_oov
 *   [cityf]      type = vocabulary_file; vocabulary_file = FILE (one entry a line, relative to the spec) ...
 *   [h]          type = hash_bucket; buckets = 100; dtype = string|int64 -> Fingerprint64(text) % buckets
 *                   (int64 ids hashed as their decimal text)
 *   [x]          type = crossed; keys = city, age_b; buckets = 1000 -> a FingerprintCat64 chain per tuple of the
 *                   cartesian product (family_features.h); a key naming a categorical column contributes its ids raw,
 *                   another key a bytes feature, each value as Fingerprint64; hash_bucket columns are refused (TF)
 *   [w]          type = weighted; categorical = id; weight = id_w (a float feature, one weight per id)
 *   [city_ind]   type = indicator; categorical = city -> multi-hot counts (weighted: summed weights); ids outside
 *                   [0, num_buckets) (e.g. a vocabulary's -1) add nothing
 *   [city_emb]   type = embedding; categorical = city; dimension = 4; combiner = sum|mean|sqrtn (default mean);
 *                seed = 42 -> the table N(0, 1/dimension) from (seed); ids < 0 and weights <= 0 dropped
 *                   (safe_embedding_lookup_sparse); a row left empty gives zeros
 * Categorical features are VarLenFeatures (make_parse_example_spec): a missing one is an empty list, no value is
 * dropped before the column sees it. The dense layer concatenates the dense columns (numeric, bucketized,
 * indicator, embedding) sorted by name (strcmp, as Python's sorted of column.name).
 * Errors: spec errors "FILE:LINE: ..."; record errors "record R: column 'c': ...". */
#ifndef MB_DATA_FEATURE_COLUMNS_H
#define MB_DATA_FEATURE_COLUMNS_H

#include "data/family_features.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------- records */
enum mb_fc_dtype { MB_FC_FLOAT, MB_FC_INT64, MB_FC_BYTES };
struct mb_fc_feature {
    const char *key;
    enum mb_fc_dtype type;
    int64_t count;
    const float *floats;
    const int64_t *ints;
    const char *const *bytes; /* count strings of lens[i] bytes */
    const size_t *lens;
};
struct mb_fc_record {
    const struct mb_fc_feature *features;
    int n_features;
};

/* ------------------------------------------------------------------------------------------- spec */
enum mb_fc_type { MB_FC_NUMERIC, MB_FC_BUCKETIZED, MB_FC_IDENTITY, MB_FC_VOCAB_LIST, MB_FC_VOCAB_FILE, MB_FC_HASH,
                  MB_FC_CROSSED, MB_FC_WEIGHTED, MB_FC_INDICATOR, MB_FC_EMBEDDING, MB_FC_TYPE_COUNT };
#define MB_FC_NAME_LEN 64
#define MB_FC_MAX_KEYS 8
#define MB_FC_MAX_IDS 4096 /* ids of one column in one record (crossed: the product) */

struct mb_fc_column {
    char name[MB_FC_NAME_LEN];
    enum mb_fc_type type;
    int line;                        /* of its [section] */
    char key[MB_FC_NAME_LEN];        /* the feature read (numeric, identity, vocabulary, hash) */
    int64_t shape;                   /* numeric: values per example */
    int has_default;
    double default_value;
    double mean, std;                /* numeric normaliser */
    double *boundaries;
    int64_t n_boundaries;
    int64_t buckets;                 /* identity num_buckets, hash and crossed buckets */
    int int64_input;                 /* vocabulary / hash: dtype = int64 */
    char **vocab;
    int64_t vocab_size, num_oov;
    int n_keys;                      /* crossed keys, or the one source / categorical */
    char keys[MB_FC_MAX_KEYS][MB_FC_NAME_LEN];
    int key_column[MB_FC_MAX_KEYS];  /* index of the column a key names, -1: a raw bytes feature */
    char weight_key[MB_FC_NAME_LEN];
    int64_t dimension;
    enum mb_fc_combiner combiner;
    uint64_t seed;
    float *table;                    /* embedding (num_buckets of its categorical, dimension) */
    int64_t width, offset;           /* dense columns: width and offset in the dense row; else 0 */
};

struct mb_fc_spec {
    char path[512];
    int n_columns;
    struct mb_fc_column *columns;
    int n_dense;
    int *dense;                      /* dense columns' indices sorted by name */
    int64_t width;                   /* of the dense row */
};

/* Read and check a spec. Returns 0 or -1 with "FILE:LINE: ..." (*out NULL). */
int mb_fc_spec_load(const char *path, struct mb_fc_spec **out, char *err, size_t errlen);
void mb_fc_spec_free(struct mb_fc_spec *s);
/* The column called name, or -1. */
int mb_fc_column_find(const struct mb_fc_spec *s, const char *name);
/* Ids (and weights: 1 unless weighted) of categorical column c for one record; *count set. Returns 0 or -1 with
   "record R: column 'c': ..." (R = index). ids and weights hold MB_FC_MAX_IDS. */
int mb_fc_categorical(const struct mb_fc_spec *s, int c, const struct mb_fc_record *rec, int64_t index, int64_t *ids,
                      double *weights, int64_t *count, char *err, size_t errlen);
/* The number of ids of categorical column c (its one-hot width). */
int64_t mb_fc_num_buckets(const struct mb_fc_spec *s, int c);
/* The dense row (s->width values) of one record. Returns 0 or -1 with "record R: column 'c': ...". */
int mb_fc_dense_row(const struct mb_fc_spec *s, const struct mb_fc_record *rec, int64_t index, double *row, char *err,
                    size_t errlen);

#endif
