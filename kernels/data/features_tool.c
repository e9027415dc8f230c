/* `mechbench features apply SPEC DATA.tfrecord --out dense.h5`: the dense input layer of a FeatureColumn spec
 * (feature_columns.h) over every tf.Example of a TFRecord file (tfrecord.h, example.h).
 *
 * The tool fills a report: one row per dense column (its slice of the dense row) and one grid, records x width, whose
 * path ends in ".h5": harness/cli writes such a grid as the HDF5 dataset "dense" (float32, row r = record r, like
 * DenseFeatures' output) with the store's atomic writer, so the kernels never touch the store. Any bad record (a
 * corrupt frame, garbage protobuf, an id out of range, a missing feature without default, a feature of the wrong
 * type) stops the tool with one line naming the record index and its byte offset in the (uncompressed) file; no
 * grid is returned, so nothing is written. */
#include "data/example.h"
#include "data/feature_columns.h"
#include "data/tfrecord.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                                                         \
    "features apply SPEC DATA.tfrecord --out DENSE.h5 [--compression none|gzip|zlib] [--skip-corrupt]\n"              \
    "  the dense input layer of the FeatureColumns in SPEC (INI, one [column] per section: numeric, bucketized,\n"     \
    "  identity, vocabulary_list, vocabulary_file, hash_bucket, crossed, weighted, indicator, embedding; see\n"       \
    "  kernels/data/feature_columns.h) over every tf.Example of DATA, written to DENSE.h5 as the float32 dataset\n"   \
    "  'dense' (records x width, columns sorted by name). Compression: from the suffix (.gz, .zz) unless given.\n" \
    "  --skip-corrupt skips records with a bad data CRC and says how many.\n"

#define MAX_RECORD_FEATURES 4096

struct record_view {
    struct mb_fc_feature features[MAX_RECORD_FEATURES];
    const char *strings[MB_FC_MAX_IDS];
    size_t lens[MB_FC_MAX_IDS];
};

/* The Example's features as the columns' record view (bytes values point into the parsed message). */
/* One line for a bad record: "DATA: record N at byte OFF: what" (why may start with the row builders' own
   "record N: ", which is dropped). Returns -1. */
static int record_error(char *err, size_t errlen, const char *path, uint64_t index, uint64_t offset, const char *why) {
    char prefix[40];
    const int n = snprintf(prefix, sizeof prefix, "record %llu: ", (unsigned long long)index);
    const char *what = strncmp(why, prefix, (size_t)n) ? why : why + n;
    return mb_errorf(err, errlen, "%s: record %llu at byte %llu: %s", path, (unsigned long long)index,
                     (unsigned long long)offset, what);
}

static int view_of(const struct mb_example *ex, struct record_view *v, struct mb_fc_record *rec, uint64_t index,
                   char *err, size_t errlen) {
    if (ex->n_features > MAX_RECORD_FEATURES)
        return mb_errorf(err, errlen, "record %llu: %zu features (at most %d)", (unsigned long long)index,
                         ex->n_features, MAX_RECORD_FEATURES);
    size_t used = 0;
    int n = 0;
    for (size_t i = 0; i < ex->n_features; i++) {
        const struct mb_feature *f = &ex->features[i];
        struct mb_fc_feature *o = &v->features[n];
        memset(o, 0, sizeof *o);
        o->key = f->name;
        o->count = (int64_t)f->count;
        if (f->kind == MB_FEATURE_FLOAT) o->type = MB_FC_FLOAT, o->floats = f->floats;
        else if (f->kind == MB_FEATURE_INT64) o->type = MB_FC_INT64, o->ints = f->int64s;
        else if (f->kind == MB_FEATURE_BYTES) {
            if (used + f->count > MB_FC_MAX_IDS)
                return mb_errorf(err, errlen, "record %llu: more than %d strings", (unsigned long long)index,
                                 MB_FC_MAX_IDS);
            for (size_t j = 0; j < f->count; j++) {
                v->strings[used + j] = (const char *)f->bytes[j].data;
                v->lens[used + j] = f->bytes[j].len;
            }
            o->type = MB_FC_BYTES, o->bytes = &v->strings[used], o->lens = &v->lens[used];
            used += f->count;
        } else continue; /* a Feature with no kind: as absent */
        n++;
    }
    *rec = (struct mb_fc_record){v->features, n};
    return 0;
}

struct apply_args {
    const char *spec, *data, *out, *compression;
    int skip_corrupt;
};

static int parse_args(int argc, char **argv, struct apply_args *a, char *err, size_t errlen) {
    if (argc < 2 || strcmp(argv[1], "apply"))
        return mb_errorf(err, errlen, "expected 'features apply SPEC DATA.tfrecord --out DENSE.h5', got '%s'",
                         argc < 2 ? "" : argv[1]);
    int positional = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--out") || !strcmp(argv[i], "--compression")) {
            if (i + 1 >= argc) return mb_errorf(err, errlen, "%s needs a value", argv[i]);
            *(!strcmp(argv[i], "--out") ? &a->out : &a->compression) = argv[i + 1];
            i++;
        } else if (!strcmp(argv[i], "--skip-corrupt")) {
            a->skip_corrupt = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return mb_errorf(err, errlen, "unknown option '%s' (allowed: --out, --compression, --skip-corrupt)",
                             argv[i]);
        } else if (positional == 0) a->spec = argv[i], positional++;
        else if (positional == 1) a->data = argv[i], positional++;
        else return mb_errorf(err, errlen, "unexpected argument '%s'", argv[i]);
    }
    if (!a->spec || !a->data) return mb_errorf(err, errlen, "give SPEC and DATA.tfrecord");
    if (!a->out) return mb_errorf(err, errlen, "give --out DENSE.h5");
    const size_t len = strlen(a->out);
    if (len < 4 || strcmp(a->out + len - 3, ".h5"))
        return mb_errorf(err, errlen, "--out %s: the output is an HDF5 file ending in .h5", a->out);
    if (len >= sizeof ((struct mb_report_grid *)0)->path)
        return mb_errorf(err, errlen, "--out: a path of at most %zu characters",
                         sizeof ((struct mb_report_grid *)0)->path - 1);
    return 0;
}

/* Append one dense row; grows *values. */
static int append_row(double **values, int64_t *cap, int64_t rows, int64_t width, const double *row) {
    if ((rows + 1) * width > *cap) {
        const int64_t grown = *cap ? 2 * *cap : 1024 * width;
        double *v = realloc(*values, (size_t)grown * sizeof *v);
        if (!v) return -1;
        *values = v, *cap = grown;
    }
    memcpy(*values + rows * width, row, (size_t)width * sizeof *row);
    return 0;
}

static int apply(const struct apply_args *a, const struct mb_fc_spec *s, struct mb_report *out, char *err,
                 size_t errlen) {
    struct mb_tfr_reader_options opt = {.compression = mb_tfr_compression_from_path(a->data),
                                        .skip_corrupt = a->skip_corrupt};
    if (a->compression && mb_tfr_compression_parse(a->compression, &opt.compression, err, errlen)) return -1;
    struct mb_tfr_reader *r = mb_tfr_reader_open(a->data, &opt, err, errlen);
    if (!r) return -1;
    struct record_view *view = malloc(sizeof *view);
    double *row = malloc((size_t)s->width * sizeof *row), *values = NULL;
    int64_t rows = 0, cap = 0;
    int rc = view && row ? 0 : mb_errorf(err, errlen, "out of memory");
    while (!rc) {
        const uint8_t *data;
        size_t length;
        const uint64_t index = mb_tfr_reader_index(r), offset = mb_tfr_reader_offset(r);
        char why[600];
        const enum mb_tfr_status st = mb_tfr_reader_next(r, &data, &length, why, sizeof why);
        if (st == MB_TFR_END) break;
        if (st != MB_TFR_RECORD) {
            rc = mb_errorf(err, errlen, "%s: %s", a->data, why);
            break;
        }
        struct mb_example ex;
        if (mb_example_parse(data, length, NULL, &ex, why, sizeof why)) {
            rc = record_error(err, errlen, a->data, index, offset, why);
            break;
        }
        struct mb_fc_record rec;
        rc = view_of(&ex, view, &rec, index, why, sizeof why);
        if (!rc) rc = mb_fc_dense_row(s, &rec, (int64_t)index, row, why, sizeof why);
        if (rc) rc = record_error(err, errlen, a->data, index, offset, why);
        else if (rows >= (INT64_C(1) << 31) / s->width || append_row(&values, &cap, rows, s->width, row))
            rc = record_error(err, errlen, a->data, index, offset, "out of memory (or more than 2^31 dense values)");
        else rows++;
        mb_example_free(&ex);
    }
    const uint64_t skipped = mb_tfr_reader_skipped(r);
    mb_tfr_reader_close(r);
    free(view);
    free(row);
    if (!rc && rows == 0) rc = mb_errorf(err, errlen, "%s: no records", a->data);
    out->failed = rc != 0; /* bad input, not usage: exit 1 */
    if (!rc) {
        snprintf(out->title, sizeof out->title, "dense input layer of %s over %s: %lld records x %lld values",
                 a->spec, a->data, (long long)rows, (long long)s->width);
        for (int d = 0; d < s->n_dense; d++) {
            const struct mb_fc_column *c = &s->columns[s->dense[d]];
            static const char *const kinds[] = {"numeric", "bucketized (one-hot)", "", "", "", "", "", "",
                                                "indicator (multi-hot)", "embedding"};
            mb_report_row(out, c->name, kinds[c->type], "[%lld, %lld)", (long long)c->offset,
                          (long long)(c->offset + c->width));
        }
        struct mb_report_grid *g = mb_report_grid(out, a->out, out->title, (int)rows, (int)s->width);
        if (!g) rc = mb_errorf(err, errlen, "out of memory");
        else {
            snprintf(g->x_label, sizeof g->x_label, "dense value");
            snprintf(g->y_label, sizeof g->y_label, "record");
            snprintf(g->value_label, sizeof g->value_label, "dense");
            memcpy(g->values, values, (size_t)rows * (size_t)s->width * sizeof *values);
            mb_report_note(out, "columns sorted by name as tf.keras.layers.DenseFeatures; row r of 'dense' = the r-th "
                                "record read");
            if (a->skip_corrupt)
                mb_report_note(out, "--skip-corrupt: %llu records with a bad data CRC skipped",
                               (unsigned long long)skipped);
            mb_report_note(out, "hashing: FarmHash Fingerprint64 (Debian libfarmhash); crossed: FingerprintCat64 "
                                "chain from 0xDECAFCAFFE; embedding tables N(0, 1/dimension) from each column's seed");
        }
        if (rc) mb_report_free(out);
    }
    free(values);
    return rc;
}

static int run_features(int argc, char **argv, struct mb_report *out, char *err, size_t errlen) {
    struct apply_args a = {0};
    if (parse_args(argc, argv, &a, err, errlen)) return -1;
    struct mb_fc_spec *s;
    if (mb_fc_spec_load(a.spec, &s, err, errlen)) return -1;
    const int rc = apply(&a, s, out, err, errlen);
    mb_fc_spec_free(s);
    return rc;
}

const struct mb_tool mb_features_tools[MB_FC_N_TOOLS] = {
    {.name = "features", .usage = USAGE, .run = run_features,
     .summary = "FeatureColumns (TF semantics) over a TFRecord of tf.Examples -> the dense input layer in HDF5"},
};
