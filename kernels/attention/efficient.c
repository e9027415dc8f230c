/* attention.efficient: Efficient Attention (Shen et al. 2018) with softmax normalisation, non-causal.
 *
 *   O = rho_q(Q) (rho_k(K)^T V),  rho_q = softmax over the d entries of each query row,
 *                                 rho_k = softmax over the n entries of each key column
 * Each key column c is a distribution over the n positions, so rho_k(K)^T V (d x d) holds d "global context"
 * vectors and each query mixes them with its own softmax weights (a convex combination of the rows of V).
 * Computed per head as T key chunks (T = team size), each with its own column maxima m_c:
 *   U_c = exp(K_c - m_c)^T V_c (sgemm), s_c = colsum exp(K_c - m_c);  then, with m = max_c m_c,
 *   G = sum_c e^{m_c - m} U_c / sum_c e^{m_c - m} s_c (row-wise),  O = softmax_row(Q) G (sgemm).
 * Shapes: Q, K, V, O (batch, heads, n, d). Cost per head: 4 n d^2 + 2 n d exp + O(n d), memory O(n d + T d^2).
 * Non-causal only: the softmax over n of a key column mixes every position (it would leak the future).
 * Approximates softmax attention (a different function; its error vs softmax is recorded, not tested).
 * Source: Shen, Zhang, Zhao, Yi, Li 2018/2021, "Efficient Attention: Attention with Linear Complexities", eq. 3-4.
 */
#include "attention/family_linear.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <stdlib.h>
#include <string.h>

#define ROW_BLOCK 256

struct efficient {
    struct mb_attn a;
    int64_t chunks;
    float *ek;     /* (batch*heads, n, d): exp(K_c - m_c) */
    float *rq;     /* (batch*heads, n, d): softmax_row(Q) */
    float *u;      /* (batch*heads, chunks, d, d) */
    float *colmax; /* (batch*heads, chunks, d) */
    float *colsum; /* (batch*heads, chunks, d) */
    float *g;      /* (batch*heads, d, d) */
};

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (!p->causal) return 0;
    mb_errorf(why, len, "non-causal only: softmax over n leaks the future");
    return 1;
}

static void release(struct efficient *s) {
    mb_free(s->ek);
    mb_free(s->rq);
    mb_free(s->u);
    mb_free(s->colmax);
    mb_free(s->colsum);
    mb_free(s->g);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct efficient *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    const size_t heads = (size_t)mb_attn_head_count(&s->a), n = (size_t)s->a.n, d = (size_t)s->a.d;
    s->chunks = w->point.threads > 0 ? w->point.threads : 1;
    if (s->chunks > (int64_t)n) s->chunks = (int64_t)n;
    const size_t T = (size_t)s->chunks;
    s->ek = mb_alloc(heads * n * d * sizeof(float));
    s->rq = mb_alloc(heads * n * d * sizeof(float));
    s->u = mb_alloc(heads * T * d * d * sizeof(float));
    s->colmax = mb_alloc(heads * T * d * sizeof(float));
    s->colsum = mb_alloc(heads * T * d * sizeof(float));
    s->g = mb_alloc(heads * d * d * sizeof(float));
    if (!s->ek || !s->rq || !s->u || !s->colmax || !s->colsum || !s->g) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for the efficient-attention workspace");
    }
    *state = s;
    return 0;
}

/* y = exp(x - m), elementwise over d; sum += y */
static void exp_sub_row(const float *x, const float *m, float *y, float *sum, int64_t d) {
    int64_t c = 0;
#if defined(__AVX512F__)
    for (; c + 16 <= d; c += 16) {
        __m512 e = Sleef_expf16_u10(_mm512_sub_ps(_mm512_loadu_ps(x + c), _mm512_loadu_ps(m + c)));
        _mm512_storeu_ps(y + c, e);
        _mm512_storeu_ps(sum + c, _mm512_add_ps(_mm512_loadu_ps(sum + c), e));
    }
#endif
    for (; c < d; c++) {
        y[c] = expf(x[c] - m[c]);
        sum[c] += y[c];
    }
}

static void run(void *state) {
    struct efficient *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, heads = mb_attn_head_count(a), T = s->chunks;
    const int64_t row_blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp parallel
    {
        /* 1. per key chunk: column maxima, exp, column sums, U_c = exp(K_c - m_c)^T V_c */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < heads * T; t++) {
            const int64_t head = t / T, c = t % T, j0 = n * c / T, j1 = n * (c + 1) / T, off = head * n * d;
            float *m = s->colmax + t * d, *sum = s->colsum + t * d;
            for (int64_t e = 0; e < d; e++) m[e] = -INFINITY, sum[e] = 0.0f;
            for (int64_t j = j0; j < j1; j++) {
                const float *kj = a->k + off + j * d;
                for (int64_t e = 0; e < d; e++) m[e] = kj[e] > m[e] ? kj[e] : m[e];
            }
            for (int64_t j = j0; j < j1; j++) exp_sub_row(a->k + off + j * d, m, s->ek + off + j * d, sum, d);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)(j1 - j0), 1.0f,
                        s->ek + off + j0 * d, (int)d, a->v + off + j0 * d, (int)d, 0.0f, s->u + t * d * d, (int)d);
        }
        /* 2. per head: G = rho_k(K)^T V, rescaling the chunks to the common column maxima */
#pragma omp for schedule(static)
        for (int64_t head = 0; head < heads; head++) {
            float *g = s->g + head * d * d;
            for (int64_t r = 0; r < d; r++) {
                float m = -INFINITY, z = 0.0f;
                for (int64_t c = 0; c < T; c++) m = fmaxf(m, s->colmax[(head * T + c) * d + r]);
                float *gr = g + r * d;
                for (int64_t e = 0; e < d; e++) gr[e] = 0.0f;
                for (int64_t c = 0; c < T; c++) {
                    const float scale = expf(s->colmax[(head * T + c) * d + r] - m);
                    const float *ur = s->u + (head * T + c) * d * d + r * d;
                    z += scale * s->colsum[(head * T + c) * d + r];
                    for (int64_t e = 0; e < d; e++) gr[e] += scale * ur[e];
                }
                const float inv = 1.0f / z;
                for (int64_t e = 0; e < d; e++) gr[e] *= inv;
            }
        }
        /* 3. O = softmax_row(Q) G */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < heads * row_blocks; t++) {
            const int64_t head = t / row_blocks, i0 = (t % row_blocks) * ROW_BLOCK;
            const int64_t len = n - i0 < ROW_BLOCK ? n - i0 : ROW_BLOCK, off = head * n * d + i0 * d;
            memcpy(s->rq + off, a->q + off, (size_t)(len * d) * sizeof(float));
            for (int64_t i = 0; i < len; i++) mb_attn_softmax_row(s->rq + off + i * d, d);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)len, (int)d, (int)d, 1.0f, s->rq + off,
                        (int)d, s->g + head * d * d, (int)d, 0.0f, a->out + off, (int)d);
        }
    }
}

static void teardown(void *state) { release(state); }

/* per head: 2 n d^2 (U) + 2 n d^2 (O) + exp and sums of K and Q (~ 2 n d exp counted as 1 each, 6 n d) */
static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double n = (double)p->n, d = (double)p->d, T = p->threads > 0 ? (double)p->threads : 1.0;
    return (double)p->batch * p->heads * (4.0 * n * d * d + 8.0 * n * d + 2.0 * T * d * d);
}

/* io, exp(K) and softmax_row(Q) written and read, the chunk partials */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double d = (double)p->d, T = p->threads > 0 ? (double)p->threads : 1.0;
    return 2.0 * mb_attn_io_bytes(kernel, p) + 4.0 * (double)p->batch * p->heads * (T + 1) * (d * d + 2 * d);
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double n = (double)p->n, d = (double)p->d, T = p->threads > 0 ? (double)p->threads : 1.0;
    return 4.0 * (double)p->batch * p->heads * (2.0 * n * d + T * (d * d + 2.0 * d) + d * d);
}

const struct mb_kernel mb_kernel_attention_efficient = {
    .name = "attention.efficient",
    .family = &mb_family_attention,
    .mechanism = "efficient",
    .approximates = "softmax",
    .summary = "Efficient Attention (Shen 2018): softmax_row(Q) (softmax_col(K)^T V), non-causal, GEMM-shaped",
    .complexity = "O(n d^2) time, O(n d + d^2) memory",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(heads) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(causal),
    MB_KERNEL_SOURCE,
    .supports = supports,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
