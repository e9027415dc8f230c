/* attention.efficient, attention.efficient_scaling: Efficient Attention (Shen et al. 2018), non-causal, in its two
 * normalisations; one implementation, k->variant says which rho.
 *
 *   O = rho_q(Q) (rho_k(K)^T V)
 *   softmax (attention.efficient):          rho_q = softmax over the d entries of each query row,
 *                                            rho_k = softmax over the n entries of each key column
 *   scaling (attention.efficient_scaling):  rho_q(Q) = Q / sqrt(n), rho_k(K) = K / sqrt(n):  O = Q (K^T V) / n
 *
 * softmax: each key column c is a distribution over the n positions, so rho_k(K)^T V (d x d) holds d "global
 * context" vectors and each query mixes them with its own softmax weights (a convex combination of the rows of V).
 * It approximates softmax attention (a different function; its error vs softmax is recorded, not tested).
 * scaling: the paper shows this equals dot-product attention with scaling normalisation, D(Q, K, V) = rho(Q K^T) V
 * with rho(Y) = Y / n (no softmax), exactly: the product is associative. Its oracle evaluates q_i.k_j / n directly.
 * Exact for its own mechanism; not an approximation of softmax (no normalisation of the weights at all).
 *
 * Per head, over T key chunks K_c (T = team size), three parallel phases:
 *   1. per chunk   softmax: column maxima m_c, E_c = exp(K_c - m_c), s_c = colsum E_c, U_c = E_c^T V_c (sgemm)
 *                  scaling: U_c = K_c^T V_c (sgemm)
 *   2. per head    softmax: G = sum_c e^{m_c - m} U_c / sum_c e^{m_c - m} s_c (row-wise), m = max_c m_c
 *                  scaling: G = sum_c U_c
 *   3. per rows    softmax: O = softmax_row(Q) G;  scaling: O = Q G / n  (sgemm)
 * Shapes: Q, K, V, O (batch, heads, n, d). Cost per head: softmax 4 n d^2 + 2 n d exp + O(n d), memory
 * O(n d + T d^2); scaling 4 n d^2 + T d^2 FLOPs, memory O(T d^2).
 * Non-causal only: rho_k(K)^T V sums over every position (a causal form would need the chunked prefix scheme).
 * Source: Shen, Zhang, Zhao, Yi, Li 2018/2021, "Efficient Attention: Attention with Linear Complexities", eq. 3-4
 * (softmax normalisation), sec. 3.3, eq. 5-6 (scaling normalisation).
 */
#include "attention/family_linear.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <stdlib.h>
#include <string.h>

#define ROW_BLOCK 256

enum efficient_rho { RHO_SOFTMAX, RHO_SCALING }; /* the kernels' variant data */

static int rho_softmax(const struct mb_kernel *k) { return *(const enum efficient_rho *)k->variant == RHO_SOFTMAX; }

struct efficient {
    struct mb_attn a;
    int softmax;   /* rho = softmax (1) or scaling (0) */
    int64_t chunks;
    float *u;      /* (batch*heads, chunks, d, d): U_c */
    float *g;      /* (batch*heads, d, d): G */
    float *ek;     /* softmax: (batch*heads, n, d): exp(K_c - m_c) */
    float *rq;     /* softmax: (batch*heads, n, d): softmax_row(Q) */
    float *colmax; /* softmax: (batch*heads, chunks, d) */
    float *colsum; /* softmax: (batch*heads, chunks, d) */
};

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (!p->causal) return 0;
    mb_errorf(why, len, "non-causal only: rho_k(K)^T V sums over all n positions, so the future leaks");
    return 1;
}

static void teardown(void *state) {
    struct efficient *s = state;
    mb_free(s->u);
    mb_free(s->g);
    mb_free(s->ek);
    mb_free(s->rq);
    mb_free(s->colmax);
    mb_free(s->colsum);
    free(s);
}

static int setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct efficient *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    s->softmax = rho_softmax(k);
    const size_t heads = (size_t)mb_attn_head_count(&s->a), n = (size_t)s->a.n, d = (size_t)s->a.d;
    s->chunks = w->point.threads > 0 ? w->point.threads : 1;
    if (s->chunks > (int64_t)n) s->chunks = (int64_t)n;
    const size_t T = (size_t)s->chunks;
    s->u = mb_alloc(heads * T * d * d * sizeof(float));
    s->g = mb_alloc(heads * d * d * sizeof(float));
    int ok = s->u && s->g;
    if (s->softmax) {
        s->ek = mb_alloc(heads * n * d * sizeof(float));
        s->rq = mb_alloc(heads * n * d * sizeof(float));
        s->colmax = mb_alloc(heads * T * d * sizeof(float));
        s->colsum = mb_alloc(heads * T * d * sizeof(float));
        ok = ok && s->ek && s->rq && s->colmax && s->colsum;
    }
    if (!ok) {
        teardown(s);
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

/* softmax, chunk t = (head, c) over keys [j0, j1): its column maxima and sums, E_c = exp(K_c - m_c) into ek */
static void exp_chunk(const struct efficient *s, int64_t t, int64_t off, int64_t j0, int64_t j1) {
    const int64_t d = s->a.d;
    float *m = s->colmax + t * d, *sum = s->colsum + t * d;
    for (int64_t e = 0; e < d; e++) m[e] = -INFINITY, sum[e] = 0.0f;
    for (int64_t j = j0; j < j1; j++) {
        const float *kj = s->a.k + off + j * d;
        for (int64_t e = 0; e < d; e++) m[e] = kj[e] > m[e] ? kj[e] : m[e];
    }
    for (int64_t j = j0; j < j1; j++) exp_sub_row(s->a.k + off + j * d, m, s->ek + off + j * d, sum, d);
}

/* softmax, one head: G = rho_k(K)^T V, the chunks rescaled to the common column maxima */
static void normalise_chunks(const struct efficient *s, int64_t head) {
    const int64_t d = s->a.d, T = s->chunks;
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

/* scaling, one head: G = K^T V = sum_c U_c */
static void sum_chunks(const struct efficient *s, int64_t head) {
    const int64_t d = s->a.d, T = s->chunks;
    float *g = s->g + head * d * d;
    const float *u = s->u + head * T * d * d;
    for (int64_t e = 0; e < d * d; e++) g[e] = u[e];
    for (int64_t c = 1; c < T; c++)
        for (int64_t e = 0; e < d * d; e++) g[e] += u[c * d * d + e];
}

static void run(void *state) {
    struct efficient *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, heads = mb_attn_head_count(a), T = s->chunks;
    const int64_t row_blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp parallel
    {
        /* 1. per key chunk: U_c = K_c^T V_c (softmax: exp(K_c - m_c)^T V_c) */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < heads * T; t++) {
            const int64_t head = t / T, c = t % T, j0 = n * c / T, j1 = n * (c + 1) / T, off = head * n * d;
            const float *kc = a->k + off;
            if (s->softmax) {
                exp_chunk(s, t, off, j0, j1);
                kc = s->ek + off;
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)(j1 - j0), 1.0f, kc + j0 * d,
                        (int)d, a->v + off + j0 * d, (int)d, 0.0f, s->u + t * d * d, (int)d);
        }
        /* 2. per head: G = rho_k(K)^T V */
#pragma omp for schedule(static)
        for (int64_t head = 0; head < heads; head++) {
            if (s->softmax)
                normalise_chunks(s, head);
            else
                sum_chunks(s, head);
        }
        /* 3. O = rho_q(Q) G: softmax_row(Q) G, or Q G / n */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < heads * row_blocks; t++) {
            const int64_t head = t / row_blocks, i0 = (t % row_blocks) * ROW_BLOCK;
            const int64_t len = n - i0 < ROW_BLOCK ? n - i0 : ROW_BLOCK, off = head * n * d + i0 * d;
            const float *rq = a->q + off;
            float alpha = 1.0f / (float)n;
            if (s->softmax) {
                memcpy(s->rq + off, a->q + off, (size_t)(len * d) * sizeof(float));
                for (int64_t i = 0; i < len; i++) mb_attn_softmax_row(s->rq + off + i * d, d);
                rq = s->rq + off;
                alpha = 1.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)len, (int)d, (int)d, alpha, rq, (int)d,
                        s->g + head * d * d, (int)d, 0.0f, a->out + off, (int)d);
        }
    }
}

/* per head: 4 n d^2 (U and O) + the chunk reduction; softmax also the exp and sums of K and Q (~ 2 n d exp counted
 * as 1 each, 6 n d) and the rescaling of the chunks */
static double flops(const struct mb_kernel *k, const struct mb_point *p) {
    const double n = (double)p->n, d = (double)p->d, T = p->threads > 0 ? (double)p->threads : 1.0;
    if (rho_softmax(k)) return (double)p->batch * p->heads * (4.0 * n * d * d + 8.0 * n * d + 2.0 * T * d * d);
    return (double)p->batch * p->heads * (4.0 * n * d * d + T * d * d);
}

/* io and the chunk partials; softmax also exp(K) and softmax_row(Q) written and read */
static double bytes(const struct mb_kernel *k, const struct mb_point *p) {
    const double d = (double)p->d, T = p->threads > 0 ? (double)p->threads : 1.0;
    if (rho_softmax(k))
        return 2.0 * mb_attn_io_bytes(k, p) + 4.0 * (double)p->batch * p->heads * (T + 1) * (d * d + 2 * d);
    return mb_attn_io_bytes(k, p) + 4.0 * (double)p->batch * p->heads * (2.0 * T + 2.0) * d * d;
}

static double workspace(const struct mb_kernel *k, const struct mb_point *p) {
    const double n = (double)p->n, d = (double)p->d, T = p->threads > 0 ? (double)p->threads : 1.0;
    if (rho_softmax(k)) return 4.0 * (double)p->batch * p->heads * (2.0 * n * d + T * (d * d + 2.0 * d) + d * d);
    return 4.0 * (double)p->batch * p->heads * (T + 1.0) * d * d;
}

#define EFFICIENT_KERNEL(RHO)                                                                                       \
    .family = &mb_family_attention, .axes = MB_ATTN_AXES, .variant = &(const enum efficient_rho){RHO},              \
    MB_KERNEL_SOURCE, .supports = supports, .setup = setup, .run = run, .teardown = teardown, .flops = flops,       \
    .bytes = bytes, .workspace_bytes = workspace

const struct mb_kernel mb_kernel_attention_efficient = {
    .name = "attention.efficient",
    .mechanism = "efficient",
    .approximates = "softmax",
    EFFICIENT_KERNEL(RHO_SOFTMAX),
    .summary = "Efficient Attention (Shen 2018): softmax_row(Q) (softmax_col(K)^T V), non-causal, GEMM-shaped",
    .complexity = "O(n d^2) time, O(n d + d^2) memory",
};

const struct mb_kernel mb_kernel_attention_efficient_scaling = {
    .name = "attention.efficient_scaling",
    .mechanism = "efficient.scaling",
    EFFICIENT_KERNEL(RHO_SCALING),
    .summary = "Efficient Attention, scaling normalisation: (Q/sqrt(n)) ((K/sqrt(n))^T V) = Q K^T V / n, non-causal",
    .complexity = "O(n d^2) time, O(d^2) memory",
};
