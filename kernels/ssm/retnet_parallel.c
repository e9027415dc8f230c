/* ssm.retnet.parallel: retention in its parallel (training) form, one block of query rows at a time.
 *
 *   S = Q_blk K^T  (rows x (i1) causal prefix only, OpenBLAS sgemm),  S_ij *= g^(i-j) (0 for j > i),
 *   O_blk = S V    (sgemm)
 *
 * Shapes: q, k, v, out (batch, heads, n, d). Work items (head, block of 64 rows) in parallel (OpenMP), each with
 * its own score buffer. The decay powers g^m (m < n) per head are a table made in setup (they depend on the head
 * index only, not on input values). Cost: ~ 2 n^2 d FLOPs (two causal GEMMs) + n^2 / 2 multiplies per head;
 * memory O(threads 64 n) for the scores. No normalisation (see family_retnet.h).
 * Source: Sun et al. 2023, "Retentive Network", eq. (5) (parallel representation).
 */
#include "ssm/family_retnet.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 64

struct retnet_parallel {
    struct mb_retnet r;
    int slots;
    float *scores; /* slots x ROWS x n */
    float *powers; /* heads x n: g_h^m */
};

static void release(struct retnet_parallel *s) {
    mb_free(s->scores);
    mb_free(s->powers);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct retnet_parallel *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_retnet_bind(&s->r, w);
    s->slots = omp_get_max_threads();
    if (w->point.threads > s->slots) s->slots = (int)w->point.threads;
    const int64_t n = s->r.n;
    s->scores = mb_alloc((size_t)s->slots * ROWS * (size_t)n * sizeof(float));
    s->powers = mb_alloc((size_t)(s->r.heads * n) * sizeof(float));
    if (!s->scores || !s->powers) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for the score buffers");
    }
    for (int64_t h = 0; h < s->r.heads; h++) {
        const double g = mb_retnet_gamma(&s->r, h);
        for (int64_t m = 0; m < n; m++) s->powers[h * n + m] = mb_retnet_pow(g, m);
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct retnet_parallel *s = state;
    const struct mb_retnet *r = &s->r;
    const int64_t n = r->n, d = r->d, blocks = (n + ROWS - 1) / ROWS, items = mb_retnet_head_count(r) * blocks;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t it = items - 1; it >= 0; it--) { /* long (late) blocks first */
        const int64_t head = it / blocks, i0 = (it % blocks) * ROWS, rows = n - i0 < ROWS ? n - i0 : ROWS;
        const int64_t cols = i0 + rows, off = head * n * d;
        const float *pw = s->powers + (head % r->heads) * n;
        float *S = s->scores + (size_t)omp_get_thread_num() * ROWS * (size_t)n;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)d, 1.0f, r->q + off + i0 * d,
                    (int)d, r->k + off, (int)d, 0.0f, S, (int)cols);
        for (int64_t x = 0; x < rows; x++) {
            const int64_t i = i0 + x;
            float *row = S + x * cols;
#pragma omp simd
            for (int64_t j = 0; j <= i; j++) row[j] *= pw[i - j];
            for (int64_t j = i + 1; j < cols; j++) row[j] = 0.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)cols, 1.0f, S, (int)cols,
                    r->v + off, (int)d, 0.0f, r->out + off + i0 * d, (int)d);
    }
}

static void teardown(void *state) { release(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double n = (double)p->n, causal = n * (n + ROWS) / 2.0; /* score entries computed */
    return (double)p->batch * p->heads * (4.0 * causal * p->d + causal);
}

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double n = (double)p->n;
    return mb_retnet_io_bytes(p) + 3.0 * 4.0 * p->batch * p->heads * n * (n + ROWS) / 2.0;
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return 4.0 * ((double)(p->threads > 0 ? p->threads : 1) * ROWS * p->n + (double)p->heads * p->n);
}

const struct mb_kernel mb_kernel_ssm_retnet_parallel = {
    .name = "ssm.retnet.parallel",
    MB_RETNET_KERNEL(0),
    .summary = "retention, parallel form (Q K^T .* D) V per block of 64 rows, causal GEMMs (sgemm)",
    .complexity = "O(n^2 d) time, O(threads 64 n) memory",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
