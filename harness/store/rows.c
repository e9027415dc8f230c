/* Rows of a results file grouped into series for plots and exports (see rows.h). */
#include "store/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mb_results_load(const char *path, struct mb_results *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    if (mb_store_open(path, 0, &r->store, err, errlen)) return -1;
    if (mb_store_read_rows(r->store, &r->rows, &r->count, err, errlen)) {
        char ignored[64];
        mb_store_close(r->store, ignored, sizeof ignored);
        r->store = NULL;
        return -1;
    }
    return 0;
}

void mb_results_close(struct mb_results *r) {
    char ignored[256];
    if (r->store) mb_store_close(r->store, ignored, sizeof ignored);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

int mb_row_measured(const struct mb_row *r) { return r->verdict == MB_PASS || r->verdict == MB_FAIL; }

double mb_row_x(const struct mb_row *r, int x_axis) { return mb_point_get(&r->point, (enum mb_axis)x_axis); }

uint64_t mb_rows_varying(const struct mb_row *const *rows, int64_t count, int *params_vary) {
    uint64_t mask = 0;
    int pv = 0;
    for (int64_t i = 1; i < count; i++) {
        for (int a = 0; a < MB_AXIS_COUNT; a++)
            if (mb_point_get(&rows[i]->point, (enum mb_axis)a) != mb_point_get(&rows[0]->point, (enum mb_axis)a))
                mask |= UINT64_C(1) << a;
        if (strcmp(rows[i]->point.params, rows[0]->point.params) != 0) pv = 1;
    }
    if (params_vary) *params_vary = pv;
    return mask;
}

void mb_series_key(const struct mb_point *p, uint64_t mask, int with_params, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int a = 0; a < MB_AXIS_COUNT; a++) {
        if (!(mask & (UINT64_C(1) << a))) continue;
        double v = mb_point_get(p, (enum mb_axis)a);
        if (v == 0 && mb_axes[a].kind != MB_BOOL) continue;
        char value[32];
        mb_axis_value_format(a, v, value, sizeof value);
        int w = snprintf(buf + used, len - used, "%s%s=%s", used ? " " : "", mb_axes[a].name, value);
        if (w < 0 || (size_t)w >= len - used) return;
        used += (size_t)w;
    }
    if (with_params && p->params[0]) snprintf(buf + used, len - used, "%s%s", used ? " " : "", p->params);
}

/* ---------------------------------------------------------------------------------------------- grouping */

static int same_series(const struct mb_row *a, const struct mb_row *b, uint64_t mask, int params) {
    if (strcmp(a->kernel, b->kernel) != 0) return 0;
    for (int ax = 0; ax < MB_AXIS_COUNT; ax++)
        if ((mask & (UINT64_C(1) << ax)) &&
            mb_point_get(&a->point, (enum mb_axis)ax) != mb_point_get(&b->point, (enum mb_axis)ax))
            return 0;
    return !params || strcmp(a->point.params, b->point.params) == 0;
}

static int cmp_by_x(const void *pa, const void *pb, void *ctx) {
    int x = *(const int *)ctx;
    const struct mb_row *a = *(const struct mb_row *const *)pa, *b = *(const struct mb_row *const *)pb;
    double xa = mb_row_x(a, x), xb = mb_row_x(b, x);
    if (xa != xb) return xa < xb ? -1 : 1;
    return (a->point_id > b->point_id) - (a->point_id < b->point_id);
}

static int cmp_series(const void *pa, const void *pb, void *ctx) {
    const struct mb_series_set *set = ctx;
    const struct mb_series *sa = pa, *sb = pb;
    int c = strcmp(sa->kernel, sb->kernel);
    if (c) return c;
    const struct mb_point *a = &sa->rows[0]->point, *b = &sb->rows[0]->point;
    for (int ax = 0; ax < MB_AXIS_COUNT; ax++) {
        if (!(set->key_mask & (UINT64_C(1) << ax))) continue;
        double va = mb_point_get(a, (enum mb_axis)ax), vb = mb_point_get(b, (enum mb_axis)ax);
        if (va != vb) return va < vb ? -1 : 1;
    }
    return set->key_params ? strcmp(a->params, b->params) : 0;
}

/* Sort a series by x and keep the last-appended row of each x. */
static void sort_and_dedupe(struct mb_series *s, int x_axis) {
    qsort_r(s->rows, (size_t)s->count, sizeof *s->rows, cmp_by_x, &x_axis);
    int kept = 0;
    for (int i = 0; i < s->count; i++) {
        if (kept > 0 && mb_row_x(s->rows[kept - 1], x_axis) == mb_row_x(s->rows[i], x_axis)) kept--;
        s->rows[kept++] = s->rows[i];
    }
    s->count = kept;
}

/* The value of parameter `name` (length len) in a normalised params text "a=1;b=x", or NULL. */
static const char *param_value(const char *params, const char *name, size_t len, size_t *value_len) {
    for (const char *t = params; *t; t += strcspn(t, ";"), t += *t == ';') {
        if (strncmp(t, name, len) || t[len] != '=') continue;
        *value_len = strcspn(t + len + 1, ";");
        return t + len + 1;
    }
    return NULL;
}

/* "kernel axes params" with only the parameters whose value differs between the set's series: a parameter that
   every series having it holds at one value says nothing in a legend, and long default lists pushed the plots off
   the canvas. A series of the same kernel without the parameter counts as differing; another kernel's does not. */
static void series_label(struct mb_series_set *set, int s, uint64_t label_mask) {
    struct mb_series *se = &set->series[s];
    char axes[192], params[MB_PARAMS_LEN] = "";
    mb_series_key(&se->rows[0]->point, label_mask, 0, axes, sizeof axes);
    const char *mine = se->rows[0]->point.params;
    size_t used = 0;
    for (const char *t = mine; set->key_params && *t; t += strcspn(t, ";"), t += *t == ';') {
        const size_t token = strcspn(t, ";"), name = strcspn(t, "=;");
        const char *value = t + name + 1;
        size_t value_len = token > name ? token - name - 1 : 0, other_len;
        int differs = 0;
        for (int o = 0; o < set->count && !differs; o++) {
            const char *other = param_value(set->series[o].rows[0]->point.params, t, name, &other_len);
            if (!other) differs = !strcmp(set->series[o].kernel, se->kernel); /* a kernel without it: no evidence */
            else differs = other_len != value_len || strncmp(other, value, value_len);
        }
        if (!differs) continue;
        int w = snprintf(params + used, sizeof params - used, "%s%.*s", used ? ";" : "", (int)token, t);
        if (w < 0 || (size_t)w >= sizeof params - used) break;
        used += (size_t)w;
    }
    snprintf(se->label, sizeof se->label, "%s%s%s%s%s", se->kernel, axes[0] ? " " : "", axes, params[0] ? " " : "",
             params);
}

int mb_series_group(const struct mb_row *const *rows, int64_t count, int x_axis, uint64_t key_mask, int key_params,
                    struct mb_series_set *set, char *err, size_t errlen) {
    memset(set, 0, sizeof *set);
    set->x_axis = x_axis;
    set->key_mask = key_mask & ~(UINT64_C(1) << x_axis);
    set->key_params = key_params;
    size_t n = (size_t)(count ? count : 1);
    int *owner = malloc(n * sizeof *owner);     /* series of each row */
    int64_t *first = malloc(n * sizeof *first); /* first row of each series */
    set->series = calloc(n, sizeof *set->series);
    int ok = owner && first && set->series;
    for (int64_t i = 0; ok && i < count; i++) {
        int s = 0;
        while (s < set->count && !same_series(rows[first[s]], rows[i], set->key_mask, key_params)) s++;
        if (s == set->count) first[set->count++] = i;
        owner[i] = s;
        set->series[s].count++;
    }
    for (int s = 0; ok && s < set->count; s++) {
        set->series[s].rows = malloc((size_t)set->series[s].count * sizeof *set->series[s].rows);
        set->series[s].count = 0;
        ok = set->series[s].rows != NULL;
    }
    for (int64_t i = 0; ok && i < count; i++) {
        struct mb_series *se = &set->series[owner[i]];
        se->rows[se->count++] = rows[i];
    }
    free(owner);
    free(first);
    if (!ok) {
        mb_series_free(set);
        return mb_errorf(err, errlen, "out of memory");
    }

    uint64_t label_mask = (set->key_mask | MB_AXIS_BIT(rank)) & ~(UINT64_C(1) << x_axis);
    for (int s = 0; s < set->count; s++) {
        struct mb_series *se = &set->series[s];
        sort_and_dedupe(se, x_axis);
        snprintf(se->kernel, sizeof se->kernel, "%s", se->rows[0]->kernel);
        mb_series_key(&se->rows[0]->point, label_mask, key_params, se->key, sizeof se->key);
    }
    for (int s = 0; s < set->count; s++) series_label(set, s, label_mask);
    qsort_r(set->series, (size_t)set->count, sizeof *set->series, cmp_series, set);
    return 0;
}

void mb_series_free(struct mb_series_set *set) {
    if (set->series)
        for (int s = 0; s < set->count; s++) free(set->series[s].rows);
    free(set->series);
    memset(set, 0, sizeof *set);
}
