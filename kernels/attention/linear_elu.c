/* attention.linear.elu: non-causal linear attention with the feature map phi(x) = elu(x) + 1.
 *
 *   KV = phi(K)^T V                 (d x d)      z = sum_j phi(k_j)     (d)
 *   O_i = phi(q_i)^T KV / (phi(q_i)^T z + eps)                        eps = 1e-6
 *
 * Without the softmax the product is associative: (phi(Q) phi(K)^T) V = phi(Q) (phi(K)^T V), so the n x n matrix
 * never exists. Shapes: Q, K, V, O (batch, heads, n, d). Cost per head: 4 n d^2 + O(n d) FLOPs (two GEMM-shaped
 * products), memory O(n d + d^2). Each head's KV is summed over T chunks of keys (one per thread) and reduced.
 * Approximates softmax attention (a different similarity; its error vs softmax is recorded, not tested).
 * Source: Katharopoulos et al. 2020, "Transformers are RNNs", eq. 4-6; kexue.fm/archives/7546.
 */
#include "attention/family.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ROW_BLOCK 256

struct linear_elu {
    struct mb_attn a;
    int team;           /* threads of the run (mb_team_for its flops) */
    int64_t chunks;     /* key chunks per head (= team) */
    float *phi_q;       /* (batch*heads, n, d) */
    float *phi_k;       /* (batch*heads, n, d) */
    float *kv_partial;  /* (batch*heads, chunks, d, d) */
    float *z_partial;   /* (batch*heads, chunks, d) */
    float *kv;          /* (batch*heads, d, d) */
    float *z;           /* (batch*heads, d) */
};

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (!p->causal) return 0;
    mb_errorf(why, len, "non-causal only (the causal forms are separate kernels)");
    return 1;
}

static void release(struct linear_elu *s) {
    mb_free(s->phi_q);
    mb_free(s->phi_k);
    mb_free(s->kv_partial);
    mb_free(s->z_partial);
    mb_free(s->kv);
    mb_free(s->z);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct linear_elu *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    const size_t heads = (size_t)mb_attn_head_count(&s->a), n = (size_t)s->a.n, d = (size_t)s->a.d;
    s->team = mb_team_for(4.0 * (double)(heads * n) * (double)d * (double)d, omp_get_max_threads());
    s->chunks = s->team; /* a head's key chunks: one per thread */
    if ((int64_t)n < s->chunks) s->chunks = (int64_t)n;
    s->phi_q = mb_alloc(heads * n * d * sizeof(float));
    s->phi_k = mb_alloc(heads * n * d * sizeof(float));
    s->kv_partial = mb_alloc(heads * (size_t)s->chunks * d * d * sizeof(float));
    s->z_partial = mb_alloc(heads * (size_t)s->chunks * d * sizeof(float));
    s->kv = mb_alloc(heads * d * d * sizeof(float));
    s->z = mb_alloc(heads * d * sizeof(float));
    if (!s->phi_q || !s->phi_k || !s->kv_partial || !s->z_partial || !s->kv || !s->z) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for the feature maps");
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct linear_elu *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, heads = mb_attn_head_count(a), chunks = s->chunks;
    const int64_t rows = heads * n, row_blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp parallel num_threads(s->team)
    {
        /* 1. feature maps */
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r += ROW_BLOCK) {
            const int64_t len = (rows - r < ROW_BLOCK ? rows - r : ROW_BLOCK) * d;
            mb_attn_elu1(a->q + r * d, s->phi_q + r * d, len);
            mb_attn_elu1(a->k + r * d, s->phi_k + r * d, len);
        }
        /* 2. partial sums over key chunks: KV_c = phi(K_c)^T V_c, z_c = sum phi(k_j) */
#pragma omp for schedule(static)
        for (int64_t item = 0; item < heads * chunks; item++) {
            const int64_t head = item / chunks, c = item % chunks;
            const int64_t j0 = n * c / chunks, j1 = n * (c + 1) / chunks, off = head * n * d;
            float *kv = s->kv_partial + item * d * d, *z = s->z_partial + item * d;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)(j1 - j0), 1.0f,
                        s->phi_k + off + j0 * d, (int)d, a->v + off + j0 * d, (int)d, 0.0f, kv, (int)d);
            memset(z, 0, (size_t)d * sizeof(float));
            for (int64_t j = j0; j < j1; j++)
                for (int64_t c2 = 0; c2 < d; c2++) z[c2] += s->phi_k[off + j * d + c2];
        }
        /* 3. reduce the chunks of each head */
#pragma omp for schedule(static)
        for (int64_t head = 0; head < heads; head++) {
            float *kv = s->kv + head * d * d, *z = s->z + head * d;
            memcpy(kv, s->kv_partial + head * chunks * d * d, (size_t)(d * d) * sizeof(float));
            memcpy(z, s->z_partial + head * chunks * d, (size_t)d * sizeof(float));
            for (int64_t c = 1; c < chunks; c++) {
                const float *pkv = s->kv_partial + (head * chunks + c) * d * d;
                const float *pz = s->z_partial + (head * chunks + c) * d;
                for (int64_t e = 0; e < d * d; e++) kv[e] += pkv[e];
                for (int64_t e = 0; e < d; e++) z[e] += pz[e];
            }
        }
        /* 4. O = phi(Q) KV, normalised row by row */
#pragma omp for schedule(static)
        for (int64_t item = 0; item < heads * row_blocks; item++) {
            const int64_t head = item / row_blocks, i0 = (item % row_blocks) * ROW_BLOCK;
            const int64_t len = n - i0 < ROW_BLOCK ? n - i0 : ROW_BLOCK, off = head * n * d + i0 * d;
            const float *z = s->z + head * d;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)len, (int)d, (int)d, 1.0f,
                        s->phi_q + off, (int)d, s->kv + head * d * d, (int)d, 0.0f, a->out + off, (int)d);
            for (int64_t i = 0; i < len; i++) {
                const float *pq = s->phi_q + off + i * d;
                float *o = a->out + off + i * d, denom = MB_ATTN_LINEAR_EPS;
                for (int64_t c = 0; c < d; c++) denom += pq[c] * z[c];
                const float inv = 1.0f / denom;
                for (int64_t c = 0; c < d; c++) o[c] *= inv;
            }
        }
    }
}

static void teardown(void *state) { release(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double nd = (double)p->n * p->d;
    return (double)p->batch * p->heads * (4.0 * nd * p->d + 8.0 * nd);
}

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return 2.0 * mb_attn_io_bytes(kernel, p); /* io + phi(q), phi(k) */ }

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double heads = (double)p->batch * p->heads, t = p->threads > 0 ? (double)p->threads : 1.0;
    return 4.0 * heads * (2.0 * p->n * p->d + (t + 1) * ((double)p->d * p->d + p->d));
}

const struct mb_kernel mb_kernel_attention_linear_elu = {
    .name = "attention.linear.elu",
    .family = &mb_family_attention,
    .mechanism = "linear.elu",
    .approximates = "softmax",
    .summary = "linear attention, phi = elu + 1, non-causal: phi(Q) (phi(K)^T V), normalised (GEMM-shaped)",
    .complexity = "O(n d^2) time, O(n d + d^2) memory",
    .axes = MB_ATTN_AXES,
    MB_KERNEL_SOURCE,
    .supports = supports,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
