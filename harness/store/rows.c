/* Rows of a results file grouped into series for plots and exports (see rows.h). */
#include "store/rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- rounds */
/* Rounds of one point (sweep --rounds): same kernel, source and point (every axis, threads, params). */
static int same_measurement(const struct mb_row *a, const struct mb_row *b) {
    if (strcmp(a->kernel, b->kernel) || strcmp(a->source_hash, b->source_hash) ||
        strcmp(a->point.params, b->point.params))
        return 0;
    for (int ax = 0; ax < MB_AXIS_COUNT; ax++)
        if (mb_point_get(&a->point, (enum mb_axis)ax) != mb_point_get(&b->point, (enum mb_axis)ax)) return 0;
    return 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double sorted_median(const double *v, int n) {
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The time fields of row from the pooled samples of all its rounds (as the runner computes them for one). */
static void pooled_times(struct mb_row *row, double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) sum += v[i];
    const double mean = sum / n;
    for (int i = 0; i < n; i++) sq += (v[i] - mean) * (v[i] - mean);
    row->repetitions = n;
    row->time_mean = mean;
    row->time_median = sorted_median(v, n);
    row->time_min = v[0];
    row->time_max = v[n - 1];
    row->time_stddev = n > 1 ? sqrt(sq / (n - 1)) : 0;
    row->time_cv = mean > 0 ? row->time_stddev / mean : 0;
    row->gflops = row->time_median > 0 ? row->flops / row->time_median / 1e9 : 0;
    row->gbps = row->time_median > 0 ? row->bytes / row->time_median / 1e9 : 0;
}

/* Merge the rounds of each point into one row. The rows of a point that ran (pass/fail), one per round (a round
   stored twice keeps its last row), become their last row with rounds = their count, the times of the pooled
   samples, verdict fail if any round failed and the errors of the worst round; the store then returns the pooled
   samples for that row's point_id. A round of such a point that did not run (skipped, error) is dropped. Points
   without rounds keep their row (rounds = 1). r->rows is compacted. */
static int merge_rounds(struct mb_results *r, char *err, size_t errlen) {
    const int64_t n = r->count;
    int64_t max_id = -1;
    for (int64_t i = 0; i < n; i++) {
        r->rows[i].rounds = 1;
        if (r->rows[i].point_id > max_id) max_id = r->rows[i].point_id;
    }
    int64_t *owner = malloc((size_t)(max_id + 2) * sizeof *owner); /* by point_id: whose samples these are */
    int *round_of = calloc((size_t)(max_id + 2), sizeof *round_of); /* by point_id: the round they came from */
    char *dropped = calloc((size_t)n + 1, 1);
    if (!owner || !round_of || !dropped) {
        free(owner);
        free(round_of);
        free(dropped);
        return mb_errorf(err, errlen, "out of memory");
    }
    for (int64_t p = 0; p <= max_id; p++) owner[p] = p;
    for (int64_t i = 0; i < n; i++)
        if (r->rows[i].point_id >= 0) round_of[r->rows[i].point_id] = (int)r->rows[i].round;
    int any = 0;
    for (int64_t i = n - 1; i >= 0; i--) { /* the last measured row of a point leads its group */
        struct mb_row *lead = &r->rows[i];
        if (dropped[i] || !mb_row_measured(lead)) continue;
        int fail = lead->verdict == MB_FAIL;
        int64_t *rounds = malloc((size_t)(i + 1) * sizeof *rounds), nr = 0; /* rounds in the group */
        if (!rounds) {
            free(owner);
            free(round_of);
            free(dropped);
            return mb_errorf(err, errlen, "out of memory");
        }
        rounds[nr++] = lead->round;
        for (int64_t j = 0; j < n; j++) {
            struct mb_row *o = &r->rows[j];
            if (j == i || dropped[j] || !same_measurement(o, lead)) continue;
            int repeated = 0;
            for (int64_t k = 0; k < nr && !repeated; k++) repeated = rounds[k] == o->round;
            dropped[j] = 1;
            if (!mb_row_measured(o) || repeated || j > i) { /* did not run, or superseded by a later row */
                if (o->point_id >= 0) owner[o->point_id] = -1;
                continue;
            }
            rounds[nr++] = o->round;
            if (o->point_id >= 0) owner[o->point_id] = lead->point_id;
            fail |= o->verdict == MB_FAIL;
            if (o->own.rel_l2 > lead->own.rel_l2) lead->own = o->own;
            if (o->exact.rel_l2 > lead->exact.rel_l2) lead->exact = o->exact;
            if (o->task_score < lead->task_score) lead->task_score = o->task_score;
        }
        free(rounds);
        lead->rounds = (int)nr;
        if (fail) lead->verdict = MB_FAIL;
        any |= nr > 1;
    }
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++)
        if (!dropped[i]) r->rows[kept++] = r->rows[i];
    r->count = kept;
    free(dropped);
    if (!any) {
        free(owner);
        free(round_of);
        return 0;
    }
    mb_store_set_sample_owners(r->store, owner, max_id + 1);
    mb_store_set_sample_rounds(r->store, round_of, max_id + 1);
    for (int64_t i = 0; i < r->count; i++) {
        if (r->rows[i].rounds < 2) continue;
        double *v;
        int nv;
        if (mb_store_read_samples(r->store, r->rows[i].point_id, &v, &nv, err, errlen)) return -1;
        if (nv > 0) pooled_times(&r->rows[i], v, nv);
        free(v);
    }
    return 0;
}

int mb_results_load(const char *path, struct mb_results *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    if (mb_store_open(path, 0, &r->store, err, errlen)) return -1;
    if (mb_store_read_rows(r->store, &r->rows, &r->count, err, errlen) || merge_rounds(r, err, errlen)) {
        char ignored[64];
        mb_store_close(r->store, ignored, sizeof ignored);
        r->store = NULL;
        free(r->rows);
        r->rows = NULL;
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
