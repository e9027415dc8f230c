/* ssm.retnet.chunkwise: retention in its chunkwise recurrent form (intra-chunk parallel, inter-chunk recurrent).
 *
 * Chunks of B rows (block axis, 0 = 64). With xi_i = g^(i+1), zeta_j = g^(B_c-1-j) (B_c = rows of chunk c):
 *   1. per (head, chunk), parallel:  KV_c = K_c^T (zeta (.) V_c)                    (d x d, sgemm)
 *   2. per head, over chunks:        S_c = g^(B_c) S_{c-1} + KV_c; keep S_{c-1}      (elementwise, O(d^2))
 *   3. per (head, chunk), parallel:  O_c = (Q_c K_c^T (.) D) V_c + (xi (.) Q_c) S_{c-1}   (three sgemm)
 * Shapes: q, k, v, out (batch, heads, n, d). Cost per head: ~ 2 n d^2 (KV) + 2 n d^2 (inter) + 2 n B d (intra,
 * causal half counted full) FLOPs: O(n d^2 + n B d) time; memory O((n/B) d^2) per head for the chunk states.
 * No normalisation (see family_retnet.h).
 * Source: Sun et al. 2023, "Retentive Network", eq. (7) (chunkwise recurrent representation).
 */
#include "ssm/family_retnet.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct retnet_chunkwise {
    struct mb_retnet r;
    int64_t B, chunks;
    int slots;
    float *states;  /* heads_total x chunks x d x d: KV_c, then S_{c-1} */
    float *scratch; /* slots x (B x B scores + B x d scaled rows + d x d running state) */
    float *powers;  /* heads x (B + 1): g_h^m */
};

static int64_t block_of(const struct mb_point *p) { return p->block > 0 ? p->block : 64; }

static size_t scratch_floats(int64_t B, int64_t d) { return (size_t)(B * B + B * d + d * d + 16); }

static void release(struct retnet_chunkwise *s) {
    mb_free(s->states);
    mb_free(s->scratch);
    mb_free(s->powers);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct retnet_chunkwise *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_retnet_bind(&s->r, w);
    s->B = block_of(&w->point);
    if (s->B > s->r.n) s->B = s->r.n;
    s->chunks = (s->r.n + s->B - 1) / s->B;
    s->slots = omp_get_max_threads();
    if (w->point.threads > s->slots) s->slots = (int)w->point.threads;
    const int64_t d = s->r.d;
    s->states = mb_alloc((size_t)(mb_retnet_head_count(&s->r) * s->chunks) * (size_t)(d * d) * sizeof(float));
    s->scratch = mb_alloc((size_t)s->slots * scratch_floats(s->B, d) * sizeof(float));
    s->powers = mb_alloc((size_t)(s->r.heads * (s->B + 1)) * sizeof(float));
    if (!s->states || !s->scratch || !s->powers) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for the chunk states");
    }
    for (int64_t h = 0; h < s->r.heads; h++)
        for (int64_t m = 0; m <= s->B; m++) s->powers[h * (s->B + 1) + m] = mb_retnet_pow(mb_retnet_gamma(&s->r, h), m);
    *state = s;
    return 0;
}

static void run(void *state) {
    struct retnet_chunkwise *s = state;
    const struct mb_retnet *r = &s->r;
    const int64_t n = r->n, d = r->d, B = s->B, C = s->chunks, heads = mb_retnet_head_count(r), dd = d * d;
#pragma omp parallel
    {
        float *scores = s->scratch + (size_t)omp_get_thread_num() * scratch_floats(B, d);
        float *rows = scores + B * B, *S = rows + B * d;
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < heads * C; it++) { /* 1. KV_c = K_c^T (zeta .* V_c) */
            const int64_t head = it / C, i0 = (it % C) * B, len = n - i0 < B ? n - i0 : B, off = head * n * d + i0 * d;
            const float *pw = s->powers + (head % r->heads) * (B + 1);
            for (int64_t j = 0; j < len; j++) {
                const float z = pw[len - 1 - j];
#pragma omp simd
                for (int64_t c = 0; c < d; c++) rows[j * d + c] = z * r->v[off + j * d + c];
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)len, 1.0f, r->k + off, (int)d,
                        rows, (int)d, 0.0f, s->states + it * dd, (int)d);
        }
#pragma omp for schedule(static)
        for (int64_t head = 0; head < heads; head++) { /* 2. S_c = g^B_c S_{c-1} + KV_c, slot c <- S_{c-1} */
            const float *pw = s->powers + (head % r->heads) * (B + 1);
            memset(S, 0, (size_t)dd * sizeof(float));
            for (int64_t c = 0; c < C; c++) {
                const int64_t len = n - c * B < B ? n - c * B : B;
                const float gB = pw[len];
                float *slot = s->states + (head * C + c) * dd;
#pragma omp simd
                for (int64_t e = 0; e < dd; e++) {
                    const float kv = slot[e];
                    slot[e] = S[e];
                    S[e] = gB * S[e] + kv;
                }
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < heads * C; it++) { /* 3. O_c = (Q_c K_c^T .* D) V_c + (xi .* Q_c) S_{c-1} */
            const int64_t head = it / C, c = it % C, i0 = c * B, len = n - i0 < B ? n - i0 : B;
            const int64_t off = head * n * d + i0 * d;
            const float *pw = s->powers + (head % r->heads) * (B + 1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)len, (int)len, (int)d, 1.0f, r->q + off, (int)d,
                        r->k + off, (int)d, 0.0f, scores, (int)len);
            for (int64_t i = 0; i < len; i++) {
                float *row = scores + i * len;
                for (int64_t j = 0; j <= i; j++) row[j] *= pw[i - j];
                for (int64_t j = i + 1; j < len; j++) row[j] = 0.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)len, (int)d, (int)len, 1.0f, scores, (int)len,
                        r->v + off, (int)d, 0.0f, r->out + off, (int)d);
            if (c == 0) continue;
            for (int64_t i = 0; i < len; i++) {
                const float xi = pw[i + 1];
#pragma omp simd
                for (int64_t x = 0; x < d; x++) rows[i * d + x] = xi * r->q[off + i * d + x];
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)len, (int)d, (int)d, 1.0f, rows, (int)d,
                        s->states + it * dd, (int)d, 1.0f, r->out + off, (int)d);
        }
    }
}

static void teardown(void *state) { release(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double B = (double)(block_of(p) < p->n ? block_of(p) : p->n);
    return (double)p->batch * p->heads * p->n * (4.0 * p->d * p->d + 4.0 * B * p->d + B + 3.0 * p->d);
}

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double B = (double)(block_of(p) < p->n ? block_of(p) : p->n), states = p->batch * p->heads * (p->n / B + 1);
    return mb_retnet_io_bytes(p) + 4.0 * 4.0 * states * p->d * p->d;
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const int64_t B = block_of(p) < p->n ? block_of(p) : p->n;
    const double chunks = (double)((p->n + B - 1) / B);
    return 4.0 * ((double)p->batch * p->heads * chunks * p->d * p->d +
                  (double)(p->threads > 0 ? p->threads : 1) * (double)scratch_floats(B, p->d) + (double)p->heads * (B + 1));
}

const struct mb_kernel mb_kernel_ssm_retnet_chunkwise = {
    .name = "ssm.retnet.chunkwise",
    MB_RETNET_KERNEL(MB_AXIS_BIT(block)),
    .summary = "retention, chunkwise form: intra-chunk (Q K^T .* D) V + inter-chunk decayed state (sgemm); OpenMP over heads x chunks",
    .complexity = "O(n d^2 + n B d) time, O((n/B) d^2) memory per head",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
