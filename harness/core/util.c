/* Small shared helpers: the axis table, points, tensors, error metrics, aligned allocation, clocks. */
#include "core/mechbench.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

const struct mb_axis_info mb_axes[MB_AXIS_COUNT] = {
#define MB_AXIS(name_, kind_, help_) \
    [MB_AXIS_##name_] = {.name = #name_, .kind = MB_##kind_, .offset = offsetof(struct mb_point, name_), .help = help_},
#include "core/axes.def"
#undef MB_AXIS
};

const char *const mb_verdict_names[MB_VERDICT_COUNT] = {
    [MB_PASS] = "pass", [MB_FAIL] = "fail", [MB_UNSUPPORTED] = "unsupported",
    [MB_SKIPPED_BUDGET] = "skipped-budget", [MB_ERROR] = "error",
};

double mb_point_get(const struct mb_point *p, enum mb_axis a) {
    const char *base = (const char *)p + mb_axes[a].offset;
    if (mb_axes[a].kind == MB_REAL) return *(const double *)base;
    return (double)*(const int64_t *)base;
}

void mb_point_set(struct mb_point *p, enum mb_axis a, double v) {
    char *base = (char *)p + mb_axes[a].offset;
    if (mb_axes[a].kind == MB_REAL) *(double *)base = v;
    else *(int64_t *)base = (int64_t)llround(v);
}

int mb_axis_lookup(const char *name) {
    for (int a = 0; a < MB_AXIS_COUNT; a++)
        if (strcmp(mb_axes[a].name, name) == 0) return a;
    return -1;
}

void mb_point_format(const struct mb_point *p, uint64_t mask, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int a = 0; a < MB_AXIS_COUNT && used < len; a++) {
        if (!(mask & (UINT64_C(1) << a))) continue;
        double v = mb_point_get(p, (enum mb_axis)a);
        if (v == 0 && a != MB_AXIS_causal) continue;
        int w = mb_axes[a].kind == MB_REAL
                    ? snprintf(buf + used, len - used, "%s%s=%g", used ? " " : "", mb_axes[a].name, v)
                    : snprintf(buf + used, len - used, "%s%s=%lld", used ? " " : "", mb_axes[a].name, (long long)v);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (p->params[0] && used < len) snprintf(buf + used, len - used, "%s%s", used ? " " : "", p->params);
}

int64_t mb_tensor_numel(const struct mb_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

void mb_tensor_set(struct mb_tensor *t, const char *name, const char *dims, int ndim, int64_t d0, int64_t d1,
                   int64_t d2, int64_t d3) {
    const int64_t shape[4] = {d0, d1, d2, d3};
    t->name = name;
    t->dims = dims;
    t->ndim = ndim;
    for (int i = 0; i < ndim && i < 4; i++) t->shape[i] = shape[i];
}

struct mb_tensor *mb_workload_tensor(struct mb_workload *w, const char *name) {
    for (int i = 0; i < w->n_inputs; i++)
        if (strcmp(w->inputs[i].name, name) == 0) return &w->inputs[i];
    for (int i = 0; i < w->n_outputs; i++)
        if (strcmp(w->outputs[i].name, name) == 0) return &w->outputs[i];
    return NULL;
}

/* In blocks of 2^20 values, each from its own mt19937 stream, filled in parallel on every core: the values do not
   depend on the thread count, and block 0 is seeded as a whole tensor always was (tensors of up to 2^20 values are
   unchanged). One core fills ~60 M values/s: a sweep's rounds re-create each point's inputs (GiBs for a KV cache). */
#define FILL_BLOCK ((int64_t)1 << 20)
void mb_fill_normal(struct mb_tensor *t, uint64_t seed, uint64_t stream, double mean, double std) {
    const int64_t count = mb_tensor_numel(t), blocks = (count + FILL_BLOCK - 1) / FILL_BLOCK;
    const unsigned long base = (unsigned long)(seed * 1000003u + stream);
#pragma omp parallel for schedule(dynamic, 1) num_threads(omp_get_num_procs()) if (blocks > 1)
    for (int64_t b = 0; b < blocks; b++) {
        gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, base + (unsigned long)b * 0x9E3779B9u); /* distinct in the 32 bits mt19937 reads */
        const int64_t end = b + 1 < blocks ? (b + 1) * FILL_BLOCK : count;
        for (int64_t i = b * FILL_BLOCK; i < end; i++) t->data[i] = (float)(mean + gsl_ran_gaussian_ziggurat(rng, std));
        gsl_rng_free(rng);
    }
}

int mb_inputs_same_shape(const struct mb_workload *w, int count, int ndim, const char *family, char *err,
                         size_t errlen) {
    const struct mb_tensor *first = &w->inputs[0];
    for (int t = 0; t < count; t++) {
        const struct mb_tensor *x = &w->inputs[t];
        if (x->ndim != ndim)
            return mb_errorf(err, errlen, "'%s' has %d dimensions; %s expects %d: (%s)", x->name, x->ndim, family,
                             ndim, first->dims);
        for (int i = 0; i < ndim; i++)
            if (x->shape[i] != first->shape[i])
                return mb_errorf(err, errlen, "'%s' has shape dimension %d = %lld but '%s' has %lld; the inputs must "
                                 "have the same (%s)", x->name, i, (long long)x->shape[i], first->name,
                                 (long long)first->shape[i], first->dims);
    }
    return 0;
}

void mb_errors_reset(struct mb_errors *e) { memset(e, 0, sizeof *e); }

void mb_errors_add(struct mb_errors *e, const float *got, const double *want, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        double diff = (double)got[i] - want[i];
        if (isnan(diff)) diff = INFINITY; /* a NaN output is an infinite error, never a silent pass */
        if (fabs(diff) > e->max_abs) e->max_abs = fabs(diff);
        e->sum_sq_diff += diff * diff;
        e->sum_sq_ref += want[i] * want[i];
    }
    e->checked += count;
}

void mb_errors_merge(struct mb_errors *into, const struct mb_errors *from) {
    if (from->max_abs > into->max_abs) into->max_abs = from->max_abs;
    into->sum_sq_diff += from->sum_sq_diff;
    into->sum_sq_ref += from->sum_sq_ref;
    into->checked += from->checked;
}

void mb_errors_finish(struct mb_errors *e) {
    if (e->checked == 0) return;
    if (e->sum_sq_ref > 0) {
        e->nmse = e->sum_sq_diff / e->sum_sq_ref;
        e->rel_l2 = sqrt(e->nmse);
    } else { /* reference is all zeros: fall back to the absolute error */
        e->nmse = e->sum_sq_diff;
        e->rel_l2 = sqrt(e->sum_sq_diff);
    }
}

const struct mb_mechanism *mb_family_mechanism(const struct mb_family *f, const char *name) {
    for (int i = 0; i < f->n_mechanisms; i++)
        if (strcmp(f->mechanisms[i].name, name) == 0) return &f->mechanisms[i];
    return NULL;
}

int mb_family_validate(const struct mb_family *f, const struct mb_point *p, char *err, size_t errlen) {
    uint64_t declared = MB_AXIS_BIT(threads);
    for (int i = 0; i < f->n_axes; i++) {
        const struct mb_axis_rule *r = &f->axes[i];
        double v = mb_point_get(p, r->axis);
        declared |= UINT64_C(1) << r->axis;
        if (!(v >= r->min && v <= r->max))
            return mb_errorf(err, errlen, "%s = %g is out of range for family %s (allowed %g..%g)",
                             mb_axes[r->axis].name, v, f->name, r->min, r->max);
    }
    if (p->threads < 1 || p->threads > 1024)
        return mb_errorf(err, errlen, "threads = %lld is out of range (allowed 1..1024)", (long long)p->threads);
    for (int a = 0; a < MB_AXIS_COUNT; a++)
        if (!(declared & (UINT64_C(1) << a)) && mb_point_get(p, (enum mb_axis)a) != 0)
            return mb_errorf(err, errlen, "axis %s does not apply to family %s", mb_axes[a].name, f->name);
    return 0;
}

/* Buffers of 2 MiB and more are 2 MiB-aligned and advised as transparent huge pages (the kernel here runs THP in
 * "madvise" mode): a 4 KiB page costs a TLB miss per 4 KiB streamed and ~6 us at first touch, and the placement of
 * 4 KiB pages made the same GEMV 20-40% slower in a process's later allocations than in its first (measured:
 * peft.linear.base at d = 4096, n = 1). The memset is the first touch, before anything is timed. */
double mb_physical_memory(void) {
    return (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
}

int64_t mb_tensor_count_nonfinite(const struct mb_tensor *t, int64_t *first) {
    const int64_t count = mb_tensor_numel(t);
    int64_t bad = 0;
    *first = -1;
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(t->data[i]) && bad++ == 0) *first = i;
    return bad;
}

int mb_parse_number(const char *s, double *v) {
    if (!*s || strspn(s, "0123456789.eE+-") != strlen(s)) return -1; /* decimal only: no hex, nan, inf, spaces */
    char *end;
    errno = 0;
    const double x = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(x)) return -1;
    *v = x;
    return 0;
}

static double min_flops_per_thread = MB_MIN_FLOPS_PER_THREAD;

void mb_set_min_flops_per_thread(double flops) { min_flops_per_thread = flops > 0 ? flops : 0; }

int mb_team_for(double flops, int64_t threads) {
    const int most = threads > 1 ? (int)threads : 1;
    if (min_flops_per_thread <= 0) return most;
    const double fit = floor(flops / min_flops_per_thread);
    return fit < 1 ? 1 : fit < most ? (int)fit : most;
}

void *mb_alloc(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    const size_t align = bytes >= huge ? huge : 64;
    size_t rounded = (bytes + align - 1) & ~(align - 1);
    if (rounded == 0) rounded = 64;
    void *p = aligned_alloc(align, rounded);
    if (p && align == huge) madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure leaves 4 KiB pages */
    if (p) memset(p, 0, rounded);
    return p;
}

void mb_free(void *p) { free(p); }

uint64_t mb_splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

double mb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double mb_wall_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int mb_errorf(char *err, size_t len, const char *fmt, ...) {
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void mb_axis_value_format(int axis, double v, char *buf, size_t len) {
    if (mb_axes[axis].kind == MB_REAL) snprintf(buf, len, "%g", v);
    else snprintf(buf, len, "%lld", (long long)v);
}

int mb_probe_median(struct mb_probe_series *s, int i) {
    double *sorted = malloc(sizeof(double) * (size_t)(s->ns[i] > 0 ? s->ns[i] : 1));
    if (!sorted) return -1;
    memcpy(sorted, s->samples[i], sizeof(double) * (size_t)s->ns[i]);
    gsl_sort(sorted, 1, (size_t)s->ns[i]);
    s->y[i] = gsl_stats_median_from_sorted_data(sorted, 1, (size_t)s->ns[i]);
    free(sorted);
    return 0;
}

void mb_probe_series_free(struct mb_probe_series *s) {
    for (int i = 0; i < s->count; i++) free(s->samples[i]);
    memset(s, 0, sizeof *s);
}

char mb_contract_message[512];

void mb_contract_violation(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mb_contract_message, sizeof mb_contract_message, fmt, ap);
    va_end(ap);
    abort();
}
