/* attention.softmax.naive: exact softmax attention that materialises the n x n score matrix of one head.
 *
 *   S = Q K^T / sqrt(d)           (n x n, OpenBLAS sgemm, one block of query rows per task)
 *   S_ij = -inf for j > i         (causal)
 *   P = softmax_row(S)            (vectorised exp)
 *   O = P V                       (n x d, sgemm)
 *
 * Shapes: Q, K, V, O (batch, heads, n, d). Cost per head: 4 n^2 d FLOPs (two GEMMs) + n^2 exp, whether causal
 * or not (the naive reference computes the masked half too); memory: one n x n float matrix, O(n^2).
 * Source: Vaswani et al. 2017, "Attention Is All You Need", eq. 1.
 */
#include "attention/family.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ROW_BLOCK 64

struct softmax_naive {
    struct mb_attn a;
    float *scores; /* (n, n): the scores of the head being processed */
};

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct softmax_naive *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    s->scores = mb_alloc((size_t)s->a.n * (size_t)s->a.n * sizeof(float));
    if (!s->scores) {
        free(s);
        return mb_errorf(err, errlen, "cannot allocate the %lld x %lld score matrix", (long long)w->point.n,
                         (long long)w->point.n);
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct softmax_naive *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
    const float scale = 1.0f / sqrtf((float)d);
    const int team = mb_team_for(4.0 * (double)n * (double)n * (double)d, omp_get_max_threads());
    for (int64_t head = 0; head < mb_attn_head_count(a); head++) {
        const int64_t off = head * mb_attn_head_stride(a);
        const float *q = a->q + off, *k = a->k + off, *v = a->v + off;
        float *o = a->out + off;
#pragma omp parallel for schedule(dynamic) num_threads(team)
        for (int64_t blk = 0; blk < blocks; blk++) {
            const int64_t i0 = blk * ROW_BLOCK, rows = n - i0 < ROW_BLOCK ? n - i0 : ROW_BLOCK;
            float *srow = s->scores + i0 * n;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n, (int)d, scale, q + i0 * d,
                        (int)d, k, (int)d, 0.0f, srow, (int)n);
            for (int64_t r = 0; r < rows; r++) {
                const int64_t len = a->causal ? i0 + r + 1 : n;
                mb_attn_softmax_row(srow + r * n, len);
                memset(srow + r * n + len, 0, (size_t)(n - len) * sizeof(float));
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)n, 1.0f, srow, (int)n, v,
                        (int)d, 0.0f, o + i0 * d, (int)d);
        }
    }
}

static void teardown(void *state) {
    struct softmax_naive *s = state;
    mb_free(s->scores);
    free(s);
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return (double)p->batch * p->heads * (4.0 * p->n * p->n * p->d + 3.0 * p->n * p->n);
}

/* inputs and output once, plus the score matrix written and read twice (sgemm out, softmax, sgemm in) */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return mb_attn_io_bytes(kernel, p) + 3.0 * 4.0 * p->batch * p->heads * (double)p->n * p->n;
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return 4.0 * (double)p->n * p->n; }

const struct mb_kernel mb_kernel_attention_softmax_naive = {
    .name = "attention.softmax.naive",
    .family = &mb_family_attention,
    .mechanism = "softmax",
    .summary = "exact softmax attention; materialises the n x n scores of one head (sgemm, softmax, sgemm)",
    .complexity = "O(n^2 d) time, O(n^2) memory",
    .axes = MB_ATTN_AXES,
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
