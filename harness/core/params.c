/* Declared parameters (mechbench.h): parsing "key=value;..." against declarations into typed values, the
 * normalised text, validation for a sweep's kernels, descriptions, and the typed accessors. */
#include "core/mechbench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Index of value in a "a|b|c" list, or -1. */
static int enum_index(const char *values, const char *value) {
    int i = 0;
    for (const char *s = values; *s; i++) {
        size_t len = strcspn(s, "|");
        if (strlen(value) == len && strncmp(s, value, len) == 0) return i;
        s += len;
        if (*s == '|') s++;
    }
    return -1;
}

/* The index-th value of a "a|b|c" list into buf. */
static void enum_name(const char *values, int index, char *buf, size_t len) {
    const char *s = values;
    for (int i = 0; i < index && *s; i++) {
        s += strcspn(s, "|");
        if (*s == '|') s++;
    }
    size_t n = strcspn(s, "|");
    snprintf(buf, len, "%.*s", (int)n, s);
}

static void format_number(double v, char *buf, size_t len) {
    if (v == (double)(long long)v && fabs(v) < 1e15) snprintf(buf, len, "%lld", (long long)v);
    else snprintf(buf, len, "%.15g", v);
}

/* "integer 1..4096", "real in [0, 10]", "0 or 1", "one of orthogonal, iid" */
static void allowed_text(const struct mb_param_decl *d, char *buf, size_t len) {
    char lo[32], hi[32];
    format_number(d->min, lo, sizeof lo);
    format_number(d->max, hi, sizeof hi);
    switch (d->type) {
    case MB_PARAM_INT: snprintf(buf, len, "an integer %s..%s", lo, hi); break;
    case MB_PARAM_REAL: snprintf(buf, len, "a number in [%s, %s]", lo, hi); break;
    case MB_PARAM_BOOL: snprintf(buf, len, "0 or 1"); break;
    case MB_PARAM_INTS:
        snprintf(buf, len, "none, or 1 to %d comma-separated integers %s..%s", MB_PARAM_MAX_INTS, lo, hi);
        break;
    case MB_PARAM_ENUM: {
        char list[256];
        size_t used = 0;
        list[0] = '\0';
        for (const char *s = d->values; *s && used < sizeof list;) {
            size_t n = strcspn(s, "|");
            int w = snprintf(list + used, sizeof list - used, "%s%.*s", used ? ", " : "", (int)n, s);
            if (w > 0) used += (size_t)w;
            s += n;
            if (*s == '|') s++;
        }
        snprintf(buf, len, "one of %s", list);
        break;
    }
    }
}

static void default_text(const struct mb_param_decl *d, char *buf, size_t len) {
    if (d->type == MB_PARAM_ENUM) enum_name(d->values, (int)d->def, buf, len);
    else if (d->type == MB_PARAM_INTS) snprintf(buf, len, "none");
    else format_number(d->def, buf, len);
}

static void value_text(const struct mb_param_decl *d, const struct mb_param_value *v, char *buf, size_t len) {
    if (d->type == MB_PARAM_ENUM) enum_name(d->values, (int)v->value, buf, len);
    else if (d->type == MB_PARAM_INTS) {
        size_t used = 0;
        snprintf(buf, len, "none");
        for (int i = 0; i < (int)v->value && used < len; i++) {
            int w = snprintf(buf + used, len - used, "%s%lld", i ? "," : "", (long long)v->ints[i]);
            if (w > 0) used += (size_t)w;
        }
    } else format_number(v->value, buf, len);
}

/* INTS: "none" or "a,b,c" into out (count in out->value); 0 or -1 (bad syntax, too many, out of range). */
static int parse_ints(const struct mb_param_decl *d, const char *text, struct mb_param_value *out) {
    out->value = 0;
    if (strcmp(text, "none") == 0) return 0;
    const char *s = text;
    for (int i = 0;; i++) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || i == MB_PARAM_MAX_INTS || v < d->min || v > d->max) return -1;
        out->ints[i] = v;
        out->value = i + 1;
        if (*end == '\0') return 0;
        if (*end != ',') return -1;
        s = end + 1;
    }
}

void mb_param_describe(const struct mb_param_decl *d, char *buf, size_t len) {
    static const char *const types[] = {"int", "real", "bool", "enum", "ints"};
    char allowed[320], def[64];
    allowed_text(d, allowed, sizeof allowed);
    default_text(d, def, sizeof def);
    snprintf(buf, len, "%-10s %-4s %s (default %s): %s", d->name, types[d->type], allowed, def, d->help);
}

/* Parse one value; 0 or -1 with a message. */
static int parse_value(const struct mb_param_decl *d, const char *owner, const char *text, struct mb_param_value *out,
                       char *err, size_t errlen) {
    char allowed[320];
    allowed_text(d, allowed, sizeof allowed);
    if (d->type == MB_PARAM_ENUM) {
        int i = enum_index(d->values, text);
        if (i < 0) return mb_errorf(err, errlen, "%s: parameter %s=%s is not allowed (%s)", owner, d->name, text, allowed);
        out->value = i;
        return 0;
    }
    if (d->type == MB_PARAM_INTS) {
        if (parse_ints(d, text, out))
            return mb_errorf(err, errlen, "%s: parameter %s=%s is not allowed (%s)", owner, d->name, text, allowed);
        return 0;
    }
    double v = 0;
    int bad = mb_parse_number(text, &v) || (d->type != MB_PARAM_REAL && v != floor(v));
    if (!bad && d->type == MB_PARAM_BOOL) bad = v != 0 && v != 1;
    if (!bad && d->type != MB_PARAM_BOOL) bad = v < d->min || v > d->max;
    if (bad) return mb_errorf(err, errlen, "%s: parameter %s=%s is not allowed (%s)", owner, d->name, text, allowed);
    out->value = v;
    return 0;
}

static const struct mb_param_decl *find_decl(const struct mb_param_decl *const *lists, const int *counts, int n_lists,
                                             const char *name) {
    for (int l = 0; l < n_lists; l++)
        for (int i = 0; i < counts[l]; i++)
            if (strcmp(lists[l][i].name, name) == 0) return &lists[l][i];
    return NULL;
}

static void allowed_keys(const struct mb_param_decl *const *lists, const int *counts, int n_lists, char *buf,
                         size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int l = 0; l < n_lists; l++)
        for (int i = 0; i < counts[l] && used < len; i++) {
            int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", lists[l][i].name);
            if (w > 0) used += (size_t)w;
        }
    if (!used) snprintf(buf, len, "none: it declares no parameters");
}

static int compare_values(const void *a, const void *b) {
    return strcmp(((const struct mb_param_value *)a)->name, ((const struct mb_param_value *)b)->name);
}

int mb_params_parse_decls(const struct mb_param_decl *const *lists, const int *counts, int n_lists, const char *owner,
                          const char *text, unsigned flags, struct mb_point *p, char *err, size_t errlen) {
    struct mb_param_value values[MB_MAX_PARAMS];
    memset(values, 0, sizeof values);
    int n = 0;
    for (int l = 0; l < n_lists; l++)
        for (int i = 0; i < counts[l]; i++) {
            const struct mb_param_decl *d = &lists[l][i];
            if (n == MB_MAX_PARAMS || strlen(d->name) >= MB_PARAM_NAME_LEN)
                return mb_errorf(err, errlen, "%s: too many or too long parameter declarations", owner);
            snprintf(values[n].name, sizeof values[n].name, "%s", d->name);
            values[n].type = d->type;
            values[n].value = d->type == MB_PARAM_INTS ? 0 : d->def;
            n++;
        }
    qsort(values, (size_t)n, sizeof values[0], compare_values);

    char seen[MB_MAX_PARAMS] = {0};
    for (const char *s = text ? text : ""; *s;) {
        s += strspn(s, "; \t");
        size_t len = strcspn(s, ";");
        if (!len) break;
        char item[MB_PARAMS_LEN * 2];
        if (len >= sizeof item) return mb_errorf(err, errlen, "%s: parameters too long", owner);
        memcpy(item, s, len);
        item[len] = '\0';
        s += len;
        while (len && (item[len - 1] == ' ' || item[len - 1] == '\t')) item[--len] = '\0';
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            char keys[256];
            allowed_keys(lists, counts, n_lists, keys, sizeof keys);
            return mb_errorf(err, errlen, "%s: parameter '%s' is not key=value (allowed keys: %s)", owner, item, keys);
        }
        *eq = '\0';
        const char *key = item, *value = eq + 1;
        const struct mb_param_decl *d = find_decl(lists, counts, n_lists, key);
        if (!d) {
            if (flags & MB_PARAMS_LENIENT) continue;
            char keys[256];
            allowed_keys(lists, counts, n_lists, keys, sizeof keys);
            return mb_errorf(err, errlen, "%s: unknown parameter '%s' (allowed: %s)", owner, key, keys);
        }
        int slot = 0;
        while (strcmp(values[slot].name, key)) slot++;
        if (seen[slot]) return mb_errorf(err, errlen, "%s: parameter '%s' is given twice", owner, key);
        seen[slot] = 1;
        if (parse_value(d, owner, value, &values[slot], err, errlen)) return -1;
    }

    char normal[MB_PARAMS_LEN];
    size_t used = 0;
    normal[0] = '\0';
    for (int i = 0; i < n; i++) {
        char v[64];
        value_text(find_decl(lists, counts, n_lists, values[i].name), &values[i], v, sizeof v);
        int w = snprintf(normal + used, sizeof normal - used, "%s%s=%s", i ? ";" : "", values[i].name, v);
        if (w < 0 || (size_t)w >= sizeof normal - used)
            return mb_errorf(err, errlen, "%s: the parameters do not fit in %d characters", owner, MB_PARAMS_LEN - 1);
        used += (size_t)w;
    }
    memcpy(p->params, normal, used + 1);
    memcpy(p->values, values, sizeof values[0] * (size_t)n);
    p->n_values = n;
    return 0;
}

int mb_params_parse(const struct mb_kernel *k, const char *text, unsigned flags, struct mb_point *p, char *err,
                    size_t errlen) {
    const struct mb_param_decl *lists[2] = {k->family->params, k->params};
    const int counts[2] = {k->family->n_params, k->n_params};
    return mb_params_parse_decls(lists, counts, 2, k->name, text, flags, p, err, errlen);
}

const struct mb_param_decl *mb_param_decl_of(const struct mb_kernel *k, const char *name) {
    const struct mb_param_decl *lists[2] = {k->family->params, k->params};
    const int counts[2] = {k->family->n_params, k->n_params};
    return find_decl(lists, counts, 2, name);
}

int mb_params_validate_for(const char *patterns, const char *text, char *err, size_t errlen) {
    const struct mb_kernel *ks[1024];
    int nk = mb_kernel_match(patterns, ks, 1024);
    if (nk > 1024) nk = 1024;
    for (const char *s = text ? text : ""; *s;) {
        s += strspn(s, "; \t");
        size_t len = strcspn(s, ";");
        if (!len) break;
        char item[MB_PARAMS_LEN * 2];
        if (len >= sizeof item) return mb_errorf(err, errlen, "parameters too long");
        memcpy(item, s, len);
        item[len] = '\0';
        s += len;
        char *eq = strchr(item, '=');
        if (!eq || eq == item) return mb_errorf(err, errlen, "parameter '%s' is not key=value", item);
        *eq = '\0';
        int declared = 0;
        for (int i = 0; i < nk; i++) {
            const struct mb_param_decl *d = mb_param_decl_of(ks[i], item);
            if (!d) continue;
            declared = 1;
            struct mb_param_value v;
            if (parse_value(d, ks[i]->name, eq + 1, &v, err, errlen)) return -1;
        }
        if (!declared) {
            char keys[512];
            size_t used = 0;
            keys[0] = '\0';
            for (int i = 0; i < nk && used < sizeof keys; i++) {
                const struct mb_param_decl *lists[2] = {ks[i]->family->params, ks[i]->params};
                const int counts[2] = {ks[i]->family->n_params, ks[i]->n_params};
                for (int l = 0; l < 2; l++)
                    for (int j = 0; j < counts[l] && used < sizeof keys; j++) {
                        char needle[MB_PARAM_NAME_LEN + 4];
                        snprintf(needle, sizeof needle, ", %s,", lists[l][j].name);
                        char hay[sizeof keys + 4];
                        snprintf(hay, sizeof hay, ", %s,", keys);
                        if (strstr(hay, needle)) continue;
                        int w = snprintf(keys + used, sizeof keys - used, "%s%s", used ? ", " : "", lists[l][j].name);
                        if (w > 0) used += (size_t)w;
                    }
            }
            return mb_errorf(err, errlen, "unknown parameter '%s' for kernels %s (allowed: %s)", item, patterns,
                             used ? keys : "none: they declare no parameters");
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ accessors */
static const struct mb_param_value *value_of(const struct mb_point *p, const char *name, enum mb_param_type type) {
    for (int i = 0; i < p->n_values; i++)
        if (strcmp(p->values[i].name, name) == 0) {
            if (p->values[i].type != type) break;
            return &p->values[i];
        }
    mb_contract_violation("%s:%d: contract violation: parameter '%s' of this type is not declared for the point "
                          "(params '%s'; was it parsed?)", __FILE__, __LINE__, name, p->params);
}

int64_t mb_param_int(const struct mb_point *p, const char *name) {
    return (int64_t)value_of(p, name, MB_PARAM_INT)->value;
}
double mb_param_real(const struct mb_point *p, const char *name) { return value_of(p, name, MB_PARAM_REAL)->value; }
int mb_param_bool(const struct mb_point *p, const char *name) { return value_of(p, name, MB_PARAM_BOOL)->value != 0; }
int mb_param_enum(const struct mb_point *p, const char *name) { return (int)value_of(p, name, MB_PARAM_ENUM)->value; }
int mb_param_ints(const struct mb_point *p, const char *name, int64_t *out, int max) {
    const struct mb_param_value *v = value_of(p, name, MB_PARAM_INTS);
    for (int i = 0; i < (int)v->value && i < max; i++) out[i] = v->ints[i];
    return (int)v->value;
}

int mb_param_set(struct mb_point *p, const char *key, const char *value) {
    char out[MB_PARAMS_LEN * 2];
    size_t used = 0, klen = strlen(key);
    int found = 0;
    out[0] = '\0';
    for (const char *s = p->params; *s;) {
        size_t n = strcspn(s, ";");
        int match = n > klen && !strncmp(s, key, klen) && s[klen] == '=';
        found |= match;
        int w = match ? snprintf(out + used, sizeof out - used, "%s%s=%s", used ? ";" : "", key, value)
                      : snprintf(out + used, sizeof out - used, "%s%.*s", used ? ";" : "", (int)n, s);
        if (w > 0) used += (size_t)w;
        s += n;
        if (*s == ';') s++;
    }
    if (!found || used >= sizeof p->params) return -1;
    memcpy(p->params, out, used + 1);
    p->n_values = 0;
    return 0;
}

/* ------------------------------------------------------------------------------------------ kernel calls */
/* p itself when parsed, else a parsed copy in tmp (an unparsed point's text is parsed leniently). */
void mb_params_ensure(const struct mb_kernel *k, struct mb_point *p) {
    if (p->n_values || (k->family->n_params == 0 && k->n_params == 0)) return;
    char err[8];
    mb_params_parse(k, p->params, MB_PARAMS_LENIENT, p, err, sizeof err);
}

static const struct mb_point *parsed(const struct mb_kernel *k, const struct mb_point *p, struct mb_point *tmp) {
    if (p->n_values || (k->family->n_params == 0 && k->n_params == 0)) return p;
    *tmp = *p;
    mb_params_ensure(k, tmp);
    return tmp;
}

int mb_kernel_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len) {
    struct mb_point tmp;
    return k->supports ? k->supports(k, parsed(k, p, &tmp), why, len) : 0;
}

int mb_kernel_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen) {
    if (!w->point.n_values && (k->family->n_params || k->n_params) &&
        mb_params_parse(k, w->point.params, 0, &w->point, err, errlen))
        return -1;
    return k->setup(k, state, w, err, errlen);
}

double mb_kernel_flops(const struct mb_kernel *k, const struct mb_point *p) {
    struct mb_point tmp;
    return k->flops(k, parsed(k, p, &tmp));
}

double mb_kernel_bytes(const struct mb_kernel *k, const struct mb_point *p) {
    struct mb_point tmp;
    return k->bytes(k, parsed(k, p, &tmp));
}

double mb_kernel_workspace(const struct mb_kernel *k, const struct mb_point *p) {
    struct mb_point tmp;
    return k->workspace_bytes ? k->workspace_bytes(k, parsed(k, p, &tmp)) : 0;
}

double mb_kernel_items(const struct mb_kernel *k, const struct mb_point *p) {
    struct mb_point tmp;
    return k->items ? k->items(k, parsed(k, p, &tmp)) : 0;
}
