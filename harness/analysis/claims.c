/* Paper claims: parse, sweep (or probe), evaluate, plot (see claims.h). */
#include "analysis/claims.h"

#include "run/experiment.h"
#include "analysis/probes.h"
#include "plot/gnuplot.h"
#include "plot/panels.h"
#include "store/rows.h"
#include "run/runner.h"
#include "store/store.h"

#include <dirent.h>
#include <gsl/gsl_cdf.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const mb_claim_assert_names[MB_CLAIM_ASSERT_COUNT] = {"slope",     "flat",  "power", "monotone",
                                                                  "crossover", "ratio", "equal", "value"};
const char *const mb_claim_verdict_names[3] = {"reproduced", "not reproduced", "inconclusive"};
const char *const mb_claim_kind_names[2] = {"reproduction", "description"};

const char *mb_claim_verdict_text(enum mb_claim_kind kind, enum mb_claim_verdict v) {
    static const char *const described[3] = {"holds", "does not hold", "inconclusive"};
    return kind == MB_CLAIM_DESCRIPTION ? described[v] : mb_claim_verdict_names[v];
}

/* ---------------------------------------------------------------------------------------------- expect */
int mb_expect_parse(const char *text, struct mb_expect *e) {
    memset(e, 0, sizeof *e);
    while (*text == ' ') text++;
    snprintf(e->text, sizeof e->text, "%s", text);
    char *end;
    if (!strcmp(text, "exists")) e->kind = MB_EXPECT_EXISTS;
    else if (!strcmp(text, "decreasing")) e->kind = MB_EXPECT_DECREASING;
    else if (!strcmp(text, "increasing")) e->kind = MB_EXPECT_INCREASING;
    else if (text[0] == '<' || text[0] == '>') {
        const char *num = text + 1 + (text[1] == '=');
        double v = strtod(num, &end);
        if (end == num || *end) return -1;
        e->kind = MB_EXPECT_RANGE;
        e->lo = text[0] == '<' ? -INFINITY : v;
        e->hi = text[0] == '<' ? v : INFINITY;
    } else {
        const char *dots = strstr(text, "..");
        if (!dots) return -1;
        char lo[64];
        if (dots - text >= (long)sizeof lo || dots == text) return -1;
        memcpy(lo, text, (size_t)(dots - text));
        lo[dots - text] = 0;
        e->lo = strtod(lo, &end); /* "0..1": strtod alone would read "0." */
        if (*end) return -1;
        e->hi = strtod(dots + 2, &end);
        if (end == dots + 2 || *end || !(e->lo <= e->hi)) return -1;
        e->kind = MB_EXPECT_RANGE;
    }
    return 0;
}

enum mb_claim_verdict mb_expect_judge(const struct mb_expect *e, const struct mb_interval *v) {
    if (isnan(v->est) || isnan(v->lo) || isnan(v->hi)) return MB_CLAIM_INCONCLUSIVE;
    if (v->lo >= e->lo && v->hi <= e->hi) return MB_CLAIM_REPRODUCED;
    if (v->hi < e->lo || v->lo > e->hi) return MB_CLAIM_NOT_REPRODUCED;
    return MB_CLAIM_INCONCLUSIVE;
}

/* ---------------------------------------------------------------------------------------------- parsing */
struct parse_state {
    const char *pos; /* the text not yet read */
    int line;        /* current line (for messages) */
    struct mb_claim_set *set;
    const char *name;
    char *err;
    size_t errlen;
    int failed;
    struct mb_claim *cur;
    char axes[1536];    /* "key = value\n" lines of the sweep's [axes] */
    char settings[512]; /* sweep settings of [experiment] */
    int params_line, variants_line; /* of the current claim, for messages */
    int axis_line[MB_AXIS_COUNT], fit_range_line;
    char params[MB_PARAMS_LEN * 2];
    int err_line;                   /* a message that finish_claim found on an earlier line */
};

static int finish_claim(struct parse_state *st);

/* inih line reader over a string (Debian's ini_parse_string frees a stack buffer: use the stream API). */
static char *reader(char *str, int num, void *stream) {
    struct parse_state *st = stream;
    if (!*st->pos || num < 2) return NULL;
    int i = 0;
    while (i < num - 1 && st->pos[i]) {
        str[i] = st->pos[i];
        if (str[i++] == '\n') break;
    }
    str[i] = '\0';
    st->pos += i;
    st->line++;
    return str;
}

static int fail(struct parse_state *st, const char *fmt, const char *a, const char *b) {
    if (!st->failed) {
        char msg[400];
        snprintf(msg, sizeof msg, fmt, a, b);
        snprintf(st->err, st->errlen, "%s", msg);
    }
    st->failed = 1;
    return 0;
}

static void append(char *buf, size_t len, const char *key, const char *value) {
    size_t used = strlen(buf);
    if (used < len) snprintf(buf + used, len - used, "%s = %s\n", key, value);
}

static int handler(void *user, const char *section, const char *name, const char *value) {
    struct parse_state *st = user;
    if (st->failed) return 0;
    if (!name) { /* new section (INI_CALL_HANDLER_ON_NEW_SECTION is off in Debian's build: handled below) */
        return 1;
    }
    if (strncmp(section, "claim ", 6) != 0 || !section[6])
        return fail(st, "unknown section [%s] (allowed: [claim ID])%s", section, "");
    const char *id = section + 6;
    if (!st->cur || strcmp(st->cur->id, id)) {
        if (st->cur && finish_claim(st)) return 0;
        for (int i = 0; i < st->set->count; i++)
            if (!strcmp(st->set->claims[i].id, id)) return fail(st, "claim '%s' is defined twice%s", id, "");
        for (const char *p = id; *p; p++)
            if (!(p[0] == '_' || p[0] == '-' || p[0] == '.' || (p[0] >= '0' && p[0] <= '9') ||
                  ((p[0] | 32) >= 'a' && (p[0] | 32) <= 'z')))
                return fail(st, "claim id '%s': use letters, digits, '_', '-', '.'%s", id, "");
        if (st->set->count == st->set->cap) {
            int cap = st->set->cap ? 2 * st->set->cap : 16;
            struct mb_claim *grown = realloc(st->set->claims, (size_t)cap * sizeof *grown);
            if (!grown) return fail(st, "out of memory%s%s", "", "");
            st->set->claims = grown;
            st->set->cap = cap;
        }
        st->cur = &st->set->claims[st->set->count++];
        memset(st->cur, 0, sizeof *st->cur);
        snprintf(st->cur->id, sizeof st->cur->id, "%s", id);
        snprintf(st->cur->file, sizeof st->cur->file, "%s", st->name);
        snprintf(st->cur->metric, sizeof st->cur->metric, "time");
        snprintf(st->cur->fit_range, sizeof st->cur->fit_range, "upper_half");
        st->cur->assertion = MB_CLAIM_ASSERT_COUNT;
        st->cur->tolerance = 1e-4;
        st->axes[0] = st->settings[0] = st->params[0] = 0;
        st->params_line = st->variants_line = st->fit_range_line = 0;
        memset(st->axis_line, 0, sizeof st->axis_line);
    }
    struct mb_claim *c = st->cur;
#define SET(field) snprintf(c->field, sizeof c->field, "%s", value)
    if (!strcmp(name, "source")) SET(source);
    else if (!strcmp(name, "statement")) SET(statement);
    else if (!strcmp(name, "paper")) SET(paper);
    else if (!strcmp(name, "derivation")) SET(derivation);
    else if (!strcmp(name, "kind")) {
        if (!strcmp(value, "reproduction")) c->kind = MB_CLAIM_REPRODUCTION;
        else if (!strcmp(value, "description")) c->kind = MB_CLAIM_DESCRIPTION;
        else return fail(st, "kind = %s (allowed: reproduction, description)%s", value, "");
    }
    else if (!strcmp(name, "kernels")) SET(kernels);
    else if (!strcmp(name, "probe")) {
        if (!mb_probe_x_axis(value)) {
            char names[256];
            mb_probe_names(names, sizeof names);
            return fail(st, "probe = %s: unknown probe (allowed: %s)", value, names);
        }
        SET(probe);
    } else if (!strcmp(name, "metric")) {
        static const char *const ok[] = {"time", "memory", "error", "own_error", "nmse", "gflops", "value"};
        int found = 0;
        for (int i = 0; i < 7; i++) found |= !strcmp(value, ok[i]);
        if (!found) return fail(st, "metric = %s (allowed: time, memory, error, own_error, nmse, gflops, value)%s", value, "");
        SET(metric);
    } else if (!strcmp(name, "x")) {
        if (mb_axis_lookup(value) < 0) return fail(st, "x = %s: not an axis (see harness/axes.def)%s", value, "");
        SET(x);
    } else if (!strcmp(name, "fit_range")) {
        double dummy[4] = {1, 2, 3, 4};
        if (mb_stats_fit_from(dummy, 4, value) < 0)
            return fail(st, "fit_range = %s (allowed: all, upper_half, upper_third, last:K)%s", value, "");
        st->fit_range_line = st->line;
        SET(fit_range);
    } else if (!strcmp(name, "assert")) {
        int i = 0;
        while (i < MB_CLAIM_ASSERT_COUNT && strcmp(value, mb_claim_assert_names[i])) i++;
        if (i == MB_CLAIM_ASSERT_COUNT)
            return fail(st, "assert = %s (allowed: slope, flat, power, monotone, crossover, ratio, equal, value)%s", value, "");
        c->assertion = (enum mb_claim_assert)i;
    } else if (!strcmp(name, "expect")) {
        if (mb_expect_parse(value, &c->expect))
            return fail(st, "expect = %s (allowed: a..b, <b, >a, exists, decreasing, increasing)%s", value, "");
    } else if (!strcmp(name, "at") || !strcmp(name, "tolerance")) {
        double v;
        if (mb_parse_number(value, &v)) return fail(st, "%s = %s: expected a number", name, value);
        if (name[0] == 'a') c->has_at = 1, c->at = v;
        else c->tolerance = v;
    } else if (!strcmp(name, "variants")) {
        st->variants_line = st->line;
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", value);
        c->n_variants = 0;
        for (char *save, *tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
            while (*tok == ' ') tok++;
            size_t l = strlen(tok);
            while (l && tok[l - 1] == ' ') tok[--l] = 0;
            if (c->n_variants == MB_CLAIM_MAX_VARIANTS) return fail(st, "variants: at most 8%s%s", "", "");
            snprintf(c->variants[c->n_variants++], sizeof c->variants[0], "%s", tok);
        }
    } else if (!strcmp(name, "repetitions") || !strcmp(name, "rounds") || !strcmp(name, "min_time") ||
               !strcmp(name, "seed") || !strcmp(name, "check_rows") || !strcmp(name, "budget") || !strcmp(name, "max_mem")) {
        append(st->settings, sizeof st->settings, name, value);
    } else if (mb_axis_lookup(name) >= 0 || !strcmp(name, "params")) {
        if (mb_axis_lookup(name) >= 0) st->axis_line[mb_axis_lookup(name)] = st->line;
        if (name[0] == 'p' && !strcmp(name, "params")) {
            st->params_line = st->line;
            snprintf(st->params, sizeof st->params, "%s", value);
        }
        append(st->axes, sizeof st->axes, name, value);
    } else {
        return fail(st, "unknown key '%s' in [claim %s] (allowed: source, statement, paper, kind, derivation, assert, kernels, probe, "
                        "variants, metric, x, fit_range, at, expect, tolerance, sweep settings, axes)", name, id);
    }
#undef SET
    return 1;
}

static int finish_claim(struct parse_state *st) {
    struct mb_claim *c = st->cur;
    char *err = st->err;
    size_t errlen = st->errlen;
    st->failed = 1;
    if (c->assertion == MB_CLAIM_ASSERT_COUNT) return mb_errorf(err, errlen, "claim %s: missing assert", c->id);
    if (!c->statement[0]) return mb_errorf(err, errlen, "claim %s: missing statement", c->id);
    if (!c->source[0]) return mb_errorf(err, errlen, "claim %s: missing source", c->id);
    if (!c->kernels[0] == !c->probe[0]) return mb_errorf(err, errlen, "claim %s: give kernels or a probe (one of them)", c->id);
    if (c->probe[0] && !c->x[0]) snprintf(c->x, sizeof c->x, "%s", mb_probe_x_axis(c->probe));
    if (!c->x[0]) snprintf(c->x, sizeof c->x, "n");
    if (c->probe[0] && !strcmp(c->metric, "time")) snprintf(c->metric, sizeof c->metric, "value");
    if (!c->expect.text[0]) {
        if (c->assertion == MB_CLAIM_FLAT) mb_expect_parse("-0.15..0.15", &c->expect);
        else if (c->assertion == MB_CLAIM_CROSSOVER) mb_expect_parse("exists", &c->expect);
        else if (c->assertion == MB_CLAIM_MONOTONE) mb_expect_parse("decreasing", &c->expect);
        else if (c->assertion == MB_CLAIM_EQUAL) {
            char t[32];
            snprintf(t, sizeof t, "<%g", c->tolerance);
            mb_expect_parse(t, &c->expect);
        } else return mb_errorf(err, errlen, "claim %s: missing expect", c->id);
    }
    int want_two = c->assertion == MB_CLAIM_CROSSOVER || c->assertion == MB_CLAIM_RATIO;
    int commas = 0;
    for (const char *p = c->kernels; *p; p++) commas += *p == ',';
    if (want_two && c->kernels[0] && commas != 1)
        return mb_errorf(err, errlen, "claim %s: %s needs two kernels A, B (got '%s')", c->id,
                         mb_claim_assert_names[c->assertion], c->kernels);
    if (want_two && c->probe[0] && c->n_variants != 2)
        return mb_errorf(err, errlen, "claim %s: %s of a probe needs two variants A | B", c->id, mb_claim_assert_names[c->assertion]);
    if (c->assertion == MB_CLAIM_RATIO && !c->has_at) return mb_errorf(err, errlen, "claim %s: ratio needs at = X", c->id);
    if ((c->expect.kind == MB_EXPECT_EXISTS) != (c->assertion == MB_CLAIM_CROSSOVER) && c->assertion == MB_CLAIM_CROSSOVER &&
        c->expect.kind != MB_EXPECT_RANGE)
        return mb_errorf(err, errlen, "claim %s: crossover expects 'exists', a..b, <N or >N", c->id);
    if ((c->expect.kind == MB_EXPECT_DECREASING || c->expect.kind == MB_EXPECT_INCREASING) != (c->assertion == MB_CLAIM_MONOTONE))
        return mb_errorf(err, errlen, "claim %s: expect = %s does not fit assert = %s", c->id, c->expect.text,
                         mb_claim_assert_names[c->assertion]);
    if (c->expect.kind == MB_EXPECT_EXISTS && c->assertion != MB_CLAIM_CROSSOVER)
        return mb_errorf(err, errlen, "claim %s: expect = exists is for crossover claims", c->id);
    if (c->expect.kind == MB_EXPECT_EXISTS && c->kind != MB_CLAIM_DESCRIPTION)
        return mb_errorf(err, errlen, "claim %s: expect = exists cannot fail: give the range of %s* the paper implies, or "
                         "mark the claim kind = description", c->id, c->x);
    if (c->probe[0] && c->n_variants == 0) c->n_variants = 1; /* one variant with no params */
    /* parameters against their declarations (the kernels' or the probe's), reported at their own line */
    const struct mb_probe *probe = c->probe[0] ? mb_probe_find(c->probe) : NULL;
    for (int v = 0; probe && v < c->n_variants; v++) {
        const struct mb_param_decl *lists[1] = {probe->params};
        const int counts[1] = {probe->n_params};
        struct mb_point scratch;
        char owner[80];
        snprintf(owner, sizeof owner, "probe %s", probe->name);
        if (mb_params_parse_decls(lists, counts, 1, owner, c->variants[v], 0, &scratch, err, errlen))
            return st->err_line = st->variants_line, -1;
    }
    if (c->kernels[0] && st->params[0] && mb_params_validate_for(c->kernels, st->params, err, errlen))
        return st->err_line = st->params_line, -1;
    /* the sweep this claim needs, as an experiment file (validated by the experiment parser) */
    /* Timings default to 3 interleaved rounds (the sweep measures every point, then all again, ...): a point's
       samples then come from three separate minutes, so the machine's drift between minutes enters its median and
       the median's bootstrap interval, not only one minute's noise. */
    const int timed = !strcmp(c->metric, "time") && !c->probe[0];
    const char *const defaults[][2] = {{"repetitions", timed ? "3" : "7"}, {"min_time", "0.02"}, {"check_rows", "64"},
                                       {"rounds", "3"}};
    for (int i = 0; i < (timed ? 4 : 3); i++) {
        char key[32];
        snprintf(key, sizeof key, "%s = ", defaults[i][0]);
        if (!strstr(st->settings, key))
            append(st->settings, sizeof st->settings, defaults[i][0], defaults[i][1]);
    }
    snprintf(c->sweep_ini, sizeof c->sweep_ini, "[experiment]\nname = claim_%s\nkernels = %s\n%s[axes]\n%s", c->id,
             c->kernels[0] ? c->kernels : "attention.softmax.naive", st->settings, st->axes);
    struct mb_experiment e;
    char msg[400];
    if (mb_experiment_parse(c->sweep_ini, c->id, &e, msg, sizeof msg))
        return mb_errorf(err, errlen, "claim %s: %s", c->id, msg);
    int fitted = c->assertion == MB_CLAIM_SLOPE || c->assertion == MB_CLAIM_FLAT || c->assertion == MB_CLAIM_POWER ||
                 c->assertion == MB_CLAIM_MONOTONE;
    if (fitted) { /* enough sizes in the fit range */
        int ax = mb_axis_lookup(c->x);
        const struct mb_axis_values *v = &e.sweeps[0].axes[ax];
        int from = c->assertion == MB_CLAIM_MONOTONE ? 0 : mb_stats_fit_from(v->values, v->count, c->fit_range);
        if (v->count - from < MB_CLAIM_MIN_FIT_POINTS) {
            mb_errorf(err, errlen, "claim %s: %s over %d value(s) of %s (fit_range = %s): at least %d are needed", c->id,
                      mb_claim_assert_names[c->assertion], v->count - from, c->x, c->fit_range, MB_CLAIM_MIN_FIT_POINTS);
            mb_experiment_free(&e);
            st->err_line = st->axis_line[ax] ? st->axis_line[ax] : st->fit_range_line;
            return -1;
        }
    }
    mb_experiment_free(&e);
    st->failed = 0;
    return 0;
}

int mb_claims_parse(const char *text, const char *name, struct mb_claim_set *set, char *err, size_t errlen) {
    struct parse_state *st = calloc(1, sizeof *st);
    if (!st) return mb_errorf(err, errlen, "out of memory");
    st->set = set;
    st->name = name;
    st->err = err;
    st->errlen = errlen;
    int first = set->count;
    st->pos = text;
    /* Debian's libinih is configured by globals: the same settings as harness/experiment.c (heap line buffer,
       no multi-line values, inline ';' comments) */
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = 1 << 16;
    ini_allow_multiline = false;
    ini_allow_inline_comments = true;
    ini_allow_no_value = false;
    ini_stop_on_first_error = true;
    int line = ini_parse_stream(reader, st, handler, st);
    if (st->failed && line <= 0) line = st->line;
    if (st->err_line > 0) line = st->err_line; /* finish_claim's message, found at the next section */
    int status = 0;
    if (line != 0 || st->failed) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", st->failed ? err : "syntax error");
        if (line > 0) mb_errorf(err, errlen, "%s:%d: %s", name, line, msg);
        else mb_errorf(err, errlen, "%s: %s", name, msg);
        status = -1;
    } else if (st->cur && finish_claim(st)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        if (st->err_line > 0) mb_errorf(err, errlen, "%s:%d: %s", name, st->err_line, msg);
        else mb_errorf(err, errlen, "%s: %s", name, msg);
        status = -1;
    }
    if (status) set->count = first;
    free(st);
    return status;
}

int mb_claims_load(const char *path, struct mb_claim_set *set, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) return mb_errorf(err, errlen, "%s: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    char buf[4096];
    size_t got;
    while (m && (got = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, got, m);
    fclose(f);
    if (!m) return mb_errorf(err, errlen, "out of memory");
    fclose(m);
    int rc = mb_claims_parse(text, path, set, err, errlen);
    free(text);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int mb_claims_load_dir(const char *dir, struct mb_claim_set *set, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (!d) return mb_errorf(err, errlen, "%s: %s", dir, strerror(errno));
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".ini")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int status = 0;
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (!status && mb_claims_load(path, set, err, errlen)) status = -1;
        free(names[i]);
    }
    return status;
}

void mb_claims_free(struct mb_claim_set *set) {
    free(set->claims);
    memset(set, 0, sizeof *set);
}

/* ---------------------------------------------------------------------------------------------- series */
#define MAX_SERIES 32
#define MAX_POINTS MB_PROBE_MAX_POINTS

struct series {
    char kernel[MB_NAME_LEN + 130]; /* kernel or "probe variant" */
    char key[192];                  /* the other axes: "d=64 causal=0" */
    int count;
    double x[MAX_POINTS], y[MAX_POINTS];
    double *s[MAX_POINTS];
    int *rd[MAX_POINTS]; /* the round of each sample (timings) */
    int ns[MAX_POINTS];
    int mean; /* y is the mean of the samples (probes), else their median (timings) */
    int cross_found;            /* crossover claims, on series A: n* and its interval (plots mark them) */
    struct mb_interval cross;
};

struct series_set {
    int count;
    struct series s[MAX_SERIES];
};

static void series_set_free(struct series_set *ss) {
    for (int i = 0; i < ss->count; i++)
        for (int j = 0; j < ss->s[i].count; j++) free(ss->s[i].s[j]), free(ss->s[i].rd[j]);
    ss->count = 0;
}

static struct mb_curve curve_of(const struct series *s) {
    return (struct mb_curve){.count = s->count, .x = s->x, .y = s->y, .samples = (const double *const *)s->s, .ns = s->ns,
                            .mean = s->mean, .rounds = (const int *const *)s->rd};
}

static double row_metric(const struct mb_row *r, const char *metric) {
    if (!strcmp(metric, "time")) return r->time_median;
    if (!strcmp(metric, "memory")) return r->workspace_bytes;
    if (!strcmp(metric, "error")) return r->exact.rel_l2;
    if (!strcmp(metric, "own_error")) return r->own.rel_l2;
    if (!strcmp(metric, "nmse")) return r->exact.nmse;
    if (!strcmp(metric, "gflops")) return r->gflops;
    return NAN;
}

/* Is row r one the claim's sweep would make now (same kernel source, axis values in the claim's lists)? */
static int row_wanted(const struct mb_row *r, const struct mb_sweep *sw) {
    const struct mb_kernel *k = mb_kernel_find(r->kernel);
    if (!k || strcmp(k->source_hash, r->source_hash) || !mb_row_measured(r)) return 0;
    struct mb_point want; /* the sweep's params as the sweep stores them for this kernel (normalised) */
    char msg[8];
    memset(&want, 0, sizeof want);
    if (mb_params_parse(k, sw->params, MB_PARAMS_LENIENT, &want, msg, sizeof msg) || strcmp(r->point.params, want.params))
        return 0;
    for (int a = 0; a < MB_AXIS_COUNT; a++) {
        if (!sw->axes[a].count) continue;
        double v = mb_point_get(&r->point, (enum mb_axis)a);
        int found = v == 0; /* an axis the kernel does not read is stored as 0 */
        for (int i = 0; i < sw->axes[a].count && !found; i++) found = sw->axes[a].values[i] == v;
        if (!found) return 0;
    }
    return 1;
}

/* Rows of the claim's file grouped into series along x. */
static int series_from_rows(const struct mb_claim *c, struct mb_results *res, const struct mb_sweep *sw, int x_axis,
                            struct series_set *ss, char *err, size_t errlen) {
    const struct mb_row **keep = malloc((size_t)(res->count ? res->count : 1) * sizeof *keep);
    if (!keep) return mb_errorf(err, errlen, "out of memory");
    int64_t n = 0;
    for (int64_t i = 0; i < res->count; i++)
        if (row_wanted(&res->rows[i], sw)) keep[n++] = &res->rows[i];
    uint64_t vary = mb_rows_varying(keep, n, NULL) & ~(UINT64_C(1) << x_axis);
    struct mb_series_set set;
    if (mb_series_group(keep, n, x_axis, vary, 0, &set, err, errlen)) return free(keep), -1;
    int status = 0;
    for (int i = 0; i < set.count && ss->count < MAX_SERIES && !status; i++) {
        struct series *s = &ss->s[ss->count++];
        memset(s, 0, sizeof *s);
        snprintf(s->kernel, sizeof s->kernel, "%s", set.series[i].kernel);
        snprintf(s->key, sizeof s->key, "%s", set.series[i].key);
        for (int j = 0; j < set.series[i].count && s->count < MAX_POINTS; j++) {
            const struct mb_row *r = set.series[i].rows[j];
            double y = row_metric(r, c->metric);
            if (!isfinite(y)) continue;
            int k = s->count++;
            s->x[k] = mb_row_x(r, x_axis);
            s->y[k] = y;
            if (!strcmp(c->metric, "time") &&
                mb_store_read_samples_rounds(res->store, r->point_id, &s->s[k], &s->rd[k], &s->ns[k], err, errlen))
                status = -1;
        }
    }
    mb_series_free(&set);
    free(keep);
    return status;
}

/* ---------------------------------------------------------------------------------------------- evaluation */
static struct mb_claim_result *add_result(struct mb_claim_result **res, int *n, const struct mb_claim *c,
                                          const char *key) {
    struct mb_claim_result *grown = realloc(*res, (size_t)(*n + 1) * sizeof *grown);
    if (!grown) return NULL;
    *res = grown;
    struct mb_claim_result *r = &grown[(*n)++];
    memset(r, 0, sizeof *r);
    if (key && *key) snprintf(r->id, sizeof r->id, "%s[%s]", c->id, key);
    else snprintf(r->id, sizeof r->id, "%s", c->id);
    snprintf(r->paper, sizeof r->paper, "%s", c->paper[0] ? c->paper : "-");
    snprintf(r->expect, sizeof r->expect, "%s", c->expect.text);
    r->kind = c->kind;
    r->verdict = MB_CLAIM_INCONCLUSIVE;
    r->value.est = r->value.lo = r->value.hi = NAN;
    return r;
}

static void series_key(const struct series *s, int multi_kernel, char *buf, size_t len) {
    if (multi_kernel && s->key[0]) snprintf(buf, len, "%s %s", s->kernel, s->key);
    else if (multi_kernel) snprintf(buf, len, "%s", s->kernel);
    else snprintf(buf, len, "%s", s->key);
}

static void fmt_interval(const struct mb_interval *v, char *buf, size_t len) {
    if (!isfinite(v->est)) snprintf(buf, len, "-");
    else if (v->lo == v->hi) snprintf(buf, len, "%.4g", v->est);
    else snprintf(buf, len, "%.4g [%.4g, %.4g]", v->est, v->lo, v->hi);
}

static int find_x(const struct series *s, double x) {
    for (int i = 0; i < s->count; i++)
        if (fabs(s->x[i] - x) <= 1e-9 * fabs(x)) return i;
    return -1;
}

static int distinct_kernels(const struct series_set *ss) {
    int n = 0;
    for (int i = 0; i < ss->count; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= !strcmp(ss->s[i].kernel, ss->s[j].kernel);
        n += !seen;
    }
    return n;
}

/* The value at point k with its interval: the range of its trials or samples (range = 1), or, for a mean of trials,
   its 95% t-interval (range = 0: the claim is about the mean, not one trial); the value itself without trials. */
static void point_interval(const struct series *s, int k, int range, struct mb_interval *v) {
    *v = (struct mb_interval){.est = s->y[k], .lo = s->y[k], .hi = s->y[k], .level = 0.95};
    const int n = s->ns[k];
    if (n < 2) return;
    if (!range && s->mean) {
        double mean = 0, var = 0;
        for (int j = 0; j < n; j++) mean += s->s[k][j] / n;
        for (int j = 0; j < n; j++) var += (s->s[k][j] - mean) * (s->s[k][j] - mean) / (n - 1);
        double half = gsl_cdf_tdist_Pinv(0.975, n - 1) * sqrt(var / n);
        v->lo = s->y[k] - half;
        v->hi = s->y[k] + half;
        return;
    }
    for (int j = 0; j < n; j++) {
        v->lo = fmin(v->lo, s->s[k][j]);
        v->hi = fmax(v->hi, s->s[k][j]);
    }
}

static int eval_single(const struct mb_claim *c, const struct mb_claim_opts *o, const struct series_set *ss,
                       struct mb_claim_result **res, int *n_res) {
    int multi = distinct_kernels(ss) > 1;
    for (int i = 0; i < ss->count; i++) {
        const struct series *s = &ss->s[i];
        char key[300];
        series_key(s, multi, key, sizeof key);
        struct mb_claim_result *r = add_result(res, n_res, c, key);
        if (!r) return -1;
        struct mb_curve cv = curve_of(s);
        if (c->assertion == MB_CLAIM_VALUE) {
            if (c->has_at) {
                int k = find_x(s, c->at);
                if (k < 0) {
                    snprintf(r->reason, sizeof r->reason, "no measured point at %s = %g", c->x, c->at);
                    continue;
                }
                point_interval(s, k, 1, &r->value);
                fmt_interval(&r->value, r->measured, sizeof r->measured);
                snprintf(r->reason, sizeof r->reason, "at %s = %g (interval: range of the trials)", c->x, c->at);
                r->verdict = mb_expect_judge(&c->expect, &r->value);
            } else { /* every point (its value, or its mean's 95% interval): reproduced when every point is in range,
                        not reproduced when one is wholly out */
                if (!s->count) continue;
                double lo = INFINITY, hi = -INFINITY;
                int in = 0, out = 0;
                for (int k = 0; k < s->count; k++) {
                    struct mb_interval v;
                    point_interval(s, k, 0, &v);
                    lo = fmin(lo, v.lo), hi = fmax(hi, v.hi);
                    enum mb_claim_verdict pv = mb_expect_judge(&c->expect, &v);
                    in += pv == MB_CLAIM_REPRODUCED;
                    out += pv == MB_CLAIM_NOT_REPRODUCED;
                }
                r->value = (struct mb_interval){.est = lo, .lo = lo, .hi = hi, .level = 0.95};
                snprintf(r->measured, sizeof r->measured, "%.4g..%.4g over %s = %g..%g", lo, hi, c->x, s->x[0], s->x[s->count - 1]);
                r->verdict = out ? MB_CLAIM_NOT_REPRODUCED : in == s->count ? MB_CLAIM_REPRODUCED : MB_CLAIM_INCONCLUSIVE;
                if (out) snprintf(r->reason, sizeof r->reason, "%d of %d points wholly outside %s", out, s->count, c->expect.text);
                else if (in < s->count)
                    snprintf(r->reason, sizeof r->reason, "%d of %d points straddle a bound of %s", s->count - in, s->count,
                             c->expect.text);
            }
            continue;
        }
        if (c->assertion == MB_CLAIM_EQUAL) {
            double worst = 0;
            for (int k = 0; k < s->count; k++) worst = fmax(worst, s->y[k]);
            r->value = (struct mb_interval){.est = worst, .lo = worst, .hi = worst};
            snprintf(r->measured, sizeof r->measured, "max rel_l2 %.3g over %d points", worst, s->count);
            r->verdict = s->count ? mb_expect_judge(&c->expect, &r->value) : MB_CLAIM_INCONCLUSIVE;
            continue;
        }
        int from = c->assertion == MB_CLAIM_MONOTONE ? 0 : mb_stats_fit_from(s->x, s->count, c->fit_range);
        if (s->count - from < MB_CLAIM_MIN_FIT_POINTS) {
            snprintf(r->reason, sizeof r->reason, "%d measured points along %s in the fit range: need at least %d",
                     s->count - from, c->x, MB_CLAIM_MIN_FIT_POINTS);
            continue;
        }
        if (mb_stats_slope(&cv, from, o->replicates, 1234, 0.95, &r->value)) {
            snprintf(r->reason, sizeof r->reason, "the fit failed (non-positive values?)");
            continue;
        }
        char iv[96];
        fmt_interval(&r->value, iv, sizeof iv);
        if (c->assertion == MB_CLAIM_MONOTONE) {
            int dir = c->expect.kind == MB_EXPECT_DECREASING ? -1 : 1, good = 0;
            for (int k = 1; k < s->count; k++)
                good += dir < 0 ? s->y[k] < s->y[k - 1] * 1.02 : s->y[k] > s->y[k - 1] * 0.98;
            snprintf(r->measured, sizeof r->measured, "%d/%d steps %s; slope %s", good, s->count - 1,
                     dir < 0 ? "down" : "up", iv);
            /* strict: every step the expected way AND the slope's whole interval on that side of 0 */
            int trend = dir < 0 ? r->value.hi < 0 : r->value.lo > 0, against = dir < 0 ? r->value.lo > 0 : r->value.hi < 0;
            if (good == s->count - 1 && trend) r->verdict = MB_CLAIM_REPRODUCED;
            else if (against) r->verdict = MB_CLAIM_NOT_REPRODUCED;
            else {
                r->verdict = MB_CLAIM_INCONCLUSIVE;
                if (good < s->count - 1)
                    snprintf(r->reason, sizeof r->reason, "%d step(s) go the other way", s->count - 1 - good);
                else snprintf(r->reason, sizeof r->reason, "every step goes %s but the slope's interval reaches 0",
                              dir < 0 ? "down" : "up");
            }
            continue;
        }
        snprintf(r->measured, sizeof r->measured, "%s (%s = %.10g..%.10g)", iv, c->x, s->x[from], s->x[s->count - 1]);
        char how[96];
        if (r->value.strata)
            snprintf(how, sizeof how, "median of %d rounds' slopes; bootstrap of the samples in each round", r->value.strata);
        else snprintf(how, sizeof how, "%s", s->ns[from] < 2 ? "OLS t" : s->mean ? "bootstrap of the means" : "bootstrap of the medians");
        snprintf(r->reason, sizeof r->reason, "log-log slope over %d points, 95%% interval (%s)", s->count - from, how);
        r->verdict = mb_expect_judge(&c->expect, &r->value);
    }
    return 0;
}

/* Keys "d=64 rank=256" are compatible when every axis named in both has the same value (an axis one kernel does
   not read, e.g. rank for exact softmax, is absent from its key). */
static int keys_compatible(const char *a, const char *b) {
    char ka[192], kb[192];
    snprintf(ka, sizeof ka, "%s", a);
    for (char *sa, *ta = strtok_r(ka, " ", &sa); ta; ta = strtok_r(NULL, " ", &sa)) {
        const char *eq = strchr(ta, '=');
        if (!eq) continue;
        size_t name_len = (size_t)(eq - ta) + 1;
        snprintf(kb, sizeof kb, "%s", b);
        for (char *sb, *tb = strtok_r(kb, " ", &sb); tb; tb = strtok_r(NULL, " ", &sb))
            if (!strncmp(ta, tb, name_len) && strcmp(ta, tb)) return 0;
    }
    return 1;
}

/* Pairs of series (A, B) with compatible keys, A from the first kernel/variant, B from the second. */
static int eval_pair(const struct mb_claim *c, const struct mb_claim_opts *o, struct series_set *ss,
                     const char *name_a, const char *name_b, struct mb_claim_result **res, int *n_res) {
    for (int i = 0; i < ss->count; i++) {
        struct series *a = &ss->s[i];
        if (strcmp(a->kernel, name_a)) continue;
        const struct series *b = NULL;
        for (int j = 0; j < ss->count && !b; j++)
            if (!strcmp(ss->s[j].kernel, name_b) && !strcmp(ss->s[j].key, a->key)) b = &ss->s[j];
        for (int j = 0; j < ss->count && !b; j++)
            if (!strcmp(ss->s[j].kernel, name_b) && keys_compatible(a->key, ss->s[j].key)) b = &ss->s[j];
        struct mb_claim_result *r = add_result(res, n_res, c, b && strlen(b->key) > strlen(a->key) ? b->key : a->key);
        if (!r) return -1;
        if (!b) {
            snprintf(r->reason, sizeof r->reason, "no %s series at %s", name_b, a->key[0] ? a->key : "these axes");
            continue;
        }
        if (c->assertion == MB_CLAIM_RATIO) {
            int ka = find_x(a, c->at), kb = find_x(b, c->at);
            if (ka < 0 || kb < 0) {
                snprintf(r->reason, sizeof r->reason, "no measured pair at %s = %g", c->x, c->at);
                continue;
            }
            const double *sa = a->ns[ka] ? a->s[ka] : &a->y[ka], *sb = b->ns[kb] ? b->s[kb] : &b->y[kb];
            int na = a->ns[ka] ? a->ns[ka] : 1, nb = b->ns[kb] ? b->ns[kb] : 1;
            const int *ra = a->ns[ka] ? a->rd[ka] : NULL, *rb = b->ns[kb] ? b->rd[kb] : NULL;
            if (mb_stats_ratio(sa, ra, na, sb, rb, nb, a->mean, o->replicates, 99, 0.95, &r->value)) {
                snprintf(r->reason, sizeof r->reason, "ratio undefined (zero value)");
                continue;
            }
            fmt_interval(&r->value, r->measured, sizeof r->measured);
            if (r->value.strata)
                snprintf(r->reason, sizeof r->reason, "%s / %s at %s = %g (median of %d rounds' ratios; interval: "
                         "bootstrap of the samples in each round)", name_a, name_b, c->x, c->at, r->value.strata);
            else
                snprintf(r->reason, sizeof r->reason, "%s / %s at %s = %g (interval: bootstrap of the %s)", name_a, name_b,
                         c->x, c->at, a->mean ? "means" : "medians");
            r->verdict = mb_expect_judge(&c->expect, &r->value);
            continue;
        }
        /* crossover over the common x */
        struct series ca = {0}, cb = {0};
        for (int k = 0; k < a->count; k++) {
            int m = find_x(b, a->x[k]);
            if (m < 0) continue;
            int t = ca.count++;
            ca.x[t] = cb.x[t] = a->x[k];
            ca.y[t] = a->y[k], cb.y[t] = b->y[m];
            ca.s[t] = a->s[k], cb.s[t] = b->s[m];
            ca.rd[t] = a->rd[k], cb.rd[t] = b->rd[m];
            ca.ns[t] = a->ns[k], cb.ns[t] = b->ns[m];
            ca.mean = a->mean, cb.mean = b->mean;
            cb.count++;
        }
        struct mb_curve cva = curve_of(&ca), cvb = curve_of(&cb);
        struct mb_crossover pt;
        double frac = 0;
        if (ca.count < 2 || mb_stats_crossover(&cva, &cvb, o->replicates, 4321, 0.95, &pt, &r->value, &frac)) {
            snprintf(r->reason, sizeof r->reason, "%d common points: no crossover can be computed", ca.count);
            continue;
        }
        if (!pt.found) {
            snprintf(r->measured, sizeof r->measured, "none in %s = %g..%g (%s faster throughout)", c->x, ca.x[0],
                     ca.x[ca.count - 1], pt.faster > 0 ? name_b : pt.faster < 0 ? name_a : "neither");
            /* No sign change in the measured range: n* lies below it (B faster from the first x on) or above it (A
               faster to the last x), an open interval judged like any other: in range when the expected range holds
               it all, out when it misses it all. */
            double x0 = ca.x[0], x1 = ca.x[ca.count - 1];
            struct mb_interval beyond = pt.faster > 0 ? (struct mb_interval){.est = x0, .lo = -INFINITY, .hi = x0}
                                                      : (struct mb_interval){.est = x1, .lo = x1, .hi = INFINITY};
            r->verdict = c->expect.kind == MB_EXPECT_RANGE && pt.faster ? mb_expect_judge(&c->expect, &beyond)
                                                                        : MB_CLAIM_INCONCLUSIVE;
            if (pt.faster > 0)
                snprintf(r->reason, sizeof r->reason, "%s is faster already at %s = %g: any crossover lies below the range",
                         name_b, c->x, x0);
            else
                snprintf(r->reason, sizeof r->reason, "%s is faster up to %s = %g: any crossover lies above the range",
                         name_a, c->x, x1);
            if (frac > 0.05) {
                r->verdict = MB_CLAIM_INCONCLUSIVE;
                snprintf(r->reason + strlen(r->reason), sizeof r->reason - strlen(r->reason),
                         "; yet found in %.0f%% of bootstrap replicates", 100 * frac);
            }
            continue;
        }
        char iv[96];
        fmt_interval(&r->value, iv, sizeof iv);
        snprintf(r->measured, sizeof r->measured, "%s* = %s, between %s = %g and %g%s", c->x, iv, c->x, pt.x_below,
                 pt.x_above, pt.crossings > 1 ? " (noisy: several crossings)" : "");
        snprintf(r->reason, sizeof r->reason, "%s faster above %s*; found in %.0f%% of %d bootstrap replicates",
                 pt.b_faster_above ? name_b : name_a, c->x, 100 * frac, o->replicates);
        a->cross_found = 1;
        a->cross = r->value;
        if (frac < 0.95) {
            r->verdict = MB_CLAIM_INCONCLUSIVE;
            snprintf(r->reason + strlen(r->reason), sizeof r->reason - strlen(r->reason),
                     ": in the others the curves do not cross in the range");
        } else if (c->expect.kind == MB_EXPECT_EXISTS) r->verdict = MB_CLAIM_REPRODUCED;
        else r->verdict = mb_expect_judge(&c->expect, &r->value);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------- equal, 2 kernels */
static int output_rel_l2(const struct mb_kernel *ka, const struct mb_kernel *kb, const struct mb_point *p, uint64_t seed,
                         double *rel, char *err, size_t errlen) {
    struct mb_workload w;
    if (mb_workload_create(&w, ka->family, p, seed, err, errlen)) return -1;
    float *saved[MB_MAX_TENSORS] = {0};
    int status = 0;
    for (int pass = 0; pass < 2 && !status; pass++) {
        const struct mb_kernel *k = pass ? kb : ka;
        if (mb_run_once(k, &w, err, errlen)) status = -1;
        for (int t = 0; !status && pass == 0 && t < w.n_outputs; t++) {
            size_t bytes = (size_t)mb_tensor_numel(&w.outputs[t]) * sizeof(float);
            saved[t] = malloc(bytes ? bytes : 1);
            if (!saved[t]) status = mb_errorf(err, errlen, "out of memory");
            else memcpy(saved[t], w.outputs[t].data, bytes);
        }
    }
    double num = 0, den = 0;
    for (int t = 0; !status && t < w.n_outputs; t++)
        for (int64_t i = 0; i < mb_tensor_numel(&w.outputs[t]); i++) {
            double a = saved[t][i], b = w.outputs[t].data[i];
            num += (a - b) * (a - b);
            den += a * a;
        }
    *rel = den > 0 ? sqrt(num / den) : sqrt(num);
    for (int t = 0; t < MB_MAX_TENSORS; t++) free(saved[t]);
    mb_workload_free(&w);
    return status;
}

static int eval_equal_pair(const struct mb_claim *c, const struct mb_experiment *e, const struct mb_kernel *ka,
                           const struct mb_kernel *kb, struct mb_claim_result **res, int *n_res, char *err, size_t errlen) {
    struct mb_claim_result *r = add_result(res, n_res, c, NULL);
    if (!r) return mb_errorf(err, errlen, "out of memory");
    const struct mb_sweep *sw = &e->sweeps[0];
    int index[MB_AXIS_COUNT] = {0}, points = 0;
    double worst = 0;
    do {
        struct mb_point pa;
        uint64_t given;
        mb_sweep_point(sw, index, &pa, &given);
        if (mb_params_parse(ka, sw->params, MB_PARAMS_LENIENT, &pa, err, errlen)) return -1;
        mb_point_complete(ka, &pa, given);
        char why[MB_MESSAGE_LEN];
        if (mb_kernel_supports(ka, &pa, why, sizeof why) || mb_kernel_supports(kb, &pa, why, sizeof why)) continue;
        double rel;
        if (output_rel_l2(ka, kb, &pa, e->seed, &rel, err, errlen)) return -1;
        worst = fmax(worst, rel);
        points++;
    } while (mb_sweep_next(sw, index));
    if (!points) {
        snprintf(r->reason, sizeof r->reason, "no point is supported by both %s and %s", ka->name, kb->name);
        return 0;
    }
    r->value = (struct mb_interval){.est = worst, .lo = worst, .hi = worst};
    snprintf(r->measured, sizeof r->measured, "max rel_l2 %.3g over %d points", worst, points);
    snprintf(r->reason, sizeof r->reason, "outputs of %s vs %s on the same inputs", ka->name, kb->name);
    r->verdict = mb_expect_judge(&c->expect, &r->value);
    return 0;
}

/* ---------------------------------------------------------------------------------------------- plot */
static void note(const struct mb_claim_opts *o, enum mb_claim_note kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(const struct mb_claim_opts *o, enum mb_claim_note kind, const char *fmt, ...) {
    if (!o->on_note) return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    o->on_note(o->ctx, kind, text);
}

/* What a claim's panel draws (mb_panels_write's context). */
struct panel_ctx {
    const struct mb_claim *c;
    const struct series_set *ss;
    const struct mb_panels *pan;
};

/* Panel p: the marks of its crossovers, then one plot of its series. */
static void plot_panel(FILE *f, int p, const void *ctx_) {
    const struct panel_ctx *ctx = ctx_;
    const struct mb_claim *c = ctx->c;
    const struct series_set *ss = ctx->ss;
    const struct mb_panels *pan = ctx->pan;
    for (int i = 0, shown = 0; i < ss->count; i++) { /* the crossovers of this panel: n* and its interval */
        const struct series *s = &ss->s[i];
        if (pan->panel[i] != p || !s->cross_found || !isfinite(s->cross.est)) continue;
        size_t kl = strlen(s->kernel); /* the label's axes (what tells this pair from the panel's others) */
        const char *axes = strlen(pan->label[i]) > kl ? pan->label[i] + kl + 1 : "";
        if (s->cross.hi > s->cross.lo)
            fprintf(f, "set object rect from %.9g, graph 0 to %.9g, graph 1 fc rgb '#999999' fs transparent solid 0.2 "
                       "noborder behind\n", s->cross.lo, s->cross.hi);
        fprintf(f, "set arrow from %.9g, graph 0 to %.9g, graph 1 nohead dt 2 lw 1.5 lc rgb '#444444' front\n",
                s->cross.est, s->cross.est);
        char text[300];
        snprintf(text, sizeof text, "%s%s%s* = %.4g [%.4g, %.4g]", axes, axes[0] ? ": " : "", c->x, s->cross.est,
                 s->cross.lo, s->cross.hi);
        fputs("set label ", f);
        mb_gnuplot_quote(f, text);
        fprintf(f, " at graph 0.02, graph %.3f left front noenhanced font ',9' textcolor rgb '#333333'\n",
                0.95 - 0.06 * shown++);
    }
    fputs("plot", f);
    int first = 1;
    for (int i = 0; i < ss->count; i++) {
        if (pan->panel[i] != p) continue;
        fprintf(f, "%s $c%d using 1:2 with linespoints", first ? "" : ",", i);
        mb_plot_style(f, pan->style[i], 0);
        fputs(" lw 1.5 ps 0.8 title ", f);
        mb_gnuplot_quote(f, pan->label[i]);
        first = 0;
    }
    fputs(first ? " NaN notitle\n" : "\n", f);
}

/* The claim's series as small multiples (plot/panels.h): crossover panels mark n* (dashed line) and its interval
   (shaded band); the footer names the machine, threads and date of the results file (or of now, for probes). */
static void plot_series(const struct mb_claim *c, const struct mb_claim_opts *o, const struct series_set *ss,
                        const char *footer, char *plot, size_t len) {
    plot[0] = 0;
    const char *dir = o->plots_dir;
    if (!dir || !*dir || !ss->count || c->assertion == MB_CLAIM_EQUAL) return;
    const char *kernels[MAX_SERIES], *keys[MAX_SERIES];
    for (int i = 0; i < ss->count; i++) kernels[i] = ss->s[i].kernel, keys[i] = ss->s[i].key;
    struct mb_panels *pan = mb_panels_make(ss->count, kernels, keys);
    char path[1024], title[200], why[512];
    struct mb_gnuplot g;
    if (!pan || mb_gnuplot_begin(&g, why, sizeof why)) {
        note(o, MB_CLAIM_NOTE_WARNING, "%s: plot: %s", c->id, pan ? why : "out of memory");
        mb_panels_free(pan);
        return;
    }
    snprintf(path, sizeof path, "%s/%s", dir, c->id);
    int logy = 1;
    for (int i = 0; i < ss->count; i++) {
        char block[16];
        snprintf(block, sizeof block, "c%d", i);
        mb_gnuplot_data_begin(&g, block);
        for (int k = 0; k < ss->s[i].count; k++) {
            fprintf(g.script, "%.9g %.9g\n", ss->s[i].x[k], ss->s[i].y[k]);
            logy &= ss->s[i].y[k] > 0;
        }
        mb_gnuplot_data_end(&g);
    }
    char *body = NULL;
    size_t body_len = 0;
    FILE *f = open_memstream(&body, &body_len);
    if (!f) {
        mb_gnuplot_free(&g);
        mb_panels_free(pan);
        return;
    }
    const char *ylabel = !strcmp(c->metric, "time") ? "time (s)" : c->metric;
    fprintf(f, "set grid\nset logscale x\nset autoscale xfix\nset format y '%%g'\n%s\nset xlabel ", logy ? "set logscale y" : "unset logscale y");
    mb_gnuplot_quote(f, c->x);
    fputs("\nset ylabel ", f);
    mb_gnuplot_quote(f, ylabel);
    fputc('\n', f);
    snprintf(title, sizeof title, "%s: %s (%s)", c->id, mb_claim_assert_names[c->assertion], mb_claim_kind_names[c->kind]);
    const struct panel_ctx ctx = {c, ss, pan};
    mb_panels_write(f, pan, title, footer, plot_panel, &ctx);
    fclose(f);
    const struct mb_gnuplot_canvas canvas = mb_panels_canvas(pan);
    if (mb_gnuplot_figure_text(&g, path, &canvas, body, why, sizeof why) == 0 && mb_gnuplot_run(&g, why, sizeof why) == 0)
        snprintf(plot, len, "%s", mb_gnuplot_output(&g, 0, 0));
    else note(o, MB_CLAIM_NOTE_WARNING, "%s: plot: %s", c->id, why);
    free(body);
    mb_gnuplot_free(&g);
    mb_panels_free(pan);
}

static void write_data(const struct mb_claim *c, const struct series_set *ss, FILE *f) {
    if (!f || !ss->count) return;
    fprintf(f, "| series | %s | %s |\n|---|---|---|\n", c->x, c->metric);
    for (int i = 0; i < ss->count; i++)
        for (int k = 0; k < ss->s[i].count; k++) {
            fprintf(f, "| %s %s | %g | %.4g", ss->s[i].kernel, ss->s[i].key, ss->s[i].x[k], ss->s[i].y[k]);
            if (ss->s[i].ns[k] >= 2) fprintf(f, " (%s of %d)", ss->s[i].mean ? "mean" : "median", ss->s[i].ns[k]);
            fprintf(f, " |\n");
        }
}

/* ---------------------------------------------------------------------------------------------- run */
/* results/claims/<id>.h5 is a cache of measurements: one that cannot be appended to (written by an older
 * mechbench, another schema) is moved aside to <path>.old and measured afresh, instead of failing the claim. */
static int resumable(const char *path, const struct mb_claim *c, const struct mb_claim_opts *o) {
    if (access(path, F_OK) != 0) return 0;
    struct mb_store *s;
    char why[512], old[4200];
    if (mb_store_open(path, 1, &s, why, sizeof why) == 0) {
        mb_store_close(s, NULL, 0);
        return 1;
    }
    snprintf(old, sizeof old, "%s.old", path);
    if (rename(path, old) == 0)
        note(o, MB_CLAIM_NOTE_WARNING, "%s: %s; moved to %s, measuring afresh", c->id, why, old);
    return 0;
}

/* The claim's sweep into path: its events go to o->on_sweep (no summary table: the numbers are in the report). */
static int run_sweep(const struct mb_claim *c, const struct mb_experiment *e, const struct mb_claim_opts *o,
                     const char *path, char *err, size_t errlen) {
    struct mb_sweep_opts so = {.out = path, .resume = !o->force && resumable(path, c, o), .force = o->force,
                               .budget = o->budget > 0 ? o->budget : -1, .on_event = o->on_sweep, .ctx = o->ctx};
    note(o, MB_CLAIM_NOTE_PROGRESS, "claim %s: sweep -> %s", c->id, path);
    return mb_sweep_run(e, &so, err, errlen);
}

int mb_claim_run(const struct mb_claim *c, const struct mb_claim_opts *o, struct mb_claim_result **res, int *n_res,
                 char *plot, size_t plot_len, char *err, size_t errlen) {
    plot[0] = 0;
    struct mb_experiment e;
    if (mb_experiment_parse(c->sweep_ini, c->id, &e, err, errlen)) return -1;
    int x_axis = mb_axis_lookup(c->x);
    struct series_set *ss = calloc(1, sizeof *ss);
    if (!ss) return mb_experiment_free(&e), mb_errorf(err, errlen, "out of memory");
    int status = 0;
    char names[2][MB_NAME_LEN + 130] = {"", ""};
    char footer[400];
    mb_plot_footer_text(NULL, NULL, 0, footer, sizeof footer); /* probes: no results file */

    if (c->probe[0]) {
        const struct mb_sweep *sw = &e.sweeps[0];
        if (!sw->axes[x_axis].count) {
            status = mb_errorf(err, errlen, "claim %s: probe %s needs values of %s", c->id, c->probe, c->x);
            goto done;
        }
        for (int v = 0; v < c->n_variants && !status; v++) {
            struct mb_point base;
            memset(&base, 0, sizeof base);
            for (int a = 0; a < MB_AXIS_COUNT; a++)
                if (sw->axes[a].count && a != x_axis) mb_point_set(&base, (enum mb_axis)a, sw->axes[a].values[0]);
            snprintf(base.params, sizeof base.params, "%s", c->variants[v]);
            struct mb_probe_series ps;
            note(o, MB_CLAIM_NOTE_PROGRESS, "claim %s: probe %s %s", c->id, c->probe, c->variants[v]);
            if (mb_probe_run(c->probe, &base, sw->axes[x_axis].values, sw->axes[x_axis].count, e.seed, &ps, err, errlen)) {
                status = -1;
                break;
            }
            struct series *s = &ss->s[ss->count++];
            memset(s, 0, sizeof *s);
            snprintf(s->kernel, sizeof s->kernel, "%s%s%s", c->probe, c->variants[v][0] ? " " : "", c->variants[v]);
            snprintf(names[v < 2 ? v : 1], sizeof names[0], "%s", s->kernel);
            s->count = ps.count;
            memcpy(s->x, ps.x, sizeof s->x);
            memcpy(s->y, ps.y, sizeof s->y);
            memcpy(s->s, ps.samples, sizeof s->s);
            memcpy(s->ns, ps.ns, sizeof s->ns);
            s->mean = ps.mean;
        }
    } else {
        /* every kernel pattern must match a registered kernel, else the claim cannot be judged yet */
        char buf[512], missing[400] = "";
        snprintf(buf, sizeof buf, "%s", c->kernels);
        int idx = 0;
        for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), idx++) {
            while (*tok == ' ') tok++;
            size_t l = strlen(tok);
            while (l && tok[l - 1] == ' ') tok[--l] = 0;
            const struct mb_kernel *found[4];
            if (mb_kernel_match(tok, found, 4) == 0)
                snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s", missing[0] ? ", " : "", tok);
            const struct mb_kernel *named = mb_kernel_find(tok); /* an alias names its kernel's rows */
            if (idx < 2) snprintf(names[idx], sizeof names[0], "%s", named ? named->name : tok);
        }
        if (missing[0]) {
            struct mb_claim_result *r = add_result(res, n_res, c, NULL);
            if (!r) status = mb_errorf(err, errlen, "out of memory");
            else snprintf(r->reason, sizeof r->reason, "kernel(s) not registered: %s", missing);
            goto done;
        }
        if (c->assertion == MB_CLAIM_EQUAL && idx == 2) {
            status = eval_equal_pair(c, &e, mb_kernel_find(names[0]), mb_kernel_find(names[1]), res, n_res, err, errlen);
            goto done;
        }
        char path[1024];
        mkdir(o->results_dir, 0777);
        snprintf(path, sizeof path, "%s/%s.h5", o->results_dir, c->id);
        int rc = run_sweep(c, &e, o, path, err, errlen);
        if (rc == 130) {
            status = -1;
            goto done;
        }
        if (rc) { /* a failed sweep: judge what is stored, and say why */
            note(o, MB_CLAIM_NOTE_WARNING, "%s: %s", c->id, err);
        }
        struct mb_results rs;
        if (access(path, F_OK) != 0 || mb_results_load(path, &rs, err, errlen)) {
            struct mb_claim_result *r = add_result(res, n_res, c, NULL);
            if (r) snprintf(r->reason, sizeof r->reason, "no results: %s", err);
            goto done;
        }
        status = series_from_rows(c, &rs, &e.sweeps[0], x_axis, ss, err, errlen);
        const struct mb_row **all = malloc((size_t)(rs.count ? rs.count : 1) * sizeof *all);
        for (int64_t i = 0; all && i < rs.count; i++) all[i] = &rs.rows[i];
        mb_plot_footer_text(rs.store, all, all ? rs.count : 0, footer, sizeof footer);
        free(all);
        mb_results_close(&rs);
        if (status) goto done;
    }
    if (!ss->count) {
        struct mb_claim_result *r = add_result(res, n_res, c, NULL);
        if (r) snprintf(r->reason, sizeof r->reason, "no point could be measured (unsupported or skipped: see the .h5)");
        goto done;
    }
    int first = *n_res;
    if (c->assertion == MB_CLAIM_CROSSOVER || c->assertion == MB_CLAIM_RATIO)
        status = eval_pair(c, o, ss, names[0], names[1], res, n_res);
    else status = eval_single(c, o, ss, res, n_res);
    if (status) {
        mb_errorf(err, errlen, "out of memory");
        goto done;
    }
    if (*n_res == first) {
        struct mb_claim_result *r = add_result(res, n_res, c, NULL);
        if (r) snprintf(r->reason, sizeof r->reason, "no series of %s was measured", names[0]);
    }
    plot_series(c, o, ss, footer, plot, plot_len);
    write_data(c, ss, o->data);
done:
    series_set_free(ss);
    free(ss);
    mb_experiment_free(&e);
    return status;
}
