/* Attention family: workload (q, k, v -> out), double-precision oracles, shared vectorised helpers.
 *
 * Inputs: q, k ~ N(0, qk_std^2), v ~ N(0, 1) (params qk_std, default 1), or params inputs=recall: the
 * associative-recall task (n stored key/value pairs, each query a stored key), scored by the family's task
 * metric, the fraction of rows that retrieve their own value (row task_score).
 * Oracles (mechanisms.def), per output row i of one head, in double, j over the allowed keys (all, or j <= i
 * when causal):
 *   softmax     out_i = sum_j e^{s_j - m} v_j / sum_j e^{s_j - m},  s_j = q_i.k_j / sqrt(d),  m = max_j s_j
 *   linear.elu  out_i = sum_j phi(q_i).phi(k_j) v_j / (sum_j phi(q_i).phi(k_j) + eps),  phi = elu + 1, eps = 1e-6
 *               (Katharopoulos et al. 2020, "Transformers are RNNs", eq. 4-6)
 */
#include "family.h"
#include "family_lowrank.h"
#include "family_softmax.h"

#include "core/check.h"

#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule attention_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 24},     {MB_AXIS_d, 64, 1, 4096},   {MB_AXIS_heads, 1, 1, 1024},
    {MB_AXIS_batch, 1, 1, 1 << 16},    {MB_AXIS_rank, 0, 0, 1 << 24}, {MB_AXIS_causal, 0, 0, 1},
    {MB_AXIS_block, 0, 0, 1 << 16},
};

static const struct mb_mechanism attention_mechanisms[] = {
#define MB_ATTN_MECHANISM(name, formula, tolerance, oracle) {name, formula, tolerance, (void (*)(void))oracle},
#include "mechanisms.def"
#undef MB_ATTN_MECHANISM
};

/* ------------------------------------------------------------------------------------------ parameters */
static const struct mb_param_decl attention_params[] = {
    {"qk_std", MB_PARAM_REAL, 1, 1e-3, 16, NULL,
     "std of q and k entries (2 makes rows peaked, closer to trained models than the near-uniform rows of 1)"},
    {"inputs", MB_PARAM_ENUM, 0, 0, 0, "normal|recall",
     "normal: q, k ~ N(0, qk_std^2), v ~ N(0, 1); recall: the associative-recall task (task_score)"},
};

/* ------------------------------------------------------------------------------------------ workload */
static void set_tensor(struct mb_tensor *t, const char *name, const struct mb_point *p) {
    mb_tensor_set(t, name, "batch,heads,n,d", 4, p->batch, p->heads, p->n, p->d);
}

static int attention_layout(struct mb_workload *w, char *err, size_t errlen) {
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

/* inputs=recall (the associative-recall task): the context stores n key/value pairs per head and every query is
 * a stored key, q_i = k_i. Keys are random unit vectors scaled to |k| = 2 sqrt(d), so the self score
 * q_i.k_i / sqrt(d) = 4 sqrt(d) (32 at d = 64) stands far above the cross scores (~ N(0, 16)); values ~ N(0, 1). A
 * kernel retrieves pair i when its output row i is closer (dot product) to v_i than to any other stored value. */
static int recall_inputs(const struct mb_point *p) { return mb_param_enum(p, "inputs") == MB_ATTN_INPUTS_RECALL; }

static void fill_recall(struct mb_workload *w) {
    struct mb_attn a;
    mb_attn_bind(&a, w);
    mb_fill_normal(&w->inputs[1], w->seed, 2, 0.0, 1.0);
    mb_fill_normal(&w->inputs[2], w->seed, 3, 0.0, 1.0);
    float *k = w->inputs[1].data, *q = w->inputs[0].data;
    const int64_t rows = mb_attn_head_count(&a) * a.n;
    for (int64_t r = 0; r < rows; r++) {
        float *key = k + r * a.d;
        double norm = 0;
        for (int64_t c = 0; c < a.d; c++) norm += (double)key[c] * key[c];
        const float scale = (float)(2.0 * sqrt((double)a.d) / sqrt(norm > 0 ? norm : 1.0));
        for (int64_t c = 0; c < a.d; c++) key[c] *= scale;
    }
    memcpy(q, k, (size_t)rows * (size_t)a.d * sizeof(float));
}

/* Fraction of the checked rows (the oracle's row sample) whose output is nearest to their own stored value. */
static int attention_task(const struct mb_kernel *k, const struct mb_workload *w, const struct mb_check_opts *opts,
                          double *score, char *err, size_t errlen) {
    if (!recall_inputs(&w->point)) return 0;
    struct mb_attn a;
    mb_attn_bind(&a, (struct mb_workload *)w);
    int64_t *rows = NULL;
    const int64_t count = mb_pick_rows(mb_attn_head_count(&a), a.n, (k->flags & MB_KERNEL_LAST_ROW) != 0, opts, &rows);
    if (count < 0) return mb_errorf(err, errlen, "out of memory picking recall rows");
    int64_t hits = 0;
#pragma omp parallel for reduction(+ : hits) schedule(dynamic, 8)
    for (int64_t r = 0; r < count; r++) {
        const int64_t head = rows[r] / a.n, i = rows[r] % a.n, off = head * mb_attn_head_stride(&a);
        const float *out = a.out + off + i * a.d, *v = a.v + off;
        int64_t best = -1;
        double best_dot = -INFINITY;
        for (int64_t j = 0; j < a.n; j++) {
            double dot = 0;
            for (int64_t c = 0; c < a.d; c++) dot += (double)out[c] * v[j * a.d + c];
            if (dot > best_dot) best_dot = dot, best = j;
        }
        hits += best == i;
    }
    free(rows);
    *score = count ? (double)hits / (double)count : NAN;
    return 1;
}

/* q, k ~ N(0, qk_std^2), v ~ N(0, 1). qk_std (param, default 1) sets how peaked attention is: the scores
 * q.k/sqrt(d) have standard deviation qk_std^2, so 1 gives nearly uniform weights over n keys (the exact output
 * averages many values and is small) and 2 gives peaked rows closer to trained models'. */
static void attention_fill(struct mb_workload *w) {
    if (recall_inputs(&w->point)) {
        fill_recall(w);
        return;
    }
    const double qk_std = mb_param_real(&w->point, "qk_std");
    for (int t = 0; t < w->n_inputs; t++) mb_fill_normal(&w->inputs[t], w->seed, (uint64_t)t + 1, 0.0, t < 2 ? qk_std : 1.0);
}

static int attention_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    if (mb_inputs_same_shape(w, 3, 4, "attention", err, errlen)) return -1;
    w->point.batch = w->inputs[0].shape[0];
    w->point.heads = w->inputs[0].shape[1];
    w->point.n = w->inputs[0].shape[2];
    w->point.d = w->inputs[0].shape[3];
    w->n_outputs = 1;
    set_tensor(&w->outputs[0], "out", &w->point);
    return 0;
}

void mb_attn_bind(struct mb_attn *a, struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    a->batch = p->batch;
    a->heads = p->heads;
    a->n = p->n;
    a->d = p->d;
    a->causal = (int)p->causal;
    a->q = w->inputs[0].data;
    a->k = w->inputs[1].data;
    a->v = w->inputs[2].data;
    a->out = w->outputs[0].data;
}

double mb_attn_io_bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return 4.0 * 4.0 * (double)p->batch * (double)p->heads * (double)p->n * (double)p->d;
}

/* ------------------------------------------------------------------------------------------ helpers */
void mb_attn_softmax_row(float *row, int64_t len) {
    const float sum = mb_attn_exp_sum(row, len, mb_attn_row_max(row, len));
    mb_attn_scale(row, len, 1.0f / sum);
}

void mb_attn_elu1(const float *x, float *y, int64_t len) {
    int64_t i = 0;
#if defined(__AVX512F__)
    __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (; i + 16 <= len; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __mmask16 pos = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
        __m512 neg = Sleef_expf16_u10(_mm512_min_ps(v, zero));
        _mm512_storeu_ps(y + i, _mm512_mask_blend_ps(pos, neg, _mm512_add_ps(v, one)));
    }
#endif
    for (; i < len; i++) y[i] = x[i] > 0.0f ? x[i] + 1.0f : expf(x[i]);
}

/* ------------------------------------------------------------------------------------------ oracle */
void mb_attn_weighted_rows(const struct mb_attn *a, const float *v, int64_t last, const double *weights,
                           double denom_extra, double *out) {
    const int64_t d = a->d;
    double denom = denom_extra;
    for (int64_t c = 0; c < d; c++) out[c] = 0;
    for (int64_t j = 0; j <= last; j++) {
        denom += weights[j];
        for (int64_t c = 0; c < d; c++) out[c] += weights[j] * v[j * d + c];
    }
    for (int64_t c = 0; c < d; c++) out[c] /= denom;
}

void mb_attn_oracle_softmax(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i,
                            double *scratch, double *out) {
    (void)w;
    const int64_t d = a->d, off = head * mb_attn_head_stride(a), last = mb_attn_last_key(a, i);
    const float *qi = a->q + off + i * d, *k = a->k + off;
    double m = -INFINITY;
    for (int64_t j = 0; j <= last; j++) {
        double s = 0;
        for (int64_t c = 0; c < d; c++) s += (double)qi[c] * k[j * d + c];
        scratch[j] = s / sqrt((double)d);
        if (scratch[j] > m) m = scratch[j];
    }
    for (int64_t j = 0; j <= last; j++) scratch[j] = exp(scratch[j] - m);
    mb_attn_weighted_rows(a, a->v + off, last, scratch, 0.0, out);
}

static double elu1(double x) { return x > 0 ? x + 1 : exp(x); }

void mb_attn_oracle_linear_elu(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i,
                               double *scratch, double *out) {
    (void)w;
    const int64_t d = a->d, off = head * mb_attn_head_stride(a), last = mb_attn_last_key(a, i);
    const float *qi = a->q + off + i * d, *k = a->k + off;
    for (int64_t j = 0; j <= last; j++) {
        double s = 0;
        for (int64_t c = 0; c < d; c++) s += elu1(qi[c]) * elu1(k[j * d + c]);
        scratch[j] = s;
    }
    mb_attn_weighted_rows(a, a->v + off, last, scratch, MB_ATTN_LINEAR_EPS, out);
}

/* The oracle of one flat row (head * n + i), for mb_check_rows. */
struct attention_oracle_ctx {
    const struct mb_attn *a;
    const struct mb_workload *w;
    mb_attn_oracle_fn oracle;
};

static void attention_oracle_row(const void *ctx, int64_t row, double *scratch, double *want) {
    const struct attention_oracle_ctx *c = ctx;
    c->oracle(c->a, c->w, row / c->a->n, row % c->a->n, scratch, want);
}

static int attention_check(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism,
                           const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    const struct mb_mechanism *m = mb_family_mechanism(&mb_family_attention, mechanism);
    if (!m || !m->oracle) return mb_errorf(err, errlen, "attention family has no oracle for mechanism '%s'", mechanism);
    const mb_attn_oracle_fn oracle = (mb_attn_oracle_fn)m->oracle;
    struct mb_attn a;
    mb_attn_bind(&a, (struct mb_workload *)w);
    int64_t *rows = NULL;
    const int64_t count = mb_pick_rows(mb_attn_head_count(&a), a.n, (k->flags & MB_KERNEL_LAST_ROW) != 0, opts, &rows);
    if (count < 0) return mb_errorf(err, errlen, "out of memory picking oracle rows");
    const struct attention_oracle_ctx ctx = {&a, w, oracle};
    const struct mb_row_check check = {.width = a.d, .scratch = a.n, .got = a.out, .oracle = attention_oracle_row,
                                       .ctx = &ctx};
    const int rc = mb_check_rows(&check, rows, count, out, err, errlen);
    free(rows);
    mb_lowrank_cache_clear(); /* the oracles' cached projections end with the check (family_lowrank.h) */
    return rc;
}

const struct mb_family mb_family_attention = {
    .name = "attention",
    .summary = "q, k, v (batch, heads, n, d) -> out (batch, heads, n, d)",
    .axes = attention_axes,
    .n_axes = (int)(sizeof attention_axes / sizeof attention_axes[0]),
    .params = attention_params,
    .n_params = (int)(sizeof attention_params / sizeof attention_params[0]),
    .probes = mb_attention_probes,
    .n_probes = (int)(sizeof mb_attention_probes / sizeof mb_attention_probes[0]),
    .mechanisms = attention_mechanisms,
    .n_mechanisms = (int)(sizeof attention_mechanisms / sizeof attention_mechanisms[0]),
    .layout = attention_layout,
    .fill = attention_fill,
    .point_from_inputs = attention_point_from_inputs,
    .check = attention_check,
    .task = attention_task,
};
