/* ssm.rwkv family: workload (w, u, k, v -> y), double-precision row oracle (direct formula, log-sum-exp).
 * See family_rwkv.h for the math. */
#include "ssm/family_rwkv.h"

#include "core/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule rwkv_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 24}, {MB_AXIS_d, 64, 1, 1 << 16}, {MB_AXIS_batch, 1, 1, 1 << 16},
};

static void rwkv_oracle(const struct mb_rwkv *r, int64_t b, int64_t t, double *out);

static const struct mb_mechanism rwkv_mechanisms[] = {
    {"wkv", "y_t = [sum_{i<t} e^{-(t-1-i) w + k_i} v_i + e^{u + k_t} v_t] / [sum_{i<t} e^{-(t-1-i) w + k_i} + e^{u + k_t}]",
     1e-4, (void (*)(void))rwkv_oracle},
};

static void rwkv_tensors(struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    mb_tensor_set(&w->inputs[0], "w", "C", 1, p->d, 0, 0, 0);
    mb_tensor_set(&w->inputs[1], "u", "C", 1, p->d, 0, 0, 0);
    mb_tensor_set(&w->inputs[2], "k", "batch,T,C", 3, p->batch, p->n, p->d, 0);
    mb_tensor_set(&w->inputs[3], "v", "batch,T,C", 3, p->batch, p->n, p->d, 0);
    w->n_inputs = 4;
    mb_tensor_set(&w->outputs[0], "y", "batch,T,C", 3, p->batch, p->n, p->d, 0);
    w->n_outputs = 1;
}

static int rwkv_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    double elements = (double)p->batch * (double)p->n * (double)p->d;
    if (elements > (double)(INT64_C(1) << 34))
        return mb_errorf(err, errlen, "batch*T*C = %.3g elements per tensor is too large (max 2^34)", elements);
    rwkv_tensors(w);
    return 0;
}

/* RWKV-4 init (model.py): time_decay_c = -5 + 8 (c / (C-1))^(0.7 + 1.3 ratio), ratio 0.5 (a middle layer),
 * time_first_c = log(0.3) + 0.5 ((c + 1) % 3 - 1) (the "zigzag"); k, v ~ N(0, 1). */
static void rwkv_fill(struct mb_workload *w) {
    const int64_t C = w->point.d;
    float *wd = w->inputs[0].data, *u = w->inputs[1].data;
    for (int64_t c = 0; c < C; c++) {
        const double x = C > 1 ? (double)c / (double)(C - 1) : 0.0;
        wd[c] = (float)exp(-5.0 + 8.0 * pow(x, 0.7 + 1.3 * 0.5));
        u[c] = (float)(log(0.3) + 0.5 * (double)((c + 1) % 3 - 1));
    }
    for (int t = 2; t < 4; t++) mb_fill_normal(&w->inputs[t], w->seed, (uint64_t)t + 401, 0.0, 1.0);
}

static int rwkv_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *k = &w->inputs[2];
    if (k->ndim != 3) return mb_errorf(err, errlen, "'k' has %d dimensions; ssm.rwkv expects 3: (batch, T, C)", k->ndim);
    struct mb_workload want = {.family = w->family, .point = w->point};
    want.point.batch = k->shape[0];
    want.point.n = k->shape[1];
    want.point.d = k->shape[2];
    rwkv_tensors(&want);
    for (int t = 0; t < w->n_inputs; t++) {
        const struct mb_tensor *x = &w->inputs[t], *e = &want.inputs[t];
        int same = x->ndim == e->ndim;
        for (int i = 0; same && i < e->ndim; i++) same = x->shape[i] == e->shape[i];
        if (!same)
            return mb_errorf(err, errlen, "'%s' has the wrong shape; expected (%s) from k (batch, T, C) = (%lld, %lld, %lld)",
                             x->name, e->dims, (long long)k->shape[0], (long long)k->shape[1], (long long)k->shape[2]);
    }
    w->point = want.point;
    w->n_outputs = 1;
    w->outputs[0] = want.outputs[0];
    return 0;
}

void mb_rwkv_bind(struct mb_rwkv *r, struct mb_workload *w) {
    r->batch = w->point.batch;
    r->T = w->point.n;
    r->C = w->point.d;
    r->w = w->inputs[0].data;
    r->u = w->inputs[1].data;
    r->k = w->inputs[2].data;
    r->v = w->inputs[3].data;
    r->y = w->outputs[0].data;
}

/* ------------------------------------------------------------------------------------------ oracle */
static void rwkv_oracle(const struct mb_rwkv *r, int64_t b, int64_t t, double *out) {
    const int64_t C = r->C;
    const float *k = r->k + b * r->T * C, *v = r->v + b * r->T * C;
    for (int64_t c = 0; c < C; c++) {
        const double w = r->w[c];
        double m = (double)r->u[c] + k[t * C + c];
        for (int64_t i = 0; i < t; i++) {
            const double x = -(double)(t - 1 - i) * w + k[i * C + c];
            if (x > m) m = x;
        }
        double e = exp((double)r->u[c] + k[t * C + c] - m), num = e * v[t * C + c], den = e;
        for (int64_t i = 0; i < t; i++) {
            e = exp(-(double)(t - 1 - i) * w + k[i * C + c] - m);
            num += e * v[i * C + c];
            den += e;
        }
        out[c] = num / den;
    }
}

typedef void (*rwkv_oracle_fn)(const struct mb_rwkv *r, int64_t b, int64_t t, double *out);

struct rwkv_oracle_ctx {
    const struct mb_rwkv *r;
    rwkv_oracle_fn oracle;
};

static void rwkv_oracle_row(const void *ctx, int64_t row, double *scratch, double *want) {
    (void)scratch;
    const struct rwkv_oracle_ctx *c = ctx;
    c->oracle(c->r, row / c->r->T, row % c->r->T, want);
}

/* Rows are the (batch, t) output vectors of C channels; batches are the groups, time steps their rows. */
static int rwkv_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism,
                      const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    const struct mb_mechanism *m = mb_family_mechanism(&mb_family_ssm_rwkv, mechanism);
    if (!m || !m->oracle) return mb_errorf(err, errlen, "ssm.rwkv has no oracle for mechanism '%s'", mechanism);
    struct mb_rwkv r;
    mb_rwkv_bind(&r, (struct mb_workload *)w);
    const struct rwkv_oracle_ctx ctx = {&r, (rwkv_oracle_fn)m->oracle};
    const struct mb_row_check check = {.width = r.C, .got = r.y, .oracle = rwkv_oracle_row, .ctx = &ctx};
    return mb_check_sampled(&check, r.batch, r.T, 0, opts, out, err, errlen);
}

const struct mb_family mb_family_ssm_rwkv = {
    .name = "ssm.rwkv",
    .summary = "RWKV-4 WKV: w, u (C), k, v (batch, T, C) -> y (batch, T, C)",
    MB_SSM_TABLE(axes, rwkv_axes),
    MB_SSM_TABLE(mechanisms, rwkv_mechanisms),
    .layout = rwkv_layout,
    .fill = rwkv_fill,
    .point_from_inputs = rwkv_point_from_inputs,
    .check = rwkv_check,
};
