/* ssm.retnet family: workload (q, k, v -> out), double-precision row oracle of retention, shared recurrent step.
 * See family_retnet.h for the math. */
#include "ssm/family_retnet.h"

#include "core/check.h"

#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule retnet_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 24}, {MB_AXIS_d, 64, 1, 1024}, {MB_AXIS_heads, 1, 1, 1024},
    {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_block, 0, 0, 1 << 16},
};

static void retnet_oracle(const struct mb_retnet *r, int64_t head, int64_t i, double *out);

static const struct mb_mechanism retnet_mechanisms[] = {
    {"retention", "out_i = sum_{j <= i} g_h^(i-j) (q_i . k_j) v_j,  g_h = 1 - 2^(-5-h)", 1e-4,
     (void (*)(void))retnet_oracle},
};

static void set_tensor(struct mb_tensor *t, const char *name, const struct mb_point *p) {
    mb_tensor_set(t, name, "batch,heads,n,d", 4, p->batch, p->heads, p->n, p->d);
}

static int retnet_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    double elements = (double)p->batch * (double)p->heads * (double)p->n * (double)p->d;
    if (elements > (double)(INT64_C(1) << 34))
        return mb_errorf(err, errlen, "batch*heads*n*d = %.3g elements per tensor is too large (max 2^34)", elements);
    w->n_inputs = 3;
    set_tensor(&w->inputs[0], "q", p);
    set_tensor(&w->inputs[1], "k", p);
    set_tensor(&w->inputs[2], "v", p);
    w->n_outputs = 1;
    set_tensor(&w->outputs[0], "out", p);
    return 0;
}

static void retnet_fill(struct mb_workload *w) {
    const double qk_sigma = 1.0 / sqrt(sqrt((double)w->point.d)); /* q.k ~ N(0, 1) */
    for (int t = 0; t < w->n_inputs; t++)
        mb_fill_normal(&w->inputs[t], w->seed, (uint64_t)t + 301, 0.0, t < 2 ? qk_sigma : 1.0);
}

static int retnet_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    if (mb_inputs_same_shape(w, 3, 4, "ssm.retnet", err, errlen)) return -1;
    w->point.batch = w->inputs[0].shape[0];
    w->point.heads = w->inputs[0].shape[1];
    w->point.n = w->inputs[0].shape[2];
    w->point.d = w->inputs[0].shape[3];
    w->n_outputs = 1;
    set_tensor(&w->outputs[0], "out", &w->point);
    return 0;
}

void mb_retnet_bind(struct mb_retnet *r, struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    r->batch = p->batch;
    r->heads = p->heads;
    r->n = p->n;
    r->d = p->d;
    r->q = w->inputs[0].data;
    r->k = w->inputs[1].data;
    r->v = w->inputs[2].data;
    r->out = w->outputs[0].data;
}

double mb_retnet_io_bytes(const struct mb_point *p) {
    return 4.0 * 4.0 * (double)p->batch * (double)p->heads * (double)p->n * (double)p->d;
}

void mb_retnet_step(int64_t d, float g, float *restrict S, const float *restrict q, const float *restrict k,
                    const float *restrict v, float *restrict o) {
    if (o)
        for (int64_t c = 0; c < d; c++) o[c] = 0.0f;
    for (int64_t r = 0; r < d; r++) {
        float *restrict row = S + r * d;
        const float kr = k[r];
#pragma omp simd
        for (int64_t c = 0; c < d; c++) row[c] = g * row[c] + kr * v[c];
        if (o) {
            const float qr = q[r];
#pragma omp simd
            for (int64_t c = 0; c < d; c++) o[c] += qr * row[c];
        }
    }
}

/* ------------------------------------------------------------------------------------------ oracle */
static void retnet_oracle(const struct mb_retnet *r, int64_t head, int64_t i, double *out) {
    const int64_t d = r->d, off = head * r->n * d;
    const double g = mb_retnet_gamma(r, head);
    const float *qi = r->q + off + i * d, *k = r->k + off, *v = r->v + off;
    for (int64_t c = 0; c < d; c++) out[c] = 0;
    double decay = 1.0; /* g^(i-j), j from i down */
    for (int64_t j = i; j >= 0; j--, decay *= g) {
        if (decay < 1e-300) break;
        double s = 0;
        for (int64_t c = 0; c < d; c++) s += (double)qi[c] * k[j * d + c];
        s *= decay;
        for (int64_t c = 0; c < d; c++) out[c] += s * v[j * d + c];
    }
}

typedef void (*retnet_oracle_fn)(const struct mb_retnet *r, int64_t head, int64_t i, double *out);

struct retnet_oracle_ctx {
    const struct mb_retnet *r;
    retnet_oracle_fn oracle;
};

static void retnet_oracle_row(const void *ctx, int64_t row, double *scratch, double *want) {
    (void)scratch;
    const struct retnet_oracle_ctx *c = ctx;
    c->oracle(c->r, row / c->r->n, row % c->r->n, want);
}

static int retnet_check(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism,
                        const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    const struct mb_mechanism *m = mb_family_mechanism(&mb_family_ssm_retnet, mechanism);
    if (!m || !m->oracle) return mb_errorf(err, errlen, "ssm.retnet has no oracle for mechanism '%s'", mechanism);
    struct mb_retnet r;
    mb_retnet_bind(&r, (struct mb_workload *)w);
    const struct retnet_oracle_ctx ctx = {&r, (retnet_oracle_fn)m->oracle};
    const struct mb_row_check check = {.width = r.d, .got = r.out, .oracle = retnet_oracle_row, .ctx = &ctx};
    const int last_only = (k->flags & MB_KERNEL_LAST_ROW) != 0;
    return mb_check_sampled(&check, mb_retnet_head_count(&r), r.n, last_only, opts, out, err, errlen);
}

const struct mb_family mb_family_ssm_retnet = {
    .name = "ssm.retnet",
    .summary = "retention: q, k, v (batch, heads, n, d) -> out (batch, heads, n, d), decay g_h = 1 - 2^(-5-h)",
    MB_SSM_TABLE(axes, retnet_axes),
    MB_SSM_TABLE(mechanisms, retnet_mechanisms),
    .layout = retnet_layout,
    .fill = retnet_fill,
    .point_from_inputs = retnet_point_from_inputs,
    .check = retnet_check,
};
