/* peft.prefix family: workload (q, k, v, prefix_key, prefix_value -> out) and the double-precision row oracle of
 * softmax attention over [prefix; real] keys. See family_prefix.h for the math. */
#include "peft/family_prefix.h"

#include "core/check.h"

#include <math.h>
#include <string.h>

static const struct mb_axis_rule prefix_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 24}, {MB_AXIS_d, 64, 1, 4096},   {MB_AXIS_heads, 1, 1, 1024},
    {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_causal, 0, 0, 1}, {MB_AXIS_rank, 10, 0, 1 << 20}, /* rank = L_p */
};

void mb_prefix_bind(struct mb_prefix *a, const struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    a->batch = p->batch;
    a->heads = p->heads;
    a->n = p->n;
    a->d = p->d;
    a->lp = p->rank;
    a->causal = (int)p->causal;
    a->q = w->inputs[MB_PREFIX_Q].data;
    a->k = w->inputs[MB_PREFIX_K].data;
    a->v = w->inputs[MB_PREFIX_V].data;
    a->pk = w->inputs[MB_PREFIX_KEY].data;
    a->pv = w->inputs[MB_PREFIX_VALUE].data;
    a->out = w->outputs[0].data;
}

/* ------------------------------------------------------------------------------------------ oracle */
/* Output row i of head `head` (b * heads + h) in double: scores of the L_p prefix slots of head h, then of the real
   keys j <= last; one softmax over both; scratch: L_p + n doubles. */
static void prefix_row_oracle(const void *ctx, int64_t row, double *scratch, double *want) {
    const struct mb_prefix *a = ctx;
    const int64_t d = a->d, head = row / a->n, i = row % a->n, last = a->causal ? i : a->n - 1;
    const int64_t off = head * a->n * d, poff = (head % a->heads) * a->lp * d;
    const float *qi = a->q + off + i * d;
    const int64_t count = a->lp + last + 1;
    double m = -INFINITY;
    for (int64_t j = 0; j < count; j++) {
        const float *kj = j < a->lp ? a->pk + poff + j * d : a->k + off + (j - a->lp) * d;
        double s = 0;
        for (int64_t c = 0; c < d; c++) s += (double)qi[c] * kj[c];
        scratch[j] = s / sqrt((double)d);
        if (scratch[j] > m) m = scratch[j];
    }
    double denom = 0;
    for (int64_t c = 0; c < d; c++) want[c] = 0;
    for (int64_t j = 0; j < count; j++) {
        const double e = exp(scratch[j] - m);
        const float *vj = j < a->lp ? a->pv + poff + j * d : a->v + off + (j - a->lp) * d;
        denom += e;
        for (int64_t c = 0; c < d; c++) want[c] += e * vj[c];
    }
    for (int64_t c = 0; c < d; c++) want[c] /= denom;
}

static const struct mb_mechanism prefix_mechanisms[] = {
    {"prefix", "out = softmax(q [P_k; k]^T / sqrt(d) [+ causal mask on the real keys only]) [P_v; v]", 1e-4,
     (void (*)(void))prefix_row_oracle},
};

static int prefix_check(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism,
                        const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    if (strcmp(mechanism, "prefix")) return mb_errorf(err, errlen, "peft.prefix has no mechanism '%s'", mechanism);
    struct mb_prefix a;
    mb_prefix_bind(&a, w);
    const struct mb_row_check c = {.width = a.d, .scratch = a.lp + a.n, .got = a.out, .oracle = prefix_row_oracle,
                                   .ctx = &a};
    return mb_check_sampled(&c, a.batch * a.heads, a.n, (k->flags & MB_KERNEL_LAST_ROW) != 0, opts, out, err, errlen);
}

/* ------------------------------------------------------------------------------------------ workload */
static int prefix_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    const double elements = (double)p->batch * (double)p->heads * (double)(p->n > p->rank ? p->n : p->rank) * (double)p->d;
    if (elements > (double)(INT64_C(1) << 34))
        return mb_errorf(err, errlen, "batch*heads*max(n, L_p)*d = %.3g elements per tensor is too large (max 2^34)",
                         elements);
    mb_tensor_set(&w->inputs[MB_PREFIX_Q], "q", "batch,heads,n,d", 4, p->batch, p->heads, p->n, p->d);
    mb_tensor_set(&w->inputs[MB_PREFIX_K], "k", "batch,heads,n,d", 4, p->batch, p->heads, p->n, p->d);
    mb_tensor_set(&w->inputs[MB_PREFIX_V], "v", "batch,heads,n,d", 4, p->batch, p->heads, p->n, p->d);
    mb_tensor_set(&w->inputs[MB_PREFIX_KEY], "prefix_key", "heads,L_p,d", 3, p->heads, p->rank, p->d, 0);
    mb_tensor_set(&w->inputs[MB_PREFIX_VALUE], "prefix_value", "heads,L_p,d", 3, p->heads, p->rank, p->d, 0);
    w->n_inputs = 5;
    mb_tensor_set(&w->outputs[0], "out", "batch,heads,n,d", 4, p->batch, p->heads, p->n, p->d);
    w->n_outputs = 1;
    return 0;
}

/* q, k, v ~ N(0, 1) from the streams the attention family uses (the same seed gives attention's q, k, v), the
   prefix keys and values ~ N(0, 1) (streams 4, 5). */
static void prefix_fill(struct mb_workload *w) {
    for (int t = 0; t < w->n_inputs; t++) mb_fill_normal(&w->inputs[t], w->seed, (uint64_t)t + 1, 0.0, 1.0);
}

static int prefix_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    if (mb_inputs_same_shape(w, 3, 4, "peft.prefix", err, errlen)) return -1;
    const struct mb_tensor *q = &w->inputs[MB_PREFIX_Q], *pk = &w->inputs[MB_PREFIX_KEY];
    const struct mb_tensor *pv = &w->inputs[MB_PREFIX_VALUE];
    if (pk->ndim != 3 || pk->shape[0] != q->shape[1] || pk->shape[2] != q->shape[3])
        return mb_errorf(err, errlen, "'prefix_key' must be (heads = %lld, L_p, d = %lld)", (long long)q->shape[1],
                         (long long)q->shape[3]);
    if (pv->ndim != 3 || pv->shape[0] != pk->shape[0] || pv->shape[1] != pk->shape[1] || pv->shape[2] != pk->shape[2])
        return mb_errorf(err, errlen, "'prefix_value' must have the shape of 'prefix_key' (heads, L_p, d) = (%lld, %lld, %lld)",
                         (long long)pk->shape[0], (long long)pk->shape[1], (long long)pk->shape[2]);
    w->point.batch = q->shape[0];
    w->point.heads = q->shape[1];
    w->point.n = q->shape[2];
    w->point.d = q->shape[3];
    w->point.rank = pk->shape[1];
    w->n_outputs = 1;
    mb_tensor_set(&w->outputs[0], "out", "batch,heads,n,d", 4, q->shape[0], q->shape[1], q->shape[2], q->shape[3]);
    return 0;
}

const struct mb_family mb_family_peft_prefix = {
    .name = "peft.prefix",
    .summary = "q, k, v (batch, heads, n, d), prefix_key, prefix_value (heads, L_p, d) -> out (batch, heads, n, d): "
               "softmax attention over [prefix; keys], the causal mask on the real keys only (Prefix-Tuning)",
    .axes = prefix_axes,
    .n_axes = (int)(sizeof prefix_axes / sizeof prefix_axes[0]),
    .mechanisms = prefix_mechanisms,
    .n_mechanisms = (int)(sizeof prefix_mechanisms / sizeof prefix_mechanisms[0]),
    .layout = prefix_layout,
    .fill = prefix_fill,
    .point_from_inputs = prefix_point_from_inputs,
    .check = prefix_check,
};
