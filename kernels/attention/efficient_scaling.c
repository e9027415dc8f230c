/* attention.efficient_scaling: Efficient Attention (Shen et al. 2018) with scaling normalisation, non-causal.
 *
 *   rho_q(Q) = Q / sqrt(n), rho_k(K) = K / sqrt(n):   O = (Q / sqrt(n)) ((K / sqrt(n))^T V) = Q (K^T V) / n
 * The paper shows this equals dot-product attention with scaling normalisation, D(Q, K, V) = rho(Q K^T) V with
 * rho(Y) = Y / n (no softmax), exactly: the product is associative. Its oracle evaluates q_i.k_j / n directly.
 * Per head: G = K^T V (d x d) summed over T key chunks (T = team size; sgemm), O = Q G / n (sgemm, alpha = 1/n).
 * Shapes: Q, K, V, O (batch, heads, n, d). Cost per head: 4 n d^2 + T d^2 FLOPs, memory O(T d^2).
 * Non-causal only (a causal variant would need the chunked prefix scheme). Exact for its own mechanism; not an
 * approximation of softmax (no normalisation of the weights at all).
 * Source: Shen, Zhang, Zhao, Yi, Li 2018/2021, "Efficient Attention: Attention with Linear Complexities", sec. 3.3,
 * eq. 5-6 (scaling normalisation).
 */
#include "attention/family_linear.h"

#include <cblas.h>
#include <stdlib.h>

#define ROW_BLOCK 256

struct efficient_scaling {
    struct mb_attn a;
    int64_t chunks;
    float *u; /* (batch*heads, chunks, d, d): K_c^T V_c */
    float *g; /* (batch*heads, d, d): K^T V */
};

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (!p->causal) return 0;
    mb_errorf(why, len, "non-causal only: K^T V over all n leaks the future");
    return 1;
}

static void release(struct efficient_scaling *s) {
    mb_free(s->u);
    mb_free(s->g);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct efficient_scaling *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    const size_t heads = (size_t)mb_attn_head_count(&s->a), d = (size_t)s->a.d;
    s->chunks = w->point.threads > 0 ? w->point.threads : 1;
    if (s->chunks > s->a.n) s->chunks = s->a.n;
    s->u = mb_alloc(heads * (size_t)s->chunks * d * d * sizeof(float));
    s->g = mb_alloc(heads * d * d * sizeof(float));
    if (!s->u || !s->g) {
        release(s);
        return mb_errorf(err, errlen, "out of memory");
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct efficient_scaling *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, heads = mb_attn_head_count(a), T = s->chunks;
    const int64_t row_blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int64_t t = 0; t < heads * T; t++) {
            const int64_t head = t / T, c = t % T, j0 = n * c / T, j1 = n * (c + 1) / T, off = head * n * d;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)(j1 - j0), 1.0f,
                        a->k + off + j0 * d, (int)d, a->v + off + j0 * d, (int)d, 0.0f, s->u + t * d * d, (int)d);
        }
#pragma omp for schedule(static)
        for (int64_t head = 0; head < heads; head++) {
            float *g = s->g + head * d * d;
            const float *u = s->u + head * T * d * d;
            for (int64_t e = 0; e < d * d; e++) g[e] = u[e];
            for (int64_t c = 1; c < T; c++)
                for (int64_t e = 0; e < d * d; e++) g[e] += u[c * d * d + e];
        }
#pragma omp for schedule(static)
        for (int64_t t = 0; t < heads * row_blocks; t++) {
            const int64_t head = t / row_blocks, i0 = (t % row_blocks) * ROW_BLOCK;
            const int64_t len = n - i0 < ROW_BLOCK ? n - i0 : ROW_BLOCK, off = head * n * d + i0 * d;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)len, (int)d, (int)d, 1.0f / (float)n,
                        a->q + off, (int)d, s->g + head * d * d, (int)d, 0.0f, a->out + off, (int)d);
        }
    }
}

static void teardown(void *state) { release(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double n = (double)p->n, d = (double)p->d, T = p->threads > 0 ? (double)p->threads : 1.0;
    return (double)p->batch * p->heads * (4.0 * n * d * d + T * d * d);
}

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double d = (double)p->d, T = p->threads > 0 ? (double)p->threads : 1.0;
    return mb_attn_io_bytes(kernel, p) + 4.0 * (double)p->batch * p->heads * (2.0 * T + 2.0) * d * d;
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double d = (double)p->d, T = p->threads > 0 ? (double)p->threads : 1.0;
    return 4.0 * (double)p->batch * p->heads * (T + 1.0) * d * d;
}

const struct mb_kernel mb_kernel_attention_efficient_scaling = {
    .name = "attention.efficient_scaling",
    .family = &mb_family_attention,
    .mechanism = "efficient.scaling",
    .summary = "Efficient Attention, scaling normalisation: (Q/sqrt(n)) ((K/sqrt(n))^T V) = Q K^T V / n, non-causal",
    .complexity = "O(n d^2) time, O(d^2) memory",
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
