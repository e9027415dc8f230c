/* data.features: FarmHash Fingerprint64 test vectors, TensorFlow FeatureColumn outputs computed by hand for every
 * column type, spec errors with FILE:LINE, record errors naming the record, and the four kernels against their
 * oracles at odd shapes (n = 1, 37; 1 and 2 threads) with a wrong output caught.
 *
 * How the expected values were derived (no TensorFlow here):
 *  - Fingerprint64 of "a".."d": MECHANISMS.md G (FarmHash's published vectors as TensorFlow uses them).
 *  - hash_bucket(10): those fingerprints mod 10 by hand: a -> ...939 % 10 = 9, c -> ...872 % 10 = 2.
 *  - vocabulary [a, b] with 3 OOV buckets: c -> 2 + 11430444447143000872 % 3 = 2 + 1 = 3 (digit sum of c's
 *    fingerprint is 61, 61 % 3 = 1); d -> 2 + 4470636696479570465 % 3 = 2 + 2 = 4 (digit sum 98).
 *  - crossed: FingerprintCat64 of tensorflow/core/platform/fingerprint.h evaluated with Python integers (an
 *    independent implementation of the formula): cat(cat(0xDECAFCAFFE, Fp64("a")), 3) % 1000 = 486,
 *    cat(cat(0xDECAFCAFFE, Fp64("a")), 1) % 1000 = 485 (the same script);
 *    cat(cat(0xDECAFCAFFE, 1), 2) = 5036120653031601357 (ids crossed raw).
 *  - numeric (50 - 40) / 10 = 1; bucketized on the normalised value with boundaries -1, 0, 1: 1 -> bucket 3 (ties
 *    go up: #{b <= 1} = 3), the default 30 -> -1 -> bucket 1.
 *  - embedding: the table rows read from the spec's table, combined by hand per combiner. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mechbench.h"
#include "data/feature_columns.h"
#include "data/family_features.h"
#include "run/runner.h"

/* ------------------------------------------------------------------------------------------- hashing */
Test(data_features, fingerprint64_test_vectors) {
    cr_assert_eq(mb_fingerprint64("a", 1), UINT64_C(12917804110809363939));
    cr_assert_eq(mb_fingerprint64("b", 1), UINT64_C(11795596070477164822));
    cr_assert_eq(mb_fingerprint64("c", 1), UINT64_C(11430444447143000872));
    cr_assert_eq(mb_fingerprint64("d", 1), UINT64_C(4470636696479570465));
}

Test(data_features, fingerprint_cat64_and_decimal_ids) {
    const uint64_t h = mb_fc_fingerprint_cat64(mb_fc_fingerprint_cat64(MB_FC_CROSS_HASH_KEY, 1), 2);
    cr_assert_eq(h, UINT64_C(5036120653031601357));
    cr_assert_eq(h % 100, 57);
    char buf[24];
    cr_assert_eq(mb_fc_decimal(-9223372036854775807LL - 1, buf), 20);
    cr_assert(!memcmp(buf, "-9223372036854775808", 20));
    cr_assert_eq(mb_fc_decimal(0, buf), 1);
    cr_assert_eq(buf[0], '0');
    cr_assert_eq(mb_fc_hash_int(-12), mb_fingerprint64("-12", 3));
    cr_assert_neq(mb_fc_hash_int(12), mb_fingerprint64("-12", 3), "the sign is part of the text");
}

Test(data_features, bucketize_ties_go_up) {
    const float b[3] = {-1, 0, 1};
    const float xs[] = {-2, -1, -0.5f, 0, 0.5f, 1, 7};
    const int64_t want[] = {0, 1, 1, 2, 2, 3, 3};
    for (int i = 0; i < 7; i++) cr_assert_eq(mb_fc_bucketize(b, 3, xs[i]), want[i], "x = %g", xs[i]);
    cr_assert_eq(mb_fc_bucketize(b, 0, 5), 0, "no boundaries: one bucket");
    cr_assert_eq(mb_fc_bucketize(b, 1, -1), 1);
}

/* ------------------------------------------------------------------------------------------- spec files */
static char dir[] = "/tmp/mb_fc_XXXXXX";
static int dir_made; /* not "does dir still end in X": a made name ends in 'X' one time in 62 */

static const char *write_file(const char *name, const char *text) {
    static char path[256];
    if (!dir_made) cr_assert_not_null(mkdtemp(dir), "mkdtemp(%s): %s", dir, strerror(errno));
    dir_made = 1;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *SPEC =
    "[age]\ntype = numeric\ndefault = 30\nmean = 40\nstd = 10\n"
    "[age_b]\ntype = bucketized\nsource = age\nboundaries = -1, 0, 1\n"
    "[height]\ntype = numeric\n"
    "[id]\ntype = identity\nnum_buckets = 5\n"
    "[id_def]\ntype = identity\nkey = id2\nnum_buckets = 4\ndefault = 0\n"
    "[city]\ntype = vocabulary_list\nvocabulary = a, b\nnum_oov = 3\n"
    "[cityf]\ntype = vocabulary_file\nkey = city\nvocabulary_file = vocab.txt\n"
    "[cityh]\ntype = hash_bucket\nkey = city\nbuckets = 10\n"
    "[nh]\ntype = hash_bucket\nkey = num\ndtype = int64\nbuckets = 10\n"
    "[x]\ntype = crossed\nkeys = town, id\nbuckets = 1000\n"
    "[w]\ntype = weighted\ncategorical = id\nweight = id_w\n"
    "[city_ind]\ntype = indicator\ncategorical = city\n"
    "[id_ind]\ntype = indicator\ncategorical = id\n"
    "[w_ind]\ntype = indicator\ncategorical = w\n"
    "[city_emb]\ntype = embedding\ncategorical = city\ndimension = 3\ncombiner = sum\nseed = 7\n"
    "[w_emb]\ntype = embedding\ncategorical = w\ndimension = 2\ncombiner = sqrtn\n";

static struct mb_fc_spec *load_spec(void) {
    write_file("vocab.txt", "a\nb\n");
    const char *path = write_file("spec.ini", SPEC);
    struct mb_fc_spec *s;
    char err[512];
    cr_assert_eq(mb_fc_spec_load(path, &s, err, sizeof err), 0, "%s", err);
    return s;
}

/* record 0: age 50, height 1.5, id [3, 3, 1], city [a, c], town [a], id_w [0.5, 0.5, 2], num [1], id2 [9] */
static const float age50[] = {50}, height[] = {1.5f}, id_w[] = {0.5f, 0.5f, 2};
static const int64_t ids331[] = {3, 3, 1}, num1[] = {1}, id9[] = {9};
static const char *const city_ac[] = {"a", "c"}, *const town_a[] = {"a"};
static const size_t len11[] = {1, 1};
static const struct mb_fc_feature rec0_features[] = {
    {"age", MB_FC_FLOAT, 1, age50, NULL, NULL, NULL},      {"height", MB_FC_FLOAT, 1, height, NULL, NULL, NULL},
    {"id", MB_FC_INT64, 3, NULL, ids331, NULL, NULL},      {"city", MB_FC_BYTES, 2, NULL, NULL, city_ac, len11},
    {"town", MB_FC_BYTES, 1, NULL, NULL, town_a, len11},   {"id_w", MB_FC_FLOAT, 3, id_w, NULL, NULL, NULL},
    {"num", MB_FC_INT64, 1, NULL, num1, NULL, NULL},       {"id2", MB_FC_INT64, 1, NULL, id9, NULL, NULL},
};
static const struct mb_fc_record rec0 = {rec0_features, 8};
/* record 1: only height (age takes its default; categorical features are empty) and id_w empty */
static const struct mb_fc_feature rec1_features[] = {{"height", MB_FC_FLOAT, 1, height, NULL, NULL, NULL}};
static const struct mb_fc_record rec1 = {rec1_features, 1};

static void categorical(const struct mb_fc_spec *s, const char *name, const struct mb_fc_record *r, int64_t *ids,
                        double *w, int64_t *count) {
    char err[512];
    const int c = mb_fc_column_find(s, name);
    cr_assert_geq(c, 0, "%s", name);
    cr_assert_eq(mb_fc_categorical(s, c, r, 0, ids, w, count, err, sizeof err), 0, "%s", err);
}

Test(data_features_spec, categorical_columns_by_hand) {
    struct mb_fc_spec *s = load_spec();
    int64_t ids[MB_FC_MAX_IDS], n;
    double w[MB_FC_MAX_IDS];
    categorical(s, "city", &rec0, ids, w, &n);
    cr_assert(n == 2 && ids[0] == 0 && ids[1] == 3, "vocabulary: a -> 0, c -> 2 + Fp64(c) %% 3 = 3; got %lld", (long long)ids[1]);
    categorical(s, "cityf", &rec0, ids, w, &n);
    cr_assert(n == 2 && ids[0] == 0 && ids[1] == -1, "vocabulary file without OOV: c -> -1 (the default)");
    categorical(s, "cityh", &rec0, ids, w, &n);
    cr_assert(n == 2 && ids[0] == 9 && ids[1] == 2, "hash 10: a -> 9, c -> 2");
    categorical(s, "nh", &rec0, ids, w, &n);
    cr_assert(n == 1 && ids[0] == (int64_t)(mb_fingerprint64("1", 1) % 10), "an int64 id is hashed as its text");
    categorical(s, "id_def", &rec0, ids, w, &n);
    cr_assert(n == 1 && ids[0] == 0, "identity: 9 out of [0, 4) takes the default 0");
    categorical(s, "age_b", &rec0, ids, w, &n);
    cr_assert(n == 1 && ids[0] == 3, "bucketized (50 - 40) / 10 = 1 with boundaries -1, 0, 1 -> 3 (tie up)");
    categorical(s, "age_b", &rec1, ids, w, &n);
    cr_assert(n == 1 && ids[0] == 1, "the default 30 -> -1 -> bucket 1 (tie up)");
    categorical(s, "x", &rec0, ids, w, &n);
    cr_assert_eq(n, 3, "town [a] x id [3, 3, 1]: 3 tuples");
    cr_assert(ids[0] == 486 && ids[1] == 486, "cat(cat(0xDECAFCAFFE, Fp64(a)), 3) %% 1000 = 486, got %lld", (long long)ids[0]);
    cr_assert_eq(ids[2], 485, "cat(cat(0xDECAFCAFFE, Fp64(a)), 1) %% 1000 = 485, got %lld", (long long)ids[2]);
    categorical(s, "x", &rec1, ids, w, &n);
    cr_assert_eq(n, 0, "an empty key gives an empty cross");
    categorical(s, "w", &rec0, ids, w, &n);
    cr_assert(n == 3 && ids[2] == 1 && w[0] == 0.5 && w[2] == 2);
    mb_fc_spec_free(s);
}

Test(data_features_spec, dense_layer_by_hand) {
    struct mb_fc_spec *s = load_spec();
    /* sorted: age(1) age_b(4) city_emb(3) city_ind(5) height(1) id_ind(5) w_emb(2) w_ind(5) */
    cr_assert_eq(s->n_dense, 8);
    cr_assert_eq(s->width, 26);
    const char *order[] = {"age", "age_b", "city_emb", "city_ind", "height", "id_ind", "w_emb", "w_ind"};
    for (int d = 0; d < 8; d++) cr_assert_str_eq(s->columns[s->dense[d]].name, order[d]);
    double row[26], want[26] = {0};
    char err[512];
    cr_assert_eq(mb_fc_dense_row(s, &rec0, 0, row, err, sizeof err), 0, "%s", err);
    want[0] = 1;             /* (50 - 40) / 10 */
    want[1 + 3] = 1;         /* bucket 3 */
    const float *t = s->columns[mb_fc_column_find(s, "city_emb")].table;
    for (int j = 0; j < 3; j++) want[5 + j] = (double)t[0 * 3 + j] + (double)t[3 * 3 + j]; /* sum of rows 0 and 3 */
    want[8 + 0] = 1, want[8 + 3] = 1; /* a -> 0, c -> 3 */
    want[13] = 1.5;
    want[14 + 3] = 2, want[14 + 1] = 1; /* counts */
    const float *tw = s->columns[mb_fc_column_find(s, "w_emb")].table;
    for (int j = 0; j < 2; j++) /* sqrtn: (0.5 e3 + 0.5 e3 + 2 e1) / sqrt(0.25 + 0.25 + 4) */
        want[19 + j] = (1.0 * tw[3 * 2 + j] + 2.0 * tw[1 * 2 + j]) / sqrt(4.5);
    want[21 + 3] = 1, want[21 + 1] = 2; /* summed weights */
    for (int i = 0; i < 26; i++) cr_assert(fabs(row[i] - want[i]) < 1e-12, "[%d] %g, want %g", i, row[i], want[i]);
    /* record 1: default age, empty categorical rows: zeros (embedding of an empty row too) */
    cr_assert_eq(mb_fc_dense_row(s, &rec1, 1, row, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 26; i++) {
        const double w1 = i == 0 ? -1 : i == 1 + 1 ? 1 : i == 13 ? 1.5 : 0;
        cr_assert(fabs(row[i] - w1) < 1e-12, "record 1 [%d] %g, want %g", i, row[i], w1);
    }
    mb_fc_spec_free(s);
}

Test(data_features_spec, embedding_combiners_mean_and_dropped_ids) {
    write_file("vocab.txt", "a\nb\n");
    const char *path = write_file("emb.ini", "[c]\ntype = vocabulary_list\nvocabulary = a, b, c\n"
                                             "[e]\ntype = embedding\ncategorical = c\ndimension = 4\n");
    struct mb_fc_spec *s;
    char err[512];
    cr_assert_eq(mb_fc_spec_load(path, &s, err, sizeof err), 0, "%s", err);
    static const char *const v[] = {"c", "zz", "a"};
    static const size_t lens[] = {1, 2, 1};
    const struct mb_fc_feature f = {"c", MB_FC_BYTES, 3, NULL, NULL, v, lens};
    const struct mb_fc_record r = {&f, 1};
    double row[4];
    cr_assert_eq(mb_fc_dense_row(s, &r, 0, row, err, sizeof err), 0, "%s", err);
    const float *t = s->columns[1].table;
    for (int j = 0; j < 4; j++) /* mean (the default) over c and a; "zz" -> -1 dropped */
        cr_assert(fabs(row[j] - ((double)t[2 * 4 + j] + t[0 * 4 + j]) / 2) < 1e-12);
    /* the table: N(0, 1/4) from seed 42, so not all zero and about the right scale */
    double ss = 0;
    for (int i = 0; i < 12; i++) ss += (double)t[i] * t[i];
    cr_assert(ss > 0.05 && ss < 20, "table scale %g", ss);
    mb_fc_spec_free(s);
}

static void spec_error(const char *text, const char *want) {
    const char *path = write_file("bad.ini", text);
    struct mb_fc_spec *s = (void *)1;
    char err[512];
    cr_assert_eq(mb_fc_spec_load(path, &s, err, sizeof err), -1, "accepted: %s", text);
    cr_assert_null(s);
    cr_assert(strstr(err, want), "'%s' not in '%s'", want, err);
    cr_assert(strstr(err, "bad.ini"), "%s", err);
}

Test(data_features_spec, spec_errors_name_file_and_line) {
    spec_error("[a]\ntype = numeric\n[b]\ntype = bucket\n", "bad.ini:4: type = 'bucket'");
    spec_error("[a]\ntype = numeric\n[b]\ntype = bucketized\nsource = a\nboundaries = 1, 3, 2\n",
               "bad.ini:6: boundaries: item 3");
    spec_error("[a]\ntype = identity\nnum_buckets = 3\n[b]\ntype = bucketized\nsource = a\nboundaries = 1\n",
               "bad.ini:4: column [b] (bucketized) needs source = a numeric column");
    spec_error("[a]\ntype = identity\nnum_buckets = 3\ndefault = 3\n[i]\ntype = indicator\ncategorical = a\n",
               "bad.ini:1: column [a]: default = 3 is not an id in [0, 3)");
    spec_error("[a]\ntype = numeric\nmean = x\n", "bad.ini:3: mean = 'x'");
    spec_error("[h]\ntype = hash_bucket\nbuckets = 4\n[x]\ntype = crossed\nkeys = h, t\nbuckets = 9\n[n]\ntype = numeric\n",
               "key [h] is a hash_bucket column");
    spec_error("[i]\ntype = indicator\ncategorical = later\n[later]\ntype = identity\nnum_buckets = 2\n",
               "must be defined above it");
    spec_error("[a]\ntype = identity\nnum_buckets = 3\n", "no dense column");
    spec_error("[a]\ntype = numeric\ncolour = red\n", "bad.ini:3: unknown key 'colour'");
}

static void record_error(const struct mb_fc_record *r, const char *want) {
    struct mb_fc_spec *s = load_spec();
    double row[26];
    char err[512];
    cr_assert_eq(mb_fc_dense_row(s, r, 7, row, err, sizeof err), -1);
    cr_assert(strstr(err, "record 7") && strstr(err, want), "'%s' not in '%s'", want, err);
    mb_fc_spec_free(s);
}

Test(data_features_spec, record_errors_name_the_record) {
    static const int64_t id5[] = {5}, age_int[] = {50};
    struct mb_fc_feature f[8];
    memcpy(f, rec0_features, sizeof f);
    f[2] = (struct mb_fc_feature){"id", MB_FC_INT64, 1, NULL, id5, NULL, NULL};
    f[5].count = 1; /* id_w: one weight for the one id */
    record_error(&(struct mb_fc_record){f, 8}, "id 5 of feature 'id' is out of range [0, 5)");
    memcpy(f, rec0_features, sizeof f);
    f[0] = (struct mb_fc_feature){"age", MB_FC_INT64, 1, NULL, age_int, NULL, NULL};
    record_error(&(struct mb_fc_record){f, 8}, "feature 'age' is int64, expected float");
    memcpy(f, rec0_features, sizeof f);
    f[1].key = "weight";
    record_error(&(struct mb_fc_record){f, 8}, "feature 'height' is missing and the column has no default");
    memcpy(f, rec0_features, sizeof f);
    f[5].count = 2;
    record_error(&(struct mb_fc_record){f, 8}, "2 weights in 'id_w' for 3 ids");
}

/* ------------------------------------------------------------------------------------------- kernels */
static void kernel_at(const char *name, int64_t n, int64_t features, int64_t rank, int threads, const char *params) {
    const struct mb_kernel *k = mb_kernel_find(name);
    cr_assert_not_null(k, "%s", name);
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = n, p.features = features, p.rank = rank, p.threads = threads;
    char err[256];
    cr_assert_eq(mb_params_parse(k, params, 0, &p, err, sizeof err), 0, "%s", err);
    mb_point_complete(k, &p, 0);
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 7, err, sizeof err), 0, "%s: %s", name, err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    const struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    struct mb_errors e;
    cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, &e, err, sizeof err), 0, "%s", err);
    const double tol = k->tolerance > 0 ? k->tolerance : mb_family_mechanism(k->family, k->mechanism)->tolerance;
    cr_assert(e.rel_l2 <= tol, "%s n=%lld f=%lld rank=%lld: rel_l2 %g", name, (long long)n, (long long)features,
              (long long)rank, e.rel_l2);
    cr_assert_eq(e.checked, mb_tensor_numel(&w.outputs[0]));
    /* tamper: one id (or value) off must fail */
    w.outputs[0].data[mb_tensor_numel(&w.outputs[0]) - 1] += 1.0f;
    cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, &e, err, sizeof err), 0, "%s", err);
    cr_assert(e.rel_l2 > tol, "%s: a wrong output passed (rel_l2 %g)", name, e.rel_l2);
    mb_workload_free(&w);
}

Test(data_features, kernels_match_their_oracles_at_odd_shapes) {
    const char *names[] = {"data.features.bucketize", "data.features.hash", "data.features.cross",
                           "data.features.embedding"};
    for (int i = 0; i < 4; i++)
        for (int threads = 1; threads <= 2; threads++) {
            kernel_at(names[i], 1, 1, 2, threads, "");
            kernel_at(names[i], 37, 5, 7, threads, "");
            kernel_at(names[i], 129, 3, 1000, threads, "");
        }
    for (int c = 0; c < 3; c++) {
        const char *combiner[] = {"combiner=sum", "combiner=mean", "combiner=sqrtn"};
        kernel_at("data.features.embedding", 37, 9, 17, 2, combiner[c]);
    }
    kernel_at("data.features.embedding", 5, 3, 4, 1, "vocab=1");
}

Test(data_features, bucketize_kernel_puts_ties_above) {
    const struct mb_kernel *k = mb_kernel_find("data.features.bucketize");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = 5, p.features = 1, p.rank = 4, p.threads = 1;
    mb_point_complete(k, &p, 0);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 7, err, sizeof err), 0, "%s", err);
    const float *b = w.inputs[1].data; /* 3 boundaries: -1.25, 0, 1.25 */
    cr_assert(b[0] == -1.25f && b[1] == 0 && b[2] == 1.25f);
    const float xs[5] = {-1.25f, 0, 1.25f, -3, 0.1f};
    memcpy(w.inputs[0].data, xs, sizeof xs);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    const float want[5] = {1, 2, 3, 0, 2};
    for (int i = 0; i < 5; i++) cr_assert_eq(w.outputs[0].data[i], want[i], "x = %g", xs[i]);
    mb_workload_free(&w);
}

Test(data_features, cross_kernel_hand_value) {
    const struct mb_kernel *k = mb_kernel_find("data.features.cross");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = 1, p.features = 2, p.rank = 100, p.threads = 1;
    mb_point_complete(k, &p, 0);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 7, err, sizeof err), 0, "%s", err);
    w.inputs[0].data[0] = 1, w.inputs[0].data[1] = 2;
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    cr_assert_eq(w.outputs[0].data[0], 57.0f, "cat(cat(0xDECAFCAFFE, 1), 2) %% 100 = 57");
    mb_workload_free(&w);
}
