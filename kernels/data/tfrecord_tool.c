/* The `tfrecord` tool (mechbench.h "tools"): look into, check and make TFRecord files of tf.Examples.
 *
 *   tfrecord cat FILE       every record as a JSON line {"name": {"int64": [..]}, ...} (features sorted by name)
 *   tfrecord verify FILE    every CRC; the first bad record's index and byte offset
 *   tfrecord count FILE     the number of records (CRCs checked on the way)
 *   tfrecord stats FILE     per feature: kind, records that have it, values per record (min..max)
 *   tfrecord from-csv CSV --out F.tfrecord   a CSV with a header -> one tf.Example per row; a column is int64 when
 *                           every value parses as an integer, float when as a number, else bytes; written to a
 *                           temporary file and renamed (nothing appears at F on failure)
 * Arguments are parsed here; the report (rows, or JSON lines for cat) is printed by harness/cli. A bad input sets
 * report->failed (exit 1); a usage error does not (exit 2). */
#include "data/family_tfrecord.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                                                          \
    "tfrecord cat|verify|count|stats FILE [--compression none|gzip|zlib] [--skip-corrupt] [--max-record-bytes N]\n"  \
    "       tfrecord from-csv CSV --out FILE [--compression none|gzip|zlib]\n"                                       \
    "  cat       every record as one JSON line: {\"feature\": {\"int64\"|\"float\"|\"bytes\": [values]}, ...}\n"       \
    "  verify    check every record's two CRCs; the first bad record is named by index and byte offset\n"             \
    "  count     the number of records\n"                                                                           \
    "  stats     per feature: kind, how many records have it, values per record\n"                                    \
    "  from-csv  CSV with a header -> tf.Examples (int64 / float / bytes columns), written atomically\n"              \
    "  --compression    none, gzip or zlib (default: gzip for *.gz, zlib for *.zz/*.zlib, else none)\n"               \
    "  --skip-corrupt   skip records whose data CRC is bad and count them (a bad length stops the read)\n"            \
    "  --max-record-bytes N   refuse a record longer than N bytes (default 268435456)\n"

struct tool_args {
    const char *command, *file, *out;
    struct mb_tfr_reader_options opt;
    int compression_given;
};

static int parse_args(int argc, char **argv, struct tool_args *a, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    if (argc < 2) return mb_errorf(err, errlen, "missing command (cat, verify, count, stats, from-csv); usage: %s", USAGE);
    a->command = argv[1];
    if (strcmp(a->command, "cat") && strcmp(a->command, "verify") && strcmp(a->command, "count") &&
        strcmp(a->command, "stats") && strcmp(a->command, "from-csv"))
        return mb_errorf(err, errlen, "unknown command '%s' (allowed: cat, verify, count, stats, from-csv)", a->command);
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--skip-corrupt")) {
            a->opt.skip_corrupt = 1;
        } else if (!strcmp(arg, "--compression") || !strcmp(arg, "--out") || !strcmp(arg, "--max-record-bytes")) {
            if (i + 1 >= argc) return mb_errorf(err, errlen, "%s needs a value", arg);
            const char *v = argv[++i];
            if (!strcmp(arg, "--out")) {
                a->out = v;
            } else if (!strcmp(arg, "--compression")) {
                if (mb_tfr_compression_parse(v, &a->opt.compression, err, errlen)) return -1;
                a->compression_given = 1;
            } else {
                char *end;
                errno = 0;
                unsigned long long n = strtoull(v, &end, 10);
                if (errno || *end || !*v || n == 0 || v[0] == '-')
                    return mb_errorf(err, errlen, "--max-record-bytes '%s' is not a positive integer", v);
                a->opt.max_record_bytes = n;
            }
        } else if (arg[0] == '-' && arg[1]) {
            return mb_errorf(err, errlen, "unknown option '%s' (see mechbench tfrecord --help)", arg);
        } else if (!a->file) {
            a->file = arg;
        } else {
            return mb_errorf(err, errlen, "unexpected argument '%s' (one file)", arg);
        }
    }
    if (!a->file) return mb_errorf(err, errlen, "tfrecord %s needs a file", a->command);
    if (!strcmp(a->command, "from-csv") && !a->out) return mb_errorf(err, errlen, "from-csv needs --out FILE");
    if (strcmp(a->command, "from-csv") && a->out) return mb_errorf(err, errlen, "--out is for from-csv only");
    if (!a->compression_given)
        a->opt.compression = mb_tfr_compression_from_path(strcmp(a->command, "from-csv") ? a->file : a->out);
    return 0;
}

/* A failure of the input (exit 1): one line naming the file. */
static int input_failure(struct mb_report *out, char *err, size_t errlen, const char *file, const char *what) {
    out->failed = 1;
    return mb_errorf(err, errlen, "%s: %s", file, what);
}

/* ------------------------------------------------------------------------------------------------ JSON */
struct text {
    char *s;
    size_t len, cap;
    int oom;
};
static void text_put(struct text *t, const char *p, size_t n) {
    if (t->oom) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = 2 * (t->len + n + 1) + 256;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = 1;
            return;
        }
        t->s = s, t->cap = cap;
    }
    memcpy(t->s + t->len, p, n);
    t->len += n;
    t->s[t->len] = 0;
}
static void text_str(struct text *t, const char *s) { text_put(t, s, strlen(s)); }

/* A JSON string of raw bytes: printable ASCII as is, the rest as \u00XX (one code point per byte). */
static void json_bytes(struct text *t, const uint8_t *p, size_t n) {
    text_str(t, "\"");
    for (size_t i = 0; i < n; i++) {
        char esc[8];
        if (p[i] == '"' || p[i] == '\\') {
            esc[0] = '\\', esc[1] = (char)p[i];
            text_put(t, esc, 2);
        } else if (p[i] < 0x20 || p[i] >= 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", p[i]);
            text_put(t, esc, 6);
        } else {
            text_put(t, (const char *)&p[i], 1);
        }
    }
    text_str(t, "\"");
}

static void json_feature_values(struct text *t, const struct mb_feature *f) {
    char num[40];
    text_str(t, "{\"");
    text_str(t, mb_feature_kind_name(f->kind));
    text_str(t, "\": [");
    for (size_t v = 0; v < f->count; v++) {
        if (v) text_str(t, ", ");
        if (f->kind == MB_FEATURE_INT64) {
            snprintf(num, sizeof num, "%lld", (long long)f->int64s[v]);
            text_str(t, num);
        } else if (f->kind == MB_FEATURE_FLOAT) {
            double x = f->floats[v];
            if (isfinite(x)) snprintf(num, sizeof num, "%.9g", x);
            else snprintf(num, sizeof num, "\"%s\"", isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
            text_str(t, num);
        } else {
            json_bytes(t, f->bytes[v].data, f->bytes[v].len);
        }
    }
    text_str(t, "]}");
}

static void json_example(struct text *t, const struct mb_example *ex) {
    t->len = 0;
    text_str(t, "{");
    for (size_t i = 0; i < ex->n_features; i++) {
        if (i) text_str(t, ", ");
        json_bytes(t, (const uint8_t *)ex->features[i].name, strlen(ex->features[i].name));
        text_str(t, ": ");
        json_feature_values(t, &ex->features[i]);
    }
    text_str(t, "}");
}

/* ------------------------------------------------------------------------------------------------ stats */
#define STATS_MAX 200
struct feature_stats {
    char name[48];
    enum mb_feature_kind kind;
    int mixed;
    uint64_t records;
    size_t min_count, max_count;
};

static void stats_add(struct feature_stats *st, int *n, const struct mb_example *ex, int *dropped) {
    for (size_t i = 0; i < ex->n_features; i++) {
        const struct mb_feature *f = &ex->features[i];
        int j = 0;
        while (j < *n && strncmp(st[j].name, f->name, sizeof st[j].name - 1)) j++;
        if (j == *n) {
            if (*n == STATS_MAX) {
                *dropped = 1;
                continue;
            }
            memset(&st[j], 0, sizeof st[j]);
            snprintf(st[j].name, sizeof st[j].name, "%s", f->name);
            st[j].kind = f->kind, st[j].min_count = f->count;
            (*n)++;
        }
        if (st[j].kind != f->kind) st[j].mixed = 1;
        st[j].records++;
        if (f->count < st[j].min_count) st[j].min_count = f->count;
        if (f->count > st[j].max_count) st[j].max_count = f->count;
    }
}

/* ------------------------------------------------------------------------------------------------ reading */
static int read_file(const struct tool_args *a, struct mb_report *out, char *err, size_t errlen) {
    char why[600];
    struct mb_tfr_reader *r = mb_tfr_reader_open(a->file, &a->opt, why, sizeof why);
    if (!r) return input_failure(out, err, errlen, a->file, why);
    const int cat = !strcmp(a->command, "cat"), stats = !strcmp(a->command, "stats");
    struct text line = {0};
    struct feature_stats *st = stats ? calloc(STATS_MAX, sizeof *st) : NULL;
    int n_stats = 0, dropped = 0, rc = 0;
    uint64_t records = 0, bytes = 0;
    if (stats && !st) {
        mb_tfr_reader_close(r);
        return input_failure(out, err, errlen, a->file, "out of memory");
    }
    for (;;) {
        const uint8_t *data;
        size_t len;
        enum mb_tfr_status s = mb_tfr_reader_next(r, &data, &len, why, sizeof why);
        if (s == MB_TFR_END) break;
        if (s != MB_TFR_RECORD) {
            rc = input_failure(out, err, errlen, a->file, why);
            break;
        }
        if (cat || stats) {
            struct mb_example ex;
            char perr[256];
            if (mb_example_parse(data, len, NULL, &ex, perr, sizeof perr)) {
                snprintf(why, sizeof why, "record %llu at byte %llu: %s", (unsigned long long)(mb_tfr_reader_index(r) - 1),
                         (unsigned long long)(mb_tfr_reader_offset(r) - len - MB_TFR_FRAMING_BYTES), perr);
                rc = input_failure(out, err, errlen, a->file, why);
                break;
            }
            if (cat) {
                json_example(&line, &ex);
                if (!line.oom) mb_report_line(out, "%s", line.s);
            } else {
                stats_add(st, &n_stats, &ex, &dropped);
            }
            mb_example_free(&ex);
        }
        records++, bytes += len;
    }
    uint64_t skipped = mb_tfr_reader_skipped(r), file_bytes = mb_tfr_reader_offset(r);
    mb_tfr_reader_close(r);
    free(line.s);
    if (rc) {
        free(st);
        return rc;
    }
    if (!cat) {
        snprintf(out->title, sizeof out->title, "tfrecord %s %s", a->command, a->file);
        mb_report_row(out, "records", a->opt.skip_corrupt ? "read (CRCs good)" : "CRCs good", "%llu",
                      (unsigned long long)records);
        if (strcmp(a->command, "count")) {
            mb_report_row(out, "data bytes", "in the records", "%llu", (unsigned long long)bytes);
            mb_report_row(out, "stream bytes", "framing included, uncompressed", "%llu", (unsigned long long)file_bytes);
        }
        if (a->opt.skip_corrupt) mb_report_row(out, "skipped", "records with a bad data CRC", "%llu", (unsigned long long)skipped);
    }
    for (int j = 0; j < n_stats; j++) {
        char unit[128];
        snprintf(unit, sizeof unit, "%s, in %llu of %llu records, %zu..%zu values", st[j].mixed ? "mixed kinds" :
                 mb_feature_kind_name(st[j].kind), (unsigned long long)st[j].records, (unsigned long long)records,
                 st[j].min_count, st[j].max_count);
        mb_report_row(out, st[j].name, unit, "%s", st[j].mixed ? "mixed" : mb_feature_kind_name(st[j].kind));
    }
    if (stats) mb_report_note(out, "features: %d%s", n_stats, dropped ? " (more than 200: the rest not listed)" : "");
    free(st);
    return 0;
}

/* ------------------------------------------------------------------------------------------------ from-csv */
/* One CSV record (RFC 4180: quoted fields, "" inside quotes) from line into fields (pointers into line, modified in
   place). Returns the field count, or -1 for an unterminated quote. */
static int csv_split(char *line, char **fields, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return max + 1;
        char *w = p;
        fields[n++] = w;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) return -1;
                if (*p == '"' && p[1] == '"') *w++ = '"', p += 2;
                else if (*p == '"') {
                    p++;
                    break;
                } else *w++ = *p++;
            }
            while (*p && *p != ',') p++; /* text after the closing quote is dropped */
        } else {
            while (*p && *p != ',') *w++ = *p++;
        }
        const int more = *p == ',';
        *w = 0;
        if (!more) return n;
        p++;
    }
}

static void chomp(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
}

static int is_int(const char *s) {
    char *end;
    errno = 0;
    (void)strtoll(s, &end, 10);
    return *s && !*end && !errno && !isspace((unsigned char)*s);
}
static int is_number(const char *s) {
    char *end;
    (void)strtod(s, &end);
    return *s && !*end && !isspace((unsigned char)*s);
}

#define CSV_MAX_COLUMNS 1024

static int from_csv(const struct tool_args *a, struct mb_report *out, char *err, size_t errlen) {
    FILE *f = fopen(a->file, "r");
    if (!f) return input_failure(out, err, errlen, a->file, strerror(errno));
    char *line = NULL, *header = NULL, why[600];
    size_t cap = 0;
    char **names = calloc(CSV_MAX_COLUMNS + 1, sizeof *names), **fields = calloc(CSV_MAX_COLUMNS + 1, sizeof *fields);
    enum mb_feature_kind *kinds = calloc(CSV_MAX_COLUMNS, sizeof *kinds);
    struct mb_feature *feats = calloc(CSV_MAX_COLUMNS, sizeof *feats);
    int64_t *ints = calloc(CSV_MAX_COLUMNS, sizeof *ints);
    float *floats = calloc(CSV_MAX_COLUMNS, sizeof *floats);
    struct mb_bytes *bytes = calloc(CSV_MAX_COLUMNS, sizeof *bytes);
    struct mb_tfr_writer *w = NULL;
    int rc = -1, nc = 0;
    long long row = 0;
    why[0] = 0;
    if (!names || !fields || !kinds || !feats || !ints || !floats || !bytes) {
        snprintf(why, sizeof why, "out of memory");
        goto done;
    }
    if (getline(&line, &cap, f) < 0) {
        snprintf(why, sizeof why, "empty file: a header line is needed");
        goto done;
    }
    chomp(line);
    header = strdup(line);
    nc = header ? csv_split(header, names, CSV_MAX_COLUMNS) : -1;
    if (nc < 1 || nc > CSV_MAX_COLUMNS) {
        snprintf(why, sizeof why, "line 1: the header must have 1..%d columns", CSV_MAX_COLUMNS);
        goto done;
    }
    for (int c = 0; c < nc; c++) {
        if (!names[c][0]) {
            snprintf(why, sizeof why, "line 1: column %d has an empty name", c + 1);
            goto done;
        }
        for (int d = 0; d < c; d++)
            if (!strcmp(names[c], names[d])) {
                snprintf(why, sizeof why, "line 1: column name '%s' appears twice", names[c]);
                goto done;
            }
        kinds[c] = MB_FEATURE_INT64; /* narrowed below: int64 -> float -> bytes */
    }
    /* pass 1: the column types */
    long long lineno = 1;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        chomp(line);
        if (!line[0]) continue;
        int n = csv_split(line, fields, CSV_MAX_COLUMNS);
        if (n != nc) {
            snprintf(why, sizeof why, n < 0 ? "line %lld: unterminated quote" : "line %lld: %d fields, the header has %d",
                     lineno, n, nc);
            goto done;
        }
        for (int c = 0; c < nc; c++) {
            if (!fields[c][0]) continue; /* empty: no value, no vote */
            if (kinds[c] == MB_FEATURE_INT64 && !is_int(fields[c])) kinds[c] = MB_FEATURE_FLOAT;
            if (kinds[c] == MB_FEATURE_FLOAT && !is_number(fields[c])) kinds[c] = MB_FEATURE_BYTES;
        }
    }
    /* pass 2: one Example per row */
    rewind(f);
    if (getline(&line, &cap, f) < 0) {
        snprintf(why, sizeof why, "cannot read the file again");
        goto done;
    }
    char werr[600];
    if (!(w = mb_tfr_writer_open(a->out, a->opt.compression, werr, sizeof werr))) {
        snprintf(why, sizeof why, "%s", werr);
        goto done;
    }
    while (getline(&line, &cap, f) >= 0) {
        chomp(line);
        if (!line[0]) continue;
        csv_split(line, fields, CSV_MAX_COLUMNS);
        for (int c = 0; c < nc; c++) {
            struct mb_feature *ft = &feats[c];
            memset(ft, 0, sizeof *ft);
            ft->name = names[c], ft->kind = kinds[c], ft->count = fields[c][0] ? 1 : 0;
            if (kinds[c] == MB_FEATURE_INT64) ints[c] = ft->count ? strtoll(fields[c], NULL, 10) : 0, ft->int64s = &ints[c];
            else if (kinds[c] == MB_FEATURE_FLOAT) floats[c] = ft->count ? strtof(fields[c], NULL) : 0, ft->floats = &floats[c];
            else {
                bytes[c].data = (const uint8_t *)fields[c], bytes[c].len = strlen(fields[c]);
                ft->bytes = &bytes[c];
            }
        }
        struct mb_example ex = {.n_features = (size_t)nc, .features = feats};
        uint8_t *buf;
        size_t len;
        if (mb_example_serialize(&ex, &buf, &len, werr, sizeof werr) ||
            mb_tfr_writer_write(w, buf, len, werr, sizeof werr)) {
            snprintf(why, sizeof why, "%s", werr);
            goto done;
        }
        free(buf);
        row++;
    }
    if (mb_tfr_writer_commit(w, werr, sizeof werr)) {
        w = NULL;
        snprintf(why, sizeof why, "%s", werr);
        goto done;
    }
    w = NULL;
    rc = 0;
    snprintf(out->title, sizeof out->title, "tfrecord from-csv %s -> %s", a->file, a->out);
    mb_report_row(out, "records", "one tf.Example per CSV row", "%lld", row);
    for (int c = 0; c < nc && c < 200; c++) mb_report_row(out, names[c], "column type", "%s", mb_feature_kind_name(kinds[c]));
done:
    mb_tfr_writer_abort(w);
    fclose(f);
    free(line), free(header), free(names), free(fields), free(kinds), free(feats), free(ints), free(floats), free(bytes);
    if (rc) return input_failure(out, err, errlen, a->file, why);
    return 0;
}

static int tfrecord_tool(int argc, char **argv, struct mb_report *out, char *err, size_t errlen) {
    struct tool_args a;
    if (parse_args(argc, argv, &a, err, errlen)) return -1;
    if (!strcmp(a.command, "from-csv")) return from_csv(&a, out, err, errlen);
    return read_file(&a, out, err, errlen);
}

const struct mb_tool mb_tfrecord_tools[1] = {
    {.name = "tfrecord",
     .usage = USAGE,
     .summary = "TFRecord files of tf.Examples: cat (JSON lines), verify, count, stats, from-csv",
     .run = tfrecord_tool},
};
