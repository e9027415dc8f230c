/* FeatureColumns from a spec file and the dense input layer (feature_columns.h has the spec format and the
 * semantics; family_features.h the shared formulas: bucketize, Fingerprint64 of decimal ids, FingerprintCat64,
 * combiners). Layout: spec reading (inih), resolution and checks, per-record transforms, the dense row.
 * Source: TensorFlow python/feature_column/feature_column_v2.py (numeric_column, bucketized_column,
 * categorical_column_with_identity / _vocabulary_list / _vocabulary_file / _hash_bucket, crossed_column,
 * weighted_categorical_column, indicator_column, embedding_column, DenseFeatures sorting by name),
 * ops/lookup_ops.py (index_table_from_tensor: OOV ids vocab_size + Fingerprint64 % num_oov_buckets),
 * core/kernels/sparse_cross_op.cc, ops/embedding_ops.py (safe_embedding_lookup_sparse). */
#include "data/feature_columns.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[MB_FC_TYPE_COUNT] = {
    "numeric", "bucketized", "identity", "vocabulary_list", "vocabulary_file", "hash_bucket", "crossed", "weighted",
    "indicator", "embedding"};
#define TYPE_LIST "numeric|bucketized|identity|vocabulary_list|vocabulary_file|hash_bucket|crossed|weighted|indicator|embedding"

/* ------------------------------------------------------------------------------------------- spec reading */
struct parse {
    struct mb_fc_spec *s;
    FILE *f;
    int line, section_line;
    char section[MB_FC_NAME_LEN + 1];
    char *seen_type;         /* per column: type given */
    int err_line;
    char err[400];
};

static int fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parse *p, const char *fmt, ...) {
    if (p->err_line) return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    p->err_line = p->line;
    return 0; /* inih: keep going, the first error wins */
}

/* inih's line reader: counts lines, notes section headers */
static char *reader(char *buf, int size, void *stream) {
    struct parse *p = stream;
    if (!fgets(buf, size, p->f)) return NULL;
    p->line++;
    const char *t = buf;
    while (*t == ' ' || *t == '\t') t++;
    if (*t == '[') p->section_line = p->line;
    return buf;
}

static int parse_real(const char *v, double *out) {
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    while (isspace((unsigned char)*end)) end++;
    return end == v || *end || errno == ERANGE || !isfinite(*out) ? -1 : 0;
}

static int parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (end == v || *end || errno == ERANGE || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static char *trim(char *t) {
    while (isspace((unsigned char)*t)) t++;
    char *e = t + strlen(t);
    while (e > t && isspace((unsigned char)e[-1])) *--e = '\0';
    return t;
}

/* comma-separated list -> count items, each trimmed, strdup'd into items (max items) */
static int split_list(const char *v, char **items, int max) {
    char *copy = strdup(v);
    if (!copy) return -1;
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            n = -1;
            break;
        }
        items[n++] = strdup(trim(tok));
    }
    free(copy);
    return n;
}

static void free_items(char **items, int n) {
    for (int i = 0; i < n; i++) free(items[i]);
}

static struct mb_fc_column *column_for(struct parse *p, const char *section) {
    struct mb_fc_spec *s = p->s;
    if (s->n_columns && !strcmp(s->columns[s->n_columns - 1].name, section)) return &s->columns[s->n_columns - 1];
    for (int i = 0; i < s->n_columns; i++)
        if (!strcmp(s->columns[i].name, section)) return fail(p, "column [%s] defined twice", section), NULL;
    if (strlen(section) >= MB_FC_NAME_LEN) return fail(p, "column name '%s' longer than %d", section, MB_FC_NAME_LEN - 1), NULL;
    struct mb_fc_column *grown = realloc(s->columns, (size_t)(s->n_columns + 1) * sizeof *grown);
    char *seen = realloc(p->seen_type, (size_t)(s->n_columns + 1));
    if (grown) s->columns = grown;
    if (seen) p->seen_type = seen;
    if (!grown || !seen) return fail(p, "out of memory"), NULL;
    struct mb_fc_column *c = &s->columns[s->n_columns];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", section);
    snprintf(c->key, sizeof c->key, "%s", section);
    c->line = p->section_line;
    c->shape = 1;
    c->std = 1;
    c->combiner = MB_FC_MEAN;
    c->seed = 42;
    p->seen_type[s->n_columns] = 0;
    s->n_columns++;
    return c;
}

static int set_name(struct parse *p, char *dst, const char *name, const char *v) {
    if (!*v || strlen(v) >= MB_FC_NAME_LEN) return fail(p, "%s = '%s': a name of 1..%d characters", name, v, MB_FC_NAME_LEN - 1);
    snprintf(dst, MB_FC_NAME_LEN, "%s", v);
    return 1;
}

static int set_keys(struct parse *p, struct mb_fc_column *c, const char *name, const char *v, int max) {
    char *items[MB_FC_MAX_KEYS + 1];
    const int n = split_list(v, items, MB_FC_MAX_KEYS);
    int ok = n >= 1 && n <= max;
    for (int i = 0; ok && i < n; i++) ok = items[i] && items[i][0] && strlen(items[i]) < MB_FC_NAME_LEN;
    if (ok) {
        c->n_keys = n;
        for (int i = 0; i < n; i++) snprintf(c->keys[i], MB_FC_NAME_LEN, "%s", items[i]);
    }
    if (n > 0) free_items(items, n);
    return ok ? 1 : fail(p, "%s = '%s': 1..%d names, comma-separated", name, v, max);
}

static int set_vocab(struct parse *p, struct mb_fc_column *c, char **entries, int64_t n) {
    for (int64_t i = 0; i < c->vocab_size; i++) free(c->vocab[i]);
    free(c->vocab);
    c->vocab = entries;
    c->vocab_size = n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(entries[i], entries[j])) return fail(p, "vocabulary entry '%s' appears twice", entries[i]);
    return 1;
}

static int read_vocab_file(struct parse *p, struct mb_fc_column *c, const char *v) {
    char path[1024];
    const char *slash = strrchr(p->s->path, '/');
    if (v[0] == '/' || !slash) snprintf(path, sizeof path, "%s", v);
    else snprintf(path, sizeof path, "%.*s/%s", (int)(slash - p->s->path), p->s->path, v);
    FILE *f = fopen(path, "r");
    if (!f) return fail(p, "vocabulary_file %s: cannot open: %s", path, strerror(errno));
    char **entries = NULL, line[4096];
    int64_t n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char **grown = realloc(entries, (size_t)(n + 1) * sizeof *grown);
        if (!grown) break;
        entries = grown;
        entries[n++] = strdup(line);
    }
    fclose(f);
    if (n == 0) {
        free(entries);
        return fail(p, "vocabulary_file %s: no entries", path);
    }
    return set_vocab(p, c, entries, n);
}

static int handler(void *user, const char *section, const char *name, const char *value) {
    struct parse *p = user;
    if (p->err_line) return 1;
    if (!section[0]) return fail(p, "key '%s' outside a [column] section", name);
    struct mb_fc_column *c = column_for(p, section);
    if (!c) return 1;
    char vbuf[8192];
    snprintf(vbuf, sizeof vbuf, "%s", value);
    char *v = trim(vbuf);
    int64_t i64;
    if (!strcmp(name, "type")) {
        for (int t = 0; t < MB_FC_TYPE_COUNT; t++)
            if (!strcmp(v, type_names[t])) {
                c->type = (enum mb_fc_type)t;
                p->seen_type[c - p->s->columns] = 1;
                return 1;
            }
        return fail(p, "type = '%s': allowed " TYPE_LIST, v);
    }
    if (!strcmp(name, "key")) return set_name(p, c->key, name, v);
    if (!strcmp(name, "weight")) return set_name(p, c->weight_key, name, v);
    if (!strcmp(name, "source") || !strcmp(name, "categorical")) return set_keys(p, c, name, v, 1);
    if (!strcmp(name, "keys")) return set_keys(p, c, name, v, MB_FC_MAX_KEYS);
    if (!strcmp(name, "default")) {
        if (parse_real(v, &c->default_value)) return fail(p, "default = '%s': a number", v);
        c->has_default = 1;
        return 1;
    }
    if (!strcmp(name, "mean")) return parse_real(v, &c->mean) ? fail(p, "mean = '%s': a number", v) : 1;
    if (!strcmp(name, "std"))
        return parse_real(v, &c->std) || c->std <= 0 ? fail(p, "std = '%s': a number > 0", v) : 1;
    if (!strcmp(name, "shape"))
        return parse_int(v, 1, 4096, &c->shape) ? fail(p, "shape = '%s': an integer in 1..4096", v) : 1;
    if (!strcmp(name, "dimension"))
        return parse_int(v, 1, 4096, &c->dimension) ? fail(p, "dimension = '%s': an integer in 1..4096", v) : 1;
    if (!strcmp(name, "num_buckets") || !strcmp(name, "buckets"))
        return parse_int(v, 1, INT64_C(1) << 40, &c->buckets) ? fail(p, "%s = '%s': an integer in 1..2^40", name, v) : 1;
    if (!strcmp(name, "num_oov"))
        return parse_int(v, 0, INT64_C(1) << 30, &c->num_oov) ? fail(p, "num_oov = '%s': an integer in 0..2^30", v) : 1;
    if (!strcmp(name, "seed")) {
        if (parse_int(v, 0, INT64_MAX, &i64)) return fail(p, "seed = '%s': an integer >= 0", v);
        c->seed = (uint64_t)i64;
        return 1;
    }
    if (!strcmp(name, "dtype")) {
        if (strcmp(v, "string") && strcmp(v, "int64")) return fail(p, "dtype = '%s': allowed string|int64", v);
        c->int64_input = !strcmp(v, "int64");
        return 1;
    }
    if (!strcmp(name, "combiner")) {
        if (!strcmp(v, "sum")) c->combiner = MB_FC_SUM;
        else if (!strcmp(v, "mean")) c->combiner = MB_FC_MEAN;
        else if (!strcmp(v, "sqrtn")) c->combiner = MB_FC_SQRTN;
        else return fail(p, "combiner = '%s': allowed " MB_FC_COMBINERS, v);
        return 1;
    }
    if (!strcmp(name, "boundaries")) {
        char *items[1024];
        const int n = split_list(v, items, 1024);
        if (n < 1) return fail(p, "boundaries = '%s': 1..1024 numbers, comma-separated", v);
        free(c->boundaries);
        c->boundaries = malloc((size_t)n * sizeof *c->boundaries);
        c->n_boundaries = n;
        int bad = -1;
        for (int i = 0; i < n && c->boundaries; i++)
            if (!items[i] || parse_real(items[i], &c->boundaries[i]) || (i && c->boundaries[i] <= c->boundaries[i - 1]))
                bad = bad < 0 ? i : bad;
        if (bad >= 0) fail(p, "boundaries: item %d ('%s') is not a number above the one before (strictly increasing)",
                           bad + 1, items[bad] ? items[bad] : "");
        free_items(items, n);
        return 1;
    }
    if (!strcmp(name, "vocabulary")) {
        char **items = malloc(65536 * sizeof *items);
        const int n = items ? split_list(v, items, 65536) : -1;
        if (n < 1) {
            free(items);
            return fail(p, "vocabulary = '%s': 1..65536 entries, comma-separated", v);
        }
        return set_vocab(p, c, items, n);
    }
    if (!strcmp(name, "vocabulary_file")) return read_vocab_file(p, c, v);
    return fail(p, "unknown key '%s' (allowed: type, key, shape, default, mean, std, source, boundaries, num_buckets, "
                   "buckets, vocabulary, vocabulary_file, num_oov, dtype, keys, categorical, weight, dimension, "
                   "combiner, seed)", name);
}

/* ------------------------------------------------------------------------------------------- resolution */
static int is_categorical(enum mb_fc_type t) {
    return t == MB_FC_BUCKETIZED || t == MB_FC_IDENTITY || t == MB_FC_VOCAB_LIST || t == MB_FC_VOCAB_FILE ||
           t == MB_FC_HASH || t == MB_FC_CROSSED || t == MB_FC_WEIGHTED;
}

int mb_fc_column_find(const struct mb_fc_spec *s, const char *name) {
    for (int i = 0; i < s->n_columns; i++)
        if (!strcmp(s->columns[i].name, name)) return i;
    return -1;
}

int64_t mb_fc_num_buckets(const struct mb_fc_spec *s, int c) {
    const struct mb_fc_column *col = &s->columns[c];
    switch (col->type) {
    case MB_FC_BUCKETIZED: return col->shape * (col->n_boundaries + 1);
    case MB_FC_VOCAB_LIST:
    case MB_FC_VOCAB_FILE: return col->vocab_size + col->num_oov;
    case MB_FC_WEIGHTED: return mb_fc_num_buckets(s, col->key_column[0]);
    default: return col->buckets;
    }
}

static int need(const char *spec, const struct mb_fc_column *c, int ok, const char *what, char *err, size_t errlen) {
    return ok ? 0 : mb_errorf(err, errlen, "%s:%d: column [%s] (%s) needs %s", spec, c->line, c->name,
                              type_names[c->type], what);
}

/* Resolve names to columns (sources precede users: a column may only name columns above it, so no cycles), check
   each type's required keys, set the dense widths and the sorted dense order. */
static int resolve(struct mb_fc_spec *s, const char *seen_type, char *err, size_t errlen) {
    const char *f = s->path;
    if (!s->n_columns) return mb_errorf(err, errlen, "%s: no [column] sections", f);
    for (int i = 0; i < s->n_columns; i++) {
        struct mb_fc_column *c = &s->columns[i];
        if (!seen_type[i]) return mb_errorf(err, errlen, "%s:%d: column [%s] has no type (allowed " TYPE_LIST ")", f,
                                            c->line, c->name);
        for (int k = 0; k < c->n_keys; k++) {
            const int j = mb_fc_column_find(s, c->keys[k]);
            c->key_column[k] = j;
            if (j >= i) return mb_errorf(err, errlen, "%s:%d: column [%s] names [%s], which must be defined above it", f,
                                         c->line, c->name, c->keys[k]);
        }
        const struct mb_fc_column *src = c->n_keys && c->key_column[0] >= 0 ? &s->columns[c->key_column[0]] : NULL;
        const int one_source = c->n_keys == 1 && src;
        switch (c->type) {
        case MB_FC_NUMERIC: break;
        case MB_FC_BUCKETIZED:
            if (need(f, c, one_source && src->type == MB_FC_NUMERIC, "source = a numeric column above it", err, errlen) ||
                need(f, c, c->n_boundaries > 0, "boundaries = b1, b2, ...", err, errlen))
                return -1;
            c->shape = src->shape;
            break;
        case MB_FC_IDENTITY:
            if (need(f, c, c->buckets > 0, "num_buckets", err, errlen)) return -1;
            if (c->has_default && (c->default_value < 0 || c->default_value >= (double)c->buckets ||
                                   c->default_value != floor(c->default_value)))
                return mb_errorf(err, errlen, "%s:%d: column [%s]: default = %g is not an id in [0, %lld)", f, c->line,
                                 c->name, c->default_value, (long long)c->buckets);
            break;
        case MB_FC_VOCAB_LIST:
        case MB_FC_VOCAB_FILE:
            if (need(f, c, c->vocab_size > 0, c->type == MB_FC_VOCAB_LIST ? "vocabulary = a, b, ..." : "vocabulary_file",
                     err, errlen))
                return -1;
            if (c->has_default && c->num_oov)
                return mb_errorf(err, errlen, "%s:%d: column [%s]: default and num_oov > 0 cannot both be given (TF)", f,
                                 c->line, c->name);
            if (!c->has_default) c->default_value = -1;
            break;
        case MB_FC_HASH:
        case MB_FC_CROSSED:
            if (need(f, c, c->buckets > 0, "buckets", err, errlen)) return -1;
            if (c->type == MB_FC_CROSSED) {
                if (need(f, c, c->n_keys >= 2, "keys = at least two columns or features", err, errlen)) return -1;
                for (int k = 0; k < c->n_keys; k++) {
                    const int j = c->key_column[k];
                    if (j >= 0 && (!is_categorical(s->columns[j].type) || s->columns[j].type == MB_FC_HASH ||
                                   s->columns[j].type == MB_FC_WEIGHTED))
                        return mb_errorf(err, errlen, "%s:%d: column [%s]: key [%s] is a %s column; crossed keys are "
                                         "feature names or categorical columns other than hash_bucket and weighted (TF)",
                                         f, c->line, c->name, s->columns[j].name, type_names[s->columns[j].type]);
                }
            }
            break;
        case MB_FC_WEIGHTED:
        case MB_FC_INDICATOR:
        case MB_FC_EMBEDDING:
            if (need(f, c, one_source && is_categorical(src->type), "categorical = a categorical column above it", err,
                     errlen))
                return -1;
            if (c->type == MB_FC_WEIGHTED && need(f, c, c->weight_key[0], "weight = a float feature's key", err, errlen))
                return -1;
            if (c->type == MB_FC_WEIGHTED && src->type == MB_FC_WEIGHTED)
                return mb_errorf(err, errlen, "%s:%d: column [%s]: a weighted column of a weighted column", f, c->line,
                                 c->name);
            if (c->type == MB_FC_EMBEDDING && need(f, c, c->dimension > 0, "dimension", err, errlen)) return -1;
            break;
        default: break;
        }
        /* dense widths */
        if (c->type == MB_FC_NUMERIC) c->width = c->shape;
        else if (c->type == MB_FC_BUCKETIZED) c->width = mb_fc_num_buckets(s, i);
        else if (c->type == MB_FC_INDICATOR) c->width = mb_fc_num_buckets(s, c->key_column[0]);
        else if (c->type == MB_FC_EMBEDDING) c->width = c->dimension;
        if (c->type == MB_FC_INDICATOR && c->width > (INT64_C(1) << 24))
            return mb_errorf(err, errlen, "%s:%d: column [%s]: an indicator of %lld buckets (at most 2^24)", f, c->line,
                             c->name, (long long)c->width);
        if (c->type == MB_FC_EMBEDDING) {
            const int64_t rows = mb_fc_num_buckets(s, c->key_column[0]);
            if (rows > (INT64_C(1) << 24) || (double)rows * (double)c->dimension > (double)(INT64_C(1) << 30))
                return mb_errorf(err, errlen, "%s:%d: column [%s]: a table of %lld x %lld is too large (2^30 values)", f,
                                 c->line, c->name, (long long)rows, (long long)c->dimension);
            c->table = malloc((size_t)rows * (size_t)c->dimension * sizeof *c->table);
            if (!c->table) return mb_errorf(err, errlen, "%s: out of memory", f);
            struct mb_tensor t = {.name = "table", .ndim = 2, .shape = {rows, c->dimension}, .data = c->table};
            mb_fill_normal(&t, c->seed, 0, 0, 1 / sqrt((double)c->dimension));
        }
    }
    s->dense = malloc((size_t)(unsigned)s->n_columns * sizeof *s->dense);
    if (!s->dense) return mb_errorf(err, errlen, "%s: out of memory", f);
    for (int i = 0; i < s->n_columns; i++)
        if (s->columns[i].width) {
            int at = s->n_dense++;
            while (at > 0 && strcmp(s->columns[s->dense[at - 1]].name, s->columns[i].name) > 0) {
                s->dense[at] = s->dense[at - 1];
                at--;
            }
            s->dense[at] = i;
        }
    if (!s->n_dense)
        return mb_errorf(err, errlen, "%s: no dense column (numeric, bucketized, indicator or embedding)", f);
    for (int d = 0; d < s->n_dense; d++) {
        s->columns[s->dense[d]].offset = s->width;
        s->width += s->columns[s->dense[d]].width;
    }
    return 0;
}

int mb_fc_spec_load(const char *path, struct mb_fc_spec **out, char *err, size_t errlen) {
    *out = NULL;
    struct mb_fc_spec *s = calloc(1, sizeof *s);
    struct parse p = {.s = s};
    if (!s) return mb_errorf(err, errlen, "%s: out of memory", path);
    snprintf(s->path, sizeof s->path, "%s", path);
    p.f = fopen(path, "r");
    if (!p.f) {
        free(s);
        return mb_errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    }
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = 1 << 16;
    ini_allow_multiline = false;
    ini_allow_inline_comments = true;
    ini_allow_no_value = false;
    ini_stop_on_first_error = false;
    const int rc = ini_parse_stream(reader, &p, handler, &p);
    fclose(p.f);
    int status;
    if (rc == -2) status = mb_errorf(err, errlen, "%s: out of memory", path);
    else if (rc > 0 && (!p.err_line || rc < p.err_line))
        status = mb_errorf(err, errlen, "%s:%d: malformed line (expected key = value or [column])", path, rc);
    else if (p.err_line) status = mb_errorf(err, errlen, "%s:%d: %s", path, p.err_line, p.err);
    else status = resolve(s, p.seen_type, err, errlen);
    free(p.seen_type);
    if (status) {
        mb_fc_spec_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void mb_fc_spec_free(struct mb_fc_spec *s) {
    if (!s) return;
    for (int i = 0; i < s->n_columns; i++) {
        struct mb_fc_column *c = &s->columns[i];
        free(c->boundaries);
        for (int64_t v = 0; v < c->vocab_size; v++) free(c->vocab[v]);
        free(c->vocab);
        free(c->table);
    }
    free(s->columns);
    free(s->dense);
    free(s);
}

/* ------------------------------------------------------------------------------------------- transforms */
static const char *const dtype_names[] = {"float", "int64", "bytes"};

static const struct mb_fc_feature *feature_of(const struct mb_fc_record *rec, const char *key) {
    for (int i = 0; i < rec->n_features; i++)
        if (!strcmp(rec->features[i].key, key)) return &rec->features[i];
    return NULL;
}

/* The feature `key` of type `want` for column c; NULL with *missing = 1 when absent, -1 (error set) on a wrong
   type. */
static int typed_feature(const struct mb_fc_record *rec, const struct mb_fc_column *c, const char *key,
                         enum mb_fc_dtype want, int64_t index, const struct mb_fc_feature **out, char *err,
                         size_t errlen) {
    *out = feature_of(rec, key);
    if (*out && (*out)->type != want)
        return mb_errorf(err, errlen, "record %lld: column '%s': feature '%s' is %s, expected %s", (long long)index,
                         c->name, key, dtype_names[(*out)->type], dtype_names[want]);
    return 0;
}

/* Numeric column c's normalised values (c->shape of them) of one record. */
static int numeric_values(const struct mb_fc_column *c, const struct mb_fc_record *rec, int64_t index, double *x,
                          char *err, size_t errlen) {
    const struct mb_fc_feature *f;
    if (typed_feature(rec, c, c->key, MB_FC_FLOAT, index, &f, err, errlen)) return -1;
    if (!f && !c->has_default)
        return mb_errorf(err, errlen, "record %lld: column '%s': feature '%s' is missing and the column has no default",
                         (long long)index, c->name, c->key);
    if (f && f->count != c->shape)
        return mb_errorf(err, errlen, "record %lld: column '%s': feature '%s' has %lld values, shape is %lld",
                         (long long)index, c->name, c->key, (long long)f->count, (long long)c->shape);
    for (int64_t i = 0; i < c->shape; i++) x[i] = ((f ? (double)f->floats[i] : c->default_value) - c->mean) / c->std;
    return 0;
}

/* A categorical column's input values as text (bytes, or int64 as decimal): value i of f. */
static size_t value_text(const struct mb_fc_feature *f, int64_t i, char *buf, const char **text) {
    if (f->type == MB_FC_BYTES) {
        *text = f->bytes[i];
        return f->lens[i];
    }
    *text = buf;
    return (size_t)mb_fc_decimal(f->ints[i], buf);
}

static int too_many(const struct mb_fc_column *c, int64_t index, char *err, size_t errlen) {
    return mb_errorf(err, errlen, "record %lld: column '%s': more than %d ids", (long long)index, c->name, MB_FC_MAX_IDS);
}

int mb_fc_categorical(const struct mb_fc_spec *s, int ci, const struct mb_fc_record *rec, int64_t index, int64_t *ids,
                      double *weights, int64_t *count, char *err, size_t errlen) {
    const struct mb_fc_column *c = &s->columns[ci];
    const struct mb_fc_feature *f = NULL;
    *count = 0;
    switch (c->type) {
    case MB_FC_BUCKETIZED: {
        const struct mb_fc_column *src = &s->columns[c->key_column[0]];
        double x[4096];
        if (numeric_values(src, rec, index, x, err, errlen)) return -1;
        float bounds[1024];
        for (int64_t b = 0; b < c->n_boundaries; b++) bounds[b] = (float)c->boundaries[b];
        for (int64_t i = 0; i < c->shape; i++)
            ids[i] = i * (c->n_boundaries + 1) + mb_fc_bucketize(bounds, c->n_boundaries, (float)x[i]);
        *count = c->shape;
        break;
    }
    case MB_FC_IDENTITY:
        if (typed_feature(rec, c, c->key, MB_FC_INT64, index, &f, err, errlen)) return -1;
        for (int64_t i = 0; f && i < f->count; i++) {
            int64_t id = f->ints[i];
            if (id < 0 || id >= c->buckets) {
                if (!c->has_default)
                    return mb_errorf(err, errlen, "record %lld: column '%s': id %lld of feature '%s' is out of range "
                                     "[0, %lld) and the column has no default", (long long)index, c->name,
                                     (long long)id, c->key, (long long)c->buckets);
                id = (int64_t)c->default_value;
            }
            if (*count == MB_FC_MAX_IDS) return too_many(c, index, err, errlen);
            ids[(*count)++] = id;
        }
        break;
    case MB_FC_VOCAB_LIST:
    case MB_FC_VOCAB_FILE:
    case MB_FC_HASH:
        if (typed_feature(rec, c, c->key, c->int64_input ? MB_FC_INT64 : MB_FC_BYTES, index, &f, err, errlen)) return -1;
        for (int64_t i = 0; f && i < f->count; i++) {
            char buf[24];
            const char *text;
            const size_t len = value_text(f, i, buf, &text);
            int64_t id = -1;
            if (c->type == MB_FC_HASH) id = (int64_t)(mb_fingerprint64(text, len) % (uint64_t)c->buckets);
            else {
                for (int64_t v = 0; v < c->vocab_size && id < 0; v++)
                    if (strlen(c->vocab[v]) == len && !memcmp(c->vocab[v], text, len)) id = v;
                if (id < 0)
                    id = c->num_oov ? c->vocab_size + (int64_t)(mb_fingerprint64(text, len) % (uint64_t)c->num_oov)
                                    : (int64_t)c->default_value;
            }
            if (*count == MB_FC_MAX_IDS) return too_many(c, index, err, errlen);
            ids[(*count)++] = id;
        }
        break;
    case MB_FC_CROSSED: {
        /* Each key's values as uint64: a categorical column's ids raw, a bytes feature's values Fingerprint64; then
           every tuple of the cartesian product (the last key fastest, as sparse_cross_op.cc's ProductIterator). */
        uint64_t(*parts)[MB_FC_MAX_IDS] = malloc(MB_FC_MAX_KEYS * sizeof *parts);
        int64_t n_parts[MB_FC_MAX_KEYS], sub_ids[MB_FC_MAX_IDS], product = 1;
        double sub_w[MB_FC_MAX_IDS];
        int rc = parts ? 0 : mb_errorf(err, errlen, "out of memory");
        for (int k = 0; k < c->n_keys && !rc; k++) {
            const int j = c->key_column[k];
            if (j >= 0) {
                if ((rc = mb_fc_categorical(s, j, rec, index, sub_ids, sub_w, &n_parts[k], err, errlen))) break;
                for (int64_t i = 0; i < n_parts[k]; i++) parts[k][i] = (uint64_t)sub_ids[i];
            } else {
                if ((rc = typed_feature(rec, c, c->keys[k], MB_FC_BYTES, index, &f, err, errlen))) break;
                n_parts[k] = f ? f->count : 0;
                if (n_parts[k] > MB_FC_MAX_IDS) rc = too_many(c, index, err, errlen);
                for (int64_t i = 0; i < n_parts[k] && !rc; i++) parts[k][i] = mb_fingerprint64(f->bytes[i], f->lens[i]);
            }
            product *= n_parts[k];
            if (!rc && product > MB_FC_MAX_IDS) rc = too_many(c, index, err, errlen);
        }
        for (int64_t t = 0; t < product && !rc; t++) {
            uint64_t h = MB_FC_CROSS_HASH_KEY;
            int64_t rest = t, stride = product;
            for (int k = 0; k < c->n_keys; k++) {
                stride /= n_parts[k];
                h = mb_fc_fingerprint_cat64(h, parts[k][rest / stride]);
                rest %= stride;
            }
            ids[t] = (int64_t)(h % (uint64_t)c->buckets);
        }
        free(parts);
        if (rc) return -1;
        *count = product;
        break;
    }
    case MB_FC_WEIGHTED: {
        if (mb_fc_categorical(s, c->key_column[0], rec, index, ids, weights, count, err, errlen)) return -1;
        if (typed_feature(rec, c, c->weight_key, MB_FC_FLOAT, index, &f, err, errlen)) return -1;
        const int64_t nw = f ? f->count : 0;
        if (nw != *count)
            return mb_errorf(err, errlen, "record %lld: column '%s': %lld weights in '%s' for %lld ids", (long long)index,
                             c->name, (long long)nw, c->weight_key, (long long)*count);
        for (int64_t i = 0; i < nw; i++) weights[i] = f->floats[i];
        return 0;
    }
    default: return mb_errorf(err, errlen, "column '%s' is not categorical", c->name);
    }
    for (int64_t i = 0; i < *count; i++) weights[i] = 1;
    return 0;
}

int mb_fc_dense_row(const struct mb_fc_spec *s, const struct mb_fc_record *rec, int64_t index, double *row, char *err,
                    size_t errlen) {
    int64_t *ids = malloc(MB_FC_MAX_IDS * sizeof *ids);
    double *weights = malloc(MB_FC_MAX_IDS * sizeof *weights);
    int rc = ids && weights ? 0 : mb_errorf(err, errlen, "out of memory");
    for (int d = 0; d < s->n_dense && !rc; d++) {
        const int ci = s->dense[d];
        const struct mb_fc_column *c = &s->columns[ci];
        double *out = row + c->offset;
        for (int64_t j = 0; j < c->width; j++) out[j] = 0;
        if (c->type == MB_FC_NUMERIC) {
            rc = numeric_values(c, rec, index, out, err, errlen);
            continue;
        }
        const int cat = c->type == MB_FC_BUCKETIZED ? ci : c->key_column[0];
        int64_t count;
        if ((rc = mb_fc_categorical(s, cat, rec, index, ids, weights, &count, err, errlen))) break;
        if (c->type != MB_FC_EMBEDDING) { /* one-hot / multi-hot: counts, or summed weights */
            for (int64_t i = 0; i < count; i++)
                if (ids[i] >= 0 && ids[i] < c->width) out[ids[i]] += weights[i];
            continue;
        }
        const int64_t rows = mb_fc_num_buckets(s, cat);
        double sum_w = 0, sum_w2 = 0;
        for (int64_t i = 0; i < count; i++) {
            if (ids[i] < 0 || ids[i] >= rows || weights[i] <= 0) continue;
            sum_w += weights[i];
            sum_w2 += weights[i] * weights[i];
            for (int64_t j = 0; j < c->dimension; j++) out[j] += weights[i] * (double)c->table[ids[i] * c->dimension + j];
        }
        const double scale = mb_fc_combiner_scale(c->combiner, sum_w, sum_w2);
        for (int64_t j = 0; j < c->dimension; j++) out[j] *= scale;
    }
    free(ids);
    free(weights);
    return rc;
}
