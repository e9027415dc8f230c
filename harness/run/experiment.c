/* Experiment files: [experiment], [axes] and [sweep NAME] sections read with libinih (see experiment.h).
 *
 * Layout: value parsers (numbers, value lists and ranges, byte sizes), then the parse state and the inih
 * callbacks, then the post-parse resolution (sweeps inherit [axes]; the implicit sweep).
 *
 * Line numbers: inih only reports the line of the first error it sees, so the text is fed through our own line
 * reader (ini_parse_stream), which also tracks the current line for the handler and notices section headers,
 * including empty ones that never reach the handler. The first error wins: a syntax error found by inih on an
 * earlier line than our own first error is reported as a malformed line.
 */
#include "run/experiment.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUES_HINT "use 64, 1,2,4, 128:16384:x2 or 0:256:+64"
#define MAX_INT_VALUE 9007199254740992.0 /* 2^53: integers above this do not survive a double */

/* ============================================================================================ values */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Copy s[0..len) without surrounding blanks into buf. */
static void copy_trimmed(const char *s, size_t len, char *buf, size_t buflen) {
    while (len && is_space(*s)) s++, len--;
    while (len && is_space(s[len - 1])) len--;
    if (len >= buflen) len = buflen - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
}

/* A plain decimal number (no hex, inf or nan): 0 and *v, or -1. */
static int parse_bool(const char *s, double *v) {
    static const char *const names[][2] = {{"0", "1"}, {"false", "true"}, {"no", "yes"}, {"off", "on"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (int b = 0; b < 2; b++)
            if (strcasecmp(s, names[i][b]) == 0) {
                *v = b;
                return 0;
            }
    return -1;
}

/* Doubles from decimal arithmetic (1e-3 * 10 = 0.010000000000000002) rounded to 15 significant digits. */
static double tidy_real(double v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.15g", v);
    return strtod(buf, NULL);
}

struct values_ctx {
    enum mb_axis_kind kind;
    const char *what; /* " for axis n" or "" */
    double *values;
    int count, max;
    char *err;
    size_t errlen;
};

static int push_value(struct values_ctx *c, const char *item, double v) {
    if (c->kind == MB_INT) {
        if (v != floor(v))
            return mb_errorf(c->err, c->errlen, "'%s' is not an integer%s (" VALUES_HINT ")", item, c->what);
        if (v > MAX_INT_VALUE)
            return mb_errorf(c->err, c->errlen, "'%s' is too large%s (at most 2^53)", item, c->what);
    }
    if (v < 0) return mb_errorf(c->err, c->errlen, "negative value '%s'%s (values are >= 0)", item, c->what);
    if (c->count >= c->max)
        return mb_errorf(c->err, c->errlen, "too many values%s (at most %d)", c->what, c->max);
    c->values[c->count++] = v;
    return 0;
}

/* "start:end:xRATIO" or "start:end:+STEP", inclusive of end when the sequence reaches it. */
static int parse_range(struct values_ctx *c, const char *item) {
    char start_s[64], end_s[64], step_s[64];
    const char *c1 = strchr(item, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c->kind == MB_BOOL || !c2 || strchr(c2 + 1, ':'))
        return mb_errorf(c->err, c->errlen, "cannot parse '%s'%s (" VALUES_HINT ")", item, c->what);
    copy_trimmed(item, (size_t)(c1 - item), start_s, sizeof start_s);
    copy_trimmed(c1 + 1, (size_t)(c2 - c1 - 1), end_s, sizeof end_s);
    copy_trimmed(c2 + 1, strlen(c2 + 1), step_s, sizeof step_s);
    double start, end, step;
    char op = step_s[0];
    if (mb_parse_number(start_s, &start) || mb_parse_number(end_s, &end) || (op != 'x' && op != '+') ||
        mb_parse_number(step_s + 1, &step))
        return mb_errorf(c->err, c->errlen, "cannot parse '%s'%s (" VALUES_HINT ")", item, c->what);
    if (c->kind == MB_INT && (start != floor(start) || end != floor(end) || (op == '+' && step != floor(step))))
        return mb_errorf(c->err, c->errlen, "'%s' is not an integer range%s (" VALUES_HINT ")", item, c->what);
    if (start < 0 || end < 0)
        return mb_errorf(c->err, c->errlen, "negative value in '%s'%s (values are >= 0)", item, c->what);
    if (end < start)
        return mb_errorf(c->err, c->errlen, "range '%s'%s is empty (end < start)", item, c->what);
    if (op == 'x' && step <= 1)
        return mb_errorf(c->err, c->errlen, "ratio in '%s'%s must be > 1 (e.g. 128:16384:x2)", item, c->what);
    if (op == 'x' && start <= 0)
        return mb_errorf(c->err, c->errlen, "geometric range '%s'%s must start > 0 (use 0:256:+64 from zero)",
                         item, c->what);
    if (op == '+' && step <= 0)
        return mb_errorf(c->err, c->errlen, "step in '%s'%s must be > 0 (e.g. 0:256:+64)", item, c->what);

    const double slack = 1e-9 * end; /* 1e-3:1:x10 must reach 1 despite rounding */
    /* The number of terms, before expanding: a ratio or step too small to make progress (x1.000000000001,
       +1e-300) would otherwise loop for ever, skipping repeats without counting them. Repeats of a small integer
       range (x1.5 from 1) are skipped below, so terms may exceed the values kept, but not by more than a bounded
       amount: allow 4 x max terms. */
    const double terms = op == 'x' ? floor(log((end + slack) / start) / log(step)) + 1
                                   : floor((end + slack - start) / step) + 1;
    if (!(terms <= 4.0 * c->max) || (op == '+' && start + step == start))
        return mb_errorf(c->err, c->errlen, "'%s'%s expands to %.3g values (at most %d; a larger ratio or step)",
                         item, c->what, terms, c->max);
    for (int64_t i = 0; i < (int64_t)terms + 1; i++) {
        double v = op == 'x' ? start * pow(step, i) : start + step * i;
        if (v > end + slack) break;
        if (c->count >= c->max)
            return mb_errorf(c->err, c->errlen, "'%s'%s gives more than %d values (at most %d)", item, c->what,
                             c->max, c->max);
        v = c->kind == MB_INT ? round(v) : tidy_real(v > end ? end : v);
        if (c->count > 0 && c->values[c->count - 1] == v) continue; /* x1.5 on small integers */
        c->values[c->count++] = v;
    }
    return 0;
}

static int parse_values_for(const char *text, enum mb_axis_kind kind, const char *what, double *values, int max,
                            char *err, size_t errlen) {
    struct values_ctx c = {.kind = kind, .what = what, .values = values, .max = max, .err = err, .errlen = errlen};
    char item[128];
    const char *s = text;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len >= sizeof item)
            return mb_errorf(err, errlen, "cannot parse '%.40s...'%s (" VALUES_HINT ")", s, what);
        copy_trimmed(s, len, item, sizeof item);
        if (!item[0]) {
            if (!comma && c.count == 0 && !strchr(text, ','))
                return mb_errorf(err, errlen, "empty value%s (" VALUES_HINT ")", what);
            return mb_errorf(err, errlen, "empty item in '%s'%s (" VALUES_HINT ")", text, what);
        }
        double v;
        if (strchr(item, ':')) {
            if (parse_range(&c, item)) return -1;
        } else if (kind == MB_BOOL) {
            if (parse_bool(item, &v))
                return mb_errorf(err, errlen, "cannot parse '%s'%s (use 0, 1, true, false, yes, no or a list: 0, 1)",
                                 item, what);
            if (push_value(&c, item, v)) return -1;
        } else {
            if (mb_parse_number(item, &v))
                return mb_errorf(err, errlen, "cannot parse '%s'%s (" VALUES_HINT ")", item, what);
            if (push_value(&c, item, v)) return -1;
        }
        if (!comma) break;
        s = comma + 1;
    }
    return c.count;
}

int mb_parse_values(const char *text, enum mb_axis_kind kind, double *values, int max, char *err, size_t errlen) {
    return parse_values_for(text, kind, "", values, max, err, errlen);
}

int mb_parse_bytes(const char *text, double *bytes) {
    char buf[64];
    copy_trimmed(text, strlen(text), buf, sizeof buf);
    size_t n = strlen(buf);
    double scale = 1;
    /* optional unit: K, M, G, T, each optionally followed by B or iB (8G, 8GB, 8GiB); a bare B means bytes */
    if (n && (buf[n - 1] == 'B' || buf[n - 1] == 'b')) {
        buf[--n] = '\0';
        if (n && buf[n - 1] == 'i') buf[--n] = '\0';
    }
    if (n) {
        const char *units = "KMGT";
        const char *u = strchr(units, buf[n - 1] >= 'a' && buf[n - 1] <= 'z' ? buf[n - 1] - 32 : buf[n - 1]);
        if (u && *u) {
            scale = pow(1024, (double)(u - units + 1));
            buf[--n] = '\0';
        }
    }
    char num[64];
    copy_trimmed(buf, n, num, sizeof num);
    double v;
    if (mb_parse_number(num, &v) || v < 0) return -1;
    *bytes = v * scale;
    return 0;
}


/* ============================================================================================ parse state */

enum section_kind { SEC_NONE, SEC_EXPERIMENT, SEC_AXES, SEC_SWEEP, SEC_BAD };

struct key_seen {
    int section; /* SEC_EXPERIMENT, SEC_AXES, or SEC_SWEEP + sweep index */
    char key[32];
    int line;
};

struct parse_state {
    struct mb_experiment *e;
    const char *file;
    /* reader position */
    const char *pos;
    int line;          /* line being parsed, 1-based */
    int at_line_start;
    /* sections */
    enum section_kind section;
    int sweep;                                  /* current sweep when section == SEC_SWEEP */
    int experiment_line, axes_line;             /* header lines, 0 = absent */
    int sweep_line[MB_MAX_SWEEPS];
    int sweep_params_set[MB_MAX_SWEEPS];
    int sweep_params_line[MB_MAX_SWEEPS], axes_params_line; /* where params = was given, for messages */
    struct mb_sweep axes;                       /* the [axes] section: defaults of every sweep */
    char kernels[sizeof ((struct mb_sweep *)0)->kernels]; /* [experiment] kernels */
    int have_name;
    /* keys seen, for duplicates */
    struct key_seen *seen;
    int n_seen, cap_seen;
    /* our first error */
    int err_line;
    char err[512];
};

/* Record the first error (on the current line); returns 0, inih's "error" for handlers. */
static int fail(struct parse_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parse_state *st, const char *fmt, ...) {
    if (st->err_line) return 0;
    st->err_line = st->line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    return 0;
}

static void section_title(const struct parse_state *st, char *buf, size_t len) {
    switch (st->section) {
    case SEC_EXPERIMENT: snprintf(buf, len, "[experiment]"); break;
    case SEC_AXES: snprintf(buf, len, "[axes]"); break;
    case SEC_SWEEP: snprintf(buf, len, "[sweep %s]", st->e->sweeps[st->sweep].name); break;
    default: snprintf(buf, len, "?"); break;
    }
}

static int valid_name(const char *s) {
    return *s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == strlen(s);
}

/* A "[...]" header (contents trimmed): switch section or record an error. */
static void section_header(struct parse_state *st, const char *name) {
    struct mb_experiment *e = st->e;
    st->section = SEC_BAD;
    if (strcmp(name, "experiment") == 0 || strcmp(name, "axes") == 0) {
        int *first = name[0] == 'e' ? &st->experiment_line : &st->axes_line;
        if (*first) {
            fail(st, "duplicate section [%s] (first at line %d; each section appears once)", name, *first);
            return;
        }
        *first = st->line;
        st->section = name[0] == 'e' ? SEC_EXPERIMENT : SEC_AXES;
        return;
    }
    if (strncmp(name, "sweep", 5) != 0 || (name[5] && !is_space(name[5]))) {
        fail(st, "unknown section [%s] (allowed: [experiment], [axes], [sweep NAME])", name);
        return;
    }
    const char *sweep = name + 5;
    while (is_space(*sweep)) sweep++;
    if (!*sweep) {
        fail(st, "[sweep] needs a name (use [sweep NAME])");
        return;
    }
    if (!valid_name(sweep) || strlen(sweep) >= sizeof e->sweeps[0].name) {
        fail(st, "bad sweep name '%s' (use up to %zu letters, digits, '_', '.', '-')", sweep,
             sizeof e->sweeps[0].name - 1);
        return;
    }
    for (int i = 0; i < e->n_sweeps; i++)
        if (strcmp(e->sweeps[i].name, sweep) == 0) {
            fail(st, "duplicate section [sweep %s] (first at line %d; sweep names are unique)", sweep,
                 st->sweep_line[i]);
            return;
        }
    if (e->n_sweeps >= MB_MAX_SWEEPS) {
        fail(st, "too many [sweep] sections (at most %d)", MB_MAX_SWEEPS);
        return;
    }
    st->sweep = e->n_sweeps++;
    st->sweep_line[st->sweep] = st->line;
    struct mb_sweep *s = &e->sweeps[st->sweep];
    snprintf(s->name, sizeof s->name, "%.*s", (int)sizeof s->name - 1, sweep);
    st->section = SEC_SWEEP;
}

/* Called at the start of every line, before inih sees it: notice section headers (also empty sections). */
static void line_start(struct parse_state *st) {
    const char *s = st->pos;
    if (st->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3;
    while (*s == ' ' || *s == '\t') s++;
    if (*s != '[') return;
    const char *close = strpbrk(s, "]\n");
    if (!close || *close != ']') return; /* inih reports the malformed line */
    char name[128];
    copy_trimmed(s + 1, (size_t)(close - s - 1), name, sizeof name);
    section_header(st, name);
}

/* fgets-style reader over the text, tracking line numbers (inih may ask for one long line in pieces). */
static char *reader(char *str, int num, void *stream) {
    struct parse_state *st = stream;
    if (!*st->pos || num < 2) return NULL;
    if (st->at_line_start) {
        st->line++;
        line_start(st);
    }
    int i = 0;
    while (i < num - 1 && st->pos[i]) {
        str[i] = st->pos[i];
        if (str[i++] == '\n') break;
    }
    str[i] = '\0';
    st->pos += i;
    st->at_line_start = str[i - 1] == '\n';
    return str;
}

/* ============================================================================================ keys */

static int check_duplicate(struct parse_state *st, const char *key) {
    int section = st->section == SEC_SWEEP ? SEC_SWEEP + st->sweep : (int)st->section;
    for (int i = 0; i < st->n_seen; i++)
        if (st->seen[i].section == section && strcmp(st->seen[i].key, key) == 0) {
            char title[96];
            section_title(st, title, sizeof title);
            return fail(st, "duplicate key '%s' in %s (first set at line %d; give each key once)", key, title,
                        st->seen[i].line);
        }
    if (st->n_seen == st->cap_seen) {
        int cap = st->cap_seen ? 2 * st->cap_seen : 32;
        struct key_seen *grown = realloc(st->seen, (size_t)cap * sizeof *grown);
        if (!grown) return fail(st, "out of memory");
        st->seen = grown;
        st->cap_seen = cap;
    }
    struct key_seen *k = &st->seen[st->n_seen++];
    k->section = section;
    snprintf(k->key, sizeof k->key, "%s", key);
    k->line = st->line;
    return 1;
}

static int set_string(struct parse_state *st, const char *key, const char *value, char *dst, size_t size) {
    size_t len = strlen(value);
    if (len >= size) return fail(st, "%s is too long (%zu characters, at most %zu)", key, len, size - 1);
    memcpy(dst, value, len + 1);
    return 1;
}

/* A whole signed integer: 0 and *out, or -1. */
static int parse_int64(const char *s, long long *out) {
    if (!*s || strspn(s, "+-0123456789") != strlen(s)) return -1;
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return *end || errno == ERANGE ? -1 : 0;
}

static const char *const experiment_keys =
    "name, description, kernels, out, seed, repetitions, rounds, min_time, max_mem, budget, check_rows";

static int experiment_key(struct parse_state *st, const char *key, const char *value) {
    struct mb_experiment *e = st->e;
    long long i;
    double v;
    if (strcmp(key, "name") == 0) {
        if (!valid_name(value))
            return fail(st, "bad name '%s' (use letters, digits, '_', '.', '-': it names the results file)", value);
        st->have_name = 1;
        return set_string(st, key, value, e->name, sizeof e->name);
    }
    if (strcmp(key, "description") == 0) return set_string(st, key, value, e->description, sizeof e->description);
    if (strcmp(key, "kernels") == 0) {
        if (!*value) return fail(st, "kernels is empty (give kernel names or globs: attention.softmax.*, ...)");
        return set_string(st, key, value, st->kernels, sizeof st->kernels);
    }
    if (strcmp(key, "out") == 0) {
        if (!*value) return fail(st, "out is empty (give a path such as results/demo.h5)");
        return set_string(st, key, value, e->out, sizeof e->out);
    }
    if (strcmp(key, "seed") == 0) {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(value, &end, 10);
        if (!*value || strspn(value, "0123456789") != strlen(value) || *end || errno == ERANGE)
            return fail(st, "cannot parse seed = '%s' (use an integer 0..18446744073709551615)", value);
        e->seed = u;
        return 1;
    }
    if (strcmp(key, "repetitions") == 0) {
        if (parse_int64(value, &i)) return fail(st, "cannot parse repetitions = '%s' (use an integer 1..1000)", value);
        if (i < 1 || i > 1000) return fail(st, "repetitions = %s is out of range (1..1000)", value);
        e->repetitions = (int)i;
        return 1;
    }
    if (strcmp(key, "rounds") == 0) {
        if (parse_int64(value, &i)) return fail(st, "cannot parse rounds = '%s' (use an integer 1..100)", value);
        if (i < 1 || i > 100) return fail(st, "rounds = %s is out of range (1..100)", value);
        e->rounds = (int)i;
        return 1;
    }
    if (strcmp(key, "min_time") == 0) {
        if (mb_parse_number(value, &v)) return fail(st, "cannot parse min_time = '%s' (use seconds, e.g. 0.05)", value);
        if (!(v > 0 && v <= 60))
            return fail(st, "min_time = %s is out of range (seconds > 0 and <= 60)", value);
        e->min_time = v;
        return 1;
    }
    if (strcmp(key, "max_mem") == 0) {
        if (mb_parse_bytes(value, &v))
            return fail(st, "cannot parse max_mem = '%s' (use bytes >= 0 with an optional K, M, G or T suffix: "
                            "512M, 8G)", value);
        if (v > mb_physical_memory())
            return fail(st, "max_mem = %s exceeds this machine's memory (%.1f GiB)", value, mb_physical_memory() / 1073741824.0);
        e->max_mem = v;
        return 1;
    }
    if (strcmp(key, "budget") == 0) {
        if (mb_parse_number(value, &v)) return fail(st, "cannot parse budget = '%s' (use seconds, 0 = unlimited)", value);
        if (v < 0) return fail(st, "budget = %s is out of range (seconds >= 0, 0 = unlimited)", value);
        e->budget = v;
        return 1;
    }
    if (strcmp(key, "check_rows") == 0) {
        if (parse_int64(value, &i)) return fail(st, "cannot parse check_rows = '%s' (use an integer >= 0)", value);
        if (i < 0) return fail(st, "check_rows = %s is out of range (>= 0, 0 = all rows)", value);
        e->check_rows = i;
        return 1;
    }
    return fail(st, "unknown key '%s' in [experiment] (allowed: %s)", key, experiment_keys);
}

static void allowed_axis_keys(int sweep, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int a = 0; a < MB_AXIS_COUNT && used < len; a++) {
        int w = snprintf(buf + used, len - used, "%s, ", mb_axes[a].name);
        if (w < 0) return;
        used += (size_t)w;
    }
    if (used < len) snprintf(buf + used, len - used, sweep ? "params, kernels" : "params");
}

static int axis_key(struct parse_state *st, struct mb_sweep *s, const char *key, const char *value) {
    int in_sweep = st->section == SEC_SWEEP;
    if (strcmp(key, "params") == 0) {
        if (in_sweep) st->sweep_params_set[st->sweep] = 1, st->sweep_params_line[st->sweep] = st->line;
        else st->axes_params_line = st->line;
        return set_string(st, key, value, s->params, sizeof s->params);
    }
    if (in_sweep && strcmp(key, "kernels") == 0) {
        if (!*value) return fail(st, "kernels is empty (give kernel names or globs: attention.softmax.*, ...)");
        return set_string(st, key, value, s->kernels, sizeof s->kernels);
    }
    int a = mb_axis_lookup(key);
    if (a < 0) {
        char title[96], allowed[512];
        section_title(st, title, sizeof title);
        allowed_axis_keys(in_sweep, allowed, sizeof allowed);
        return fail(st, "unknown key '%s' in %s (allowed: %s)", key, title, allowed);
    }
    char what[64], msg[400];
    snprintf(what, sizeof what, " for axis %s", key);
    int count = parse_values_for(value, mb_axes[a].kind, what, s->axes[a].values, MB_MAX_VALUES, msg, sizeof msg);
    if (count < 0) return fail(st, "%s", msg);
    s->axes[a].count = count;
    return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
    struct parse_state *st = user;
    (void)section; /* tracked by the reader, which also sees empty sections */
    if (st->err_line) return 1;
    if (!value) value = "";
    switch (st->section) {
    case SEC_NONE:
        return fail(st, "key '%s' is outside a section (put it under [experiment], [axes] or [sweep NAME])", name);
    case SEC_BAD: return 1; /* the header's error is already recorded */
    default: break;
    }
    if (!check_duplicate(st, name)) return 0;
    if (st->section == SEC_EXPERIMENT) return experiment_key(st, name, value);
    return axis_key(st, st->section == SEC_AXES ? &st->axes : &st->e->sweeps[st->sweep], name, value);
}

/* ============================================================================================ resolve */

static void inherit_axes(struct mb_sweep *s, const struct mb_sweep *axes, int params_set) {
    for (int a = 0; a < MB_AXIS_COUNT; a++)
        if (s->axes[a].count == 0) s->axes[a] = axes->axes[a];
    if (!params_set) memcpy(s->params, axes->params, sizeof s->params);
}

/* The sweep's params against the parameters its kernels declare: FILE:LINE: ... */
static int check_params(const struct parse_state *st, const struct mb_sweep *s, int line, char *err, size_t errlen) {
    char msg[400];
    if (!s->params[0] || mb_params_validate_for(s->kernels, s->params, msg, sizeof msg) == 0) return 0;
    return mb_errorf(err, errlen, "%s:%d: %s", st->file, line, msg);
}

/* After the whole file is read (section order does not matter): fill the sweeps. */
static int resolve(struct parse_state *st, char *err, size_t errlen) {
    struct mb_experiment *e = st->e;
    if (!st->have_name) return mb_errorf(err, errlen, "%s: [experiment] name is required", st->file);
    if (e->n_sweeps == 0) {
        if (!st->kernels[0])
            return mb_errorf(err, errlen, "%s: no kernels (set kernels = in [experiment] or add [sweep NAME] sections)",
                             st->file);
        struct mb_sweep *s = &e->sweeps[e->n_sweeps++];
        snprintf(s->name, sizeof s->name, "default");
        memcpy(s->kernels, st->kernels, sizeof s->kernels);
        inherit_axes(s, &st->axes, 0);
        return check_params(st, s, st->axes_params_line, err, errlen);
    }
    for (int i = 0; i < e->n_sweeps; i++) {
        struct mb_sweep *s = &e->sweeps[i];
        if (!s->kernels[0]) {
            if (!st->kernels[0])
                return mb_errorf(err, errlen, "%s:%d: [sweep %s] has no kernels (set kernels = in [sweep %s] or in "
                                 "[experiment])", st->file, st->sweep_line[i], s->name, s->name);
            memcpy(s->kernels, st->kernels, sizeof s->kernels);
        }
        inherit_axes(s, &st->axes, st->sweep_params_set[i]);
        if (check_params(st, s, st->sweep_params_set[i] ? st->sweep_params_line[i] : st->axes_params_line, err, errlen))
            return -1;
    }
    return 0;
}

/* ============================================================================================ entry points */

static void configure_inih(void) {
    /* Process-wide settings of Debian's libinih: heap line buffer that grows (long kernel lists), no
       multi-line values (an indented line is a key of its own), ';' and '#' comments. */
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = 1 << 16;
    ini_allow_multiline = false;
    ini_allow_inline_comments = true;
    ini_allow_no_value = false;
    ini_stop_on_first_error = false;
}

int mb_experiment_parse(const char *text, const char *name, struct mb_experiment *e, char *err, size_t errlen) {
    memset(e, 0, sizeof *e);
    e->seed = 42;
    e->repetitions = 5;
    e->rounds = 1;
    e->min_time = 0.05;
    e->check_rows = 256;
    e->ini_text = strdup(text);
    struct parse_state *st = calloc(1, sizeof *st);
    if (!e->ini_text || !st) {
        free(st);
        mb_experiment_free(e);
        return mb_errorf(err, errlen, "%s: out of memory", name);
    }
    st->e = e;
    st->file = name;
    st->pos = text;
    st->at_line_start = 1;

    configure_inih();
    int rc = ini_parse_stream(reader, st, handler, st);
    int status = 0;
    if (rc == -2) status = mb_errorf(err, errlen, "%s: out of memory", name);
    else if (rc > 0 && (!st->err_line || rc < st->err_line))
        status = mb_errorf(err, errlen, "%s:%d: malformed line (expected key = value or [section])", name, rc);
    else if (st->err_line) status = mb_errorf(err, errlen, "%s:%d: %s", name, st->err_line, st->err);
    else status = resolve(st, err, errlen);

    free(st->seen);
    free(st);
    if (status) mb_experiment_free(e);
    return status;
}

#define MAX_INI_BYTES (1 << 20)

int mb_experiment_load(const char *path, struct mb_experiment *e, char *err, size_t errlen) {
    memset(e, 0, sizeof *e);
    FILE *f = fopen(path, "rb");
    if (!f) return mb_errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len > MAX_INI_BYTES) { /* /dev/zero, a log file by mistake: refused before memory runs out */
            free(text);
            fclose(f);
            return mb_errorf(err, errlen, "%s: larger than %d MiB: not an experiment file", path, MAX_INI_BYTES >> 20);
        }
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 16384;
            char *grown = realloc(text, cap);
            if (!grown) {
                free(text);
                fclose(f);
                return mb_errorf(err, errlen, "%s: out of memory", path);
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096) break;
    }
    int read_error = ferror(f) ? errno : 0;
    fclose(f);
    if (read_error) {
        free(text);
        return mb_errorf(err, errlen, "%s: cannot read: %s", path, strerror(read_error));
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        free(text);
        return mb_errorf(err, errlen, "%s: not a text file (contains NUL bytes)", path);
    }
    int status = mb_experiment_parse(text, path, e, err, errlen);
    free(text);
    return status;
}

void mb_experiment_free(struct mb_experiment *e) {
    free(e->ini_text);
    e->ini_text = NULL;
}

void mb_sweep_point(const struct mb_sweep *s, const int *index, struct mb_point *p, uint64_t *given) {
    memset(p, 0, sizeof *p);
    snprintf(p->params, sizeof p->params, "%s", s->params);
    *given = 0;
    for (int a = 0; a < MB_AXIS_COUNT; a++)
        if (s->axes[a].count) {
            mb_point_set(p, (enum mb_axis)a, s->axes[a].values[index[a]]);
            *given |= UINT64_C(1) << a;
        }
}

int mb_sweep_next(const struct mb_sweep *s, int *index) {
    for (int a = MB_AXIS_COUNT - 1; a >= 0; a--) {
        if (s->axes[a].count && ++index[a] < s->axes[a].count) return 1;
        index[a] = 0;
    }
    return 0;
}
