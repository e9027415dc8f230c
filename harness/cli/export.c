/* mechbench export F.h5 --format tsv|csv|json [--out FILE]
 *
 * tsv / csv: a header line and one line per /points row, every column (axes by name). json: the layout of
 * Google Benchmark's --benchmark_format=json, so tools/compare.py can diff two results files: per measured
 * point one "iteration" entry per repetition sample and the mean / median / stddev aggregates. */
#include "cli/cli.h"

#include "cli/args.h"
#include "store/outfile.h"
#include "store/row_schema.h"
#include "store/rows.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: mechbench export F.h5 --format tsv|csv|json [--out FILE]\n"
    "\n"
    "Write the /points table of a results file as text (default: stdout).\n"
    "  --format tsv   tab-separated, header line, strings unquoted\n"
    "  --format csv   comma-separated, header line, RFC 4180 quoting\n"
    "  --format json  Google Benchmark JSON (measured points: each repetition and the mean, median and stddev\n"
    "                 aggregates, times in ns), for benchmark's tools/compare.py\n"
    "  --out FILE     write FILE atomically instead of stdout\n";

/* TSV: strings unquoted; a tab or line break inside one would break the table, so it becomes a space. */
static void put_tsv(FILE *f, const char *s) {
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

/* RFC 4180: quote a field holding a comma, quote or line break; double the quotes inside. */
static void put_csv(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void write_table(FILE *f, const struct mb_results *res, int csv) {
    char sep = csv ? ',' : '\t';
    void (*put)(FILE *, const char *) = csv ? put_csv : put_tsv;
    for (int i = 0; i < mb_row_column_count(); i++) {
        if (i) fputc(sep, f);
        put(f, mb_row_column(i).name);
    }
    fputc('\n', f);
    char buf[MB_MESSAGE_LEN + MB_PARAMS_LEN];
    for (int64_t r = 0; r < res->count; r++) {
        for (int i = 0; i < mb_row_column_count(); i++) {
            struct mb_column c = mb_row_column(i);
            mb_row_cell(&res->rows[r], &c, buf, sizeof buf);
            if (i) fputc(sep, f);
            put(f, buf);
        }
        fputc('\n', f);
    }
}

/* ---------------------------------------------------------------------------------------------- json */

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void json_number(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.17g", v);
    else fputs("null", f);
}

/* Benchmark name: "kernel/n:4096/d:64/causal:1/threads:2" (axes that are non-zero), then params. */
static void benchmark_name(const struct mb_row *r, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "%s", r->kernel);
    for (int a = 0; a < MB_AXIS_COUNT && used < len; a++) {
        double v = mb_point_get(&r->point, (enum mb_axis)a);
        if (v == 0) continue;
        char value[32];
        mb_axis_value_format(a, v, value, sizeof value);
        used += (size_t)snprintf(buf + used, len - used, "/%s:%s", mb_axes[a].name, value);
    }
    if (r->point.params[0] && used < len) snprintf(buf + used, len - used, "/%s", r->point.params);
}

static void json_context(FILE *f, struct mb_store *store) {
    static const char *const provenance[] = {
        "tool", "experiment", "created", "git_commit", "host", "cpu_model", "cores", "omp_max_threads",
        "omp_num_threads", "omp_proc_bind", "omp_places", "compiler", "cflags", "isa", "isa_supported", "hdf5_version",
        "benchmark_version", "openblas_config", "openblas_coretype", "seed", "schema_version",
    };
    char value[4096];
    fputs("{\n  \"context\": {\n    \"date\": ", f);
    mb_store_attr(store, "created", value, sizeof value);
    json_string(f, value);
    fputs(",\n    \"host_name\": ", f);
    mb_store_attr(store, "host", value, sizeof value);
    json_string(f, value);
    mb_store_attr(store, "cores", value, sizeof value);
    fprintf(f, ",\n    \"executable\": \"mechbench\",\n    \"num_cpus\": %ld", strtol(value, NULL, 10));
    mb_store_attr(store, "cpu_mhz", value, sizeof value);
    fprintf(f, ",\n    \"mhz_per_cpu\": %ld", strtol(value, NULL, 10));
    fputs(",\n    \"cpu_scaling_enabled\": false,\n    \"caches\": [],\n    \"load_avg\": [],\n"
          "    \"library_build_type\": \"release\",\n    \"json_schema_version\": 1", f);
    for (size_t i = 0; i < sizeof provenance / sizeof provenance[0]; i++) {
        if (mb_store_attr(store, provenance[i], value, sizeof value) != 0 || !value[0]) continue;
        fprintf(f, ",\n    \"%s\": ", provenance[i]);
        json_string(f, value);
    }
    fputs("\n  },\n  \"benchmarks\": [", f);
}

struct json_entry {
    const char *name, *run_name, *run_type, *aggregate;
    int64_t family, instance, repetitions, repetition_index, threads, iterations;
    double seconds;
    double items; /* the kernel's items per run (0: no items model); printed as Google Benchmark's items_per_second */
};

static void json_entry(FILE *f, const struct json_entry *e, int *first) {
    fputs(*first ? "\n    {" : ",\n    {", f);
    *first = 0;
    fputs("\n      \"name\": ", f);
    json_string(f, e->name);
    fputs(",\n      \"family_index\": ", f);
    fprintf(f, "%" PRId64 ",\n      \"per_family_instance_index\": %" PRId64, e->family, e->instance);
    fputs(",\n      \"run_name\": ", f);
    json_string(f, e->run_name);
    fprintf(f, ",\n      \"run_type\": \"%s\",\n      \"repetitions\": %" PRId64, e->run_type, e->repetitions);
    if (e->aggregate) fprintf(f, ",\n      \"threads\": %" PRId64 ",\n      \"aggregate_name\": \"%s\",\n"
                                 "      \"aggregate_unit\": \"time\"", e->threads, e->aggregate);
    else fprintf(f, ",\n      \"repetition_index\": %" PRId64 ",\n      \"threads\": %" PRId64, e->repetition_index,
                 e->threads);
    fprintf(f, ",\n      \"iterations\": %" PRId64 ",\n      \"real_time\": ", e->iterations);
    json_number(f, e->seconds * 1e9);
    fputs(",\n      \"cpu_time\": ", f);
    json_number(f, e->seconds * 1e9);
    fputs(",\n      \"time_unit\": \"ns\"", f);
    if (e->items > 0 && e->seconds > 0 && !(e->aggregate && !strcmp(e->aggregate, "stddev"))) {
        fputs(",\n      \"items_per_second\": ", f);
        json_number(f, e->items / e->seconds);
    }
    fputs("\n    }", f);
}

static int write_json(FILE *f, const struct mb_results *res, char *err, size_t errlen) {
    json_context(f, res->store);
    int first = 1;
    /* family_index: one per kernel in order of appearance; per_family_instance_index: its points in order */
    const char **kernels = calloc((size_t)(res->count ? res->count : 1), sizeof *kernels);
    int64_t *instances = calloc((size_t)(res->count ? res->count : 1), sizeof *instances);
    if (!kernels || !instances) {
        free(kernels);
        free(instances);
        return mb_errorf(err, errlen, "out of memory");
    }
    int64_t n_kernels = 0;
    int status = 0;
    for (int64_t i = 0; i < res->count && status == 0; i++) {
        const struct mb_row *r = &res->rows[i];
        if (!mb_row_measured(r)) continue;
        int64_t family = 0;
        while (family < n_kernels && strcmp(kernels[family], r->kernel) != 0) family++;
        if (family == n_kernels) kernels[n_kernels++] = r->kernel;
        char name[MB_NAME_LEN + 512], agg_name[sizeof name + 16];
        benchmark_name(r, name, sizeof name);
        struct json_entry e = {.name = name, .run_name = name, .run_type = "iteration", .family = family,
                               .instance = instances[family]++, .repetitions = r->repetitions,
                               .threads = r->point.threads ? r->point.threads : 1, .iterations = r->iterations,
                               .items = r->items};
        double *samples = NULL;
        int n_samples = 0;
        if (mb_store_read_samples(res->store, r->point_id, &samples, &n_samples, err, errlen)) {
            status = -1;
            break;
        }
        for (int s = 0; s < n_samples; s++) {
            e.repetition_index = s;
            e.seconds = samples[s];
            json_entry(f, &e, &first);
        }
        free(samples);
        static const char *const aggregates[] = {"mean", "median", "stddev"};
        const double values[] = {r->time_mean, r->time_median, r->time_stddev};
        e.run_type = "aggregate";
        e.iterations = n_samples ? n_samples : r->repetitions;
        for (int a = 0; a < 3; a++) {
            snprintf(agg_name, sizeof agg_name, "%s_%s", name, aggregates[a]);
            e.name = agg_name;
            e.aggregate = aggregates[a];
            e.seconds = values[a];
            json_entry(f, &e, &first);
        }
    }
    free(kernels);
    free(instances);
    fputs(first ? "]\n}\n" : "\n  ]\n}\n", f);
    return status;
}

/* ---------------------------------------------------------------------------------------------- command */

int mb_cli_export(int argc, char **argv) {
    const char *format = NULL, *out = NULL;
    const struct mb_opt opts[] = {
        {.name = "format", .kind = MB_OPT_STRING, .target = &format},
        {.name = "out", .kind = MB_OPT_STRING, .target = &out},
    };
    struct mb_cli_parse cli = {.command = "export", .opts = opts, .n_opts = 2};
    int rc = mb_cli_parse(&cli, argc, argv);
    if (rc == 3) {
        fputs(usage, stdout);
        return 0;
    }
    if (rc) return rc;
    if (cli.n_positional == 0)
        return mb_cli_fail("export", 2, "missing results file (usage: mechbench export F.h5 --format tsv|csv|json)");
    if (cli.n_positional > 1)
        return mb_cli_fail("export", 2, "unexpected argument '%s' (one results file at a time)", cli.positional[1]);
    if (!format) return mb_cli_fail("export", 2, "missing --format (allowed: tsv, csv, json)");
    int kind = !strcmp(format, "tsv") ? 0 : !strcmp(format, "csv") ? 1 : !strcmp(format, "json") ? 2 : -1;
    if (kind < 0) return mb_cli_fail("export", 2, "unknown --format '%s' (allowed: tsv, csv, json)", format);
    if (out && (rc = mb_cli_check_out("export", out))) return rc;
    if (out && mb_cli_same_file(cli.positional[0], out))
        return mb_cli_fail("export", 2, "--out %s is the results file itself: it would be replaced by %s text", out,
                           format);

    char err[1024];
    struct mb_results res;
    if (mb_results_load(cli.positional[0], &res, err, sizeof err)) return mb_cli_fail("export", 1, "%s", err);
    struct mb_outfile of = {0};
    FILE *f = stdout;
    if (out) {
        if (mb_make_parent_dirs(out, err, sizeof err) || mb_outfile_open(&of, out, err, sizeof err)) {
            mb_results_close(&res);
            return mb_cli_fail("export", 1, "%s", err);
        }
        f = of.f;
    }
    int status = 0;
    if (kind == 2) status = write_json(f, &res, err, sizeof err);
    else write_table(f, &res, kind == 1);
    mb_results_close(&res);
    if (out) {
        if (status) mb_outfile_abort(&of);
        else status = mb_outfile_commit(&of, err, sizeof err);
    } else if (status == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        status = mb_errorf(err, sizeof err, "cannot write to stdout");
    }
    return status ? mb_cli_fail("export", 1, "%s", err) : 0;
}
