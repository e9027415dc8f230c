/* attention.softmax.flash: exact softmax attention, fused and tiled with an online softmax; the n x n score
 * matrix is never materialised.
 *
 * For each head and each block of BR = 64 query rows Q_b (BR x d), over key blocks K_c, V_c (Bc x d), in order:
 *   S   = Q_b K_c^T / sqrt(d)                 (BR x Bc tile; causal: S_ij = -inf for j > i)
 *   m'  = max(m, rowmax S)                    running row max
 *   P   = e^{S - m'}                          (SLEEF Sleef_expf16_u10, in place)
 *   l   = e^{m - m'} l + rowsum P             running row sum
 *   O   = e^{m - m'} O + P V_c                (O accumulates in `out`)
 * and finally O = O / l. Causal: key blocks entirely above the diagonal are skipped and the last (diagonal) block
 * of a query block is cut at its last query row; only there are scores masked. Every row keeps key 0, so m is
 * finite after the first block and no row is fully masked.
 * AVX-512: both products are register-tiled broadcast-FMA micro-kernels on a transposed score tile (see below);
 * elsewhere: OpenBLAS sgemm tiles (single-threaded, called inside the OpenMP region) and row-wise softmax.
 * Parallel over (batch x heads x query blocks), schedule(dynamic), the costliest (causal: last) blocks first.
 *
 * Shapes: Q, K, V, O (batch, heads, n, d). block axis = Bc (0 = 256). Cost per head: 4 d FLOPs per computed score,
 * 4 n^2 d non-causal, ~2 n^2 d causal (the blocks actually computed), plus one exp per score; memory: per thread
 * one BR x Bc score tile, Q_b^T (BR x d) and the row statistics, O(threads BR (Bc + d)), independent of n.
 * Source: Dao et al. 2022, "FlashAttention", Algorithm 1; online softmax: Milakov & Gimelshein 2018.
 */
#include "attention/family.h"
#include "attention/family_softmax.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define BR 64          /* query rows per block */
#define BC_DEFAULT 256 /* key rows per block when block = 0 */

struct softmax_flash {
    struct mb_attn a;
    int64_t bc;    /* key block size */
    int slots;     /* per-thread workspaces */
    size_t stride; /* floats per workspace */
    float *ws;     /* slots x [ S (BR x bc) | m, l, alpha (BR each) | Q_b^T (d x BR) ] */
};

static int64_t key_block(const struct mb_point *p) {
    int64_t bc = p->block > 0 ? p->block : BC_DEFAULT;
    return bc < p->n ? bc : p->n;
}

static size_t slot_floats(int64_t bc, int64_t d) { return (size_t)BR * (size_t)bc + 3 * BR + (size_t)BR * (size_t)d + 16; }

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct softmax_flash *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    s->bc = key_block(&w->point);
    s->slots = omp_get_max_threads();
    if (w->point.threads > s->slots) s->slots = (int)w->point.threads;
    s->stride = (slot_floats(s->bc, s->a.d) + 15) & ~(size_t)15; /* 64-byte aligned slots */
    s->ws = mb_alloc((size_t)s->slots * s->stride * sizeof(float));
    if (!s->ws) {
        const int slots = s->slots;
        const long long bc = (long long)s->bc;
        free(s);
        return mb_errorf(err, errlen, "cannot allocate %d score tiles of %d x %lld", slots, BR, bc);
    }
    *state = s;
    return 0;
}

#if defined(__AVX512F__)
/* AVX-512 path. The score tile is kept transposed, St = K_c Q_b^T (Bc x BR, row j = key j0 + j, lane r = query
 * i0 + r), so the online softmax runs down columns with the BR = 64 query rows in 4 zmm lanes, and both products are
 * register-tiled broadcast-FMA micro-kernels:
 *   St[j][r]  = scale * sum_c K[j][c] Qt[c][r]       6 keys x 64 queries per tile, Qt = Q_b^T packed once per block
 *   O[r][c]  = alpha[r] O[r][c] + sum_j St[j][r] V[j][c]   MR queries x 64 columns per tile */
#define QK_MR 6
#define PV_MR 6

static inline __attribute__((always_inline)) void qk_tile(const float *k, int64_t d, const float *qt, float scale,
                                                           float *st, const int mr) {
    __m512 acc[QK_MR][4];
    for (int j = 0; j < mr; j++)
        for (int t = 0; t < 4; t++) acc[j][t] = _mm512_setzero_ps();
    for (int64_t c = 0; c < d; c++) {
        const float *qc = qt + c * BR;
        const __m512 q0 = _mm512_load_ps(qc), q1 = _mm512_load_ps(qc + 16), q2 = _mm512_load_ps(qc + 32),
                     q3 = _mm512_load_ps(qc + 48);
        for (int j = 0; j < mr; j++) {
            const __m512 kj = _mm512_set1_ps(k[j * d + c]);
            acc[j][0] = _mm512_fmadd_ps(kj, q0, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(kj, q1, acc[j][1]);
            acc[j][2] = _mm512_fmadd_ps(kj, q2, acc[j][2]);
            acc[j][3] = _mm512_fmadd_ps(kj, q3, acc[j][3]);
        }
    }
    const __m512 vs = _mm512_set1_ps(scale);
    for (int j = 0; j < mr; j++)
        for (int t = 0; t < 4; t++) _mm512_store_ps(st + j * BR + 16 * t, _mm512_mul_ps(acc[j][t], vs));
}

static inline __attribute__((always_inline)) void pv_tile(const float *st, int64_t cols, const float *v, int64_t d,
                                                           const float *alpha, float *o, const __mmask16 mk[4],
                                                           const int mr) {
    __m512 acc[PV_MR][4];
    for (int r = 0; r < mr; r++) {
        const __m512 ar = _mm512_set1_ps(alpha[r]);
        for (int t = 0; t < 4; t++) acc[r][t] = _mm512_mul_ps(ar, _mm512_maskz_loadu_ps(mk[t], o + r * d + 16 * t));
    }
    for (int64_t j = 0; j < cols; j++) {
        const float *vj = v + j * d, *pj = st + j * BR;
        const __m512 v0 = _mm512_maskz_loadu_ps(mk[0], vj), v1 = _mm512_maskz_loadu_ps(mk[1], vj + 16),
                     v2 = _mm512_maskz_loadu_ps(mk[2], vj + 32), v3 = _mm512_maskz_loadu_ps(mk[3], vj + 48);
        for (int r = 0; r < mr; r++) {
            const __m512 p = _mm512_set1_ps(pj[r]);
            acc[r][0] = _mm512_fmadd_ps(p, v0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(p, v1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(p, v2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(p, v3, acc[r][3]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int t = 0; t < 4; t++) _mm512_mask_storeu_ps(o + r * d + 16 * t, mk[t], acc[r][t]);
}

/* One block of query rows [i0, i0 + rows) of one head; O accumulates in o (rows x d, row stride d). */
static void query_block(const struct softmax_flash *s, const float *q, const float *k, const float *v, float *o,
                        int64_t i0, int64_t rows, float *ws) {
    const struct mb_attn *a = &s->a;
    const int64_t d = a->d, bc = s->bc, end = a->causal ? i0 + rows : a->n;
    const float scale = 1.0f / sqrtf((float)d);
    float *st = ws, *m = ws + BR * bc, *l = m + BR, *alpha = l + BR, *qt = alpha + BR;
    /* Qt (d x BR) = Q_b^T, zero-padded beyond `rows` */
    memset(qt, 0, (size_t)(d * BR) * sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < d; c++) qt[c * BR + r] = q[(i0 + r) * d + c];
    __m512 vm[4], vl[4];
    for (int t = 0; t < 4; t++) vm[t] = _mm512_set1_ps(-INFINITY), vl[t] = _mm512_setzero_ps();
    memset(o, 0, (size_t)(rows * d) * sizeof(float));
    for (int64_t j0 = 0; j0 < end; j0 += bc) {
        const int64_t cols = end - j0 < bc ? end - j0 : bc;
        /* St = scale K_c Q_b^T */
        int64_t j = 0;
        for (; j + QK_MR <= cols; j += QK_MR) qk_tile(k + (j0 + j) * d, d, qt, scale, st + j * BR, QK_MR);
        switch (cols - j) { /* remainder keys in one tile */
        case 5: qk_tile(k + (j0 + j) * d, d, qt, scale, st + j * BR, 5); break;
        case 4: qk_tile(k + (j0 + j) * d, d, qt, scale, st + j * BR, 4); break;
        case 3: qk_tile(k + (j0 + j) * d, d, qt, scale, st + j * BR, 3); break;
        case 2: qk_tile(k + (j0 + j) * d, d, qt, scale, st + j * BR, 2); break;
        case 1: qk_tile(k + (j0 + j) * d, d, qt, scale, st + j * BR, 1); break;
        default: break;
        }
        /* causal, diagonal block: key j0 + j is masked for query i0 + r when r < j0 + j - i0 */
        if (a->causal && j0 + cols - 1 > i0)
            for (j = 0; j < cols; j++) {
                const int64_t first = j0 + j - i0; /* first allowed r */
                if (first <= 0) continue;
                for (int t = 0; t < 4; t++) {
                    const int64_t lanes = first - 16 * t;
                    if (lanes <= 0) break;
                    const __mmask16 mask = lanes >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << lanes) - 1u);
                    _mm512_mask_storeu_ps(st + j * BR + 16 * t, mask, _mm512_set1_ps(-INFINITY));
                }
            }
        /* online softmax down the columns */
        for (int t = 0; t < 4; t++) {
            __m512 mx = vm[t];
            for (j = 0; j < cols; j++) mx = _mm512_max_ps(mx, _mm512_load_ps(st + j * BR + 16 * t));
            const __m512 al = Sleef_expf16_u10(_mm512_sub_ps(vm[t], mx)); /* 0 on the first block */
            __m512 sum = _mm512_setzero_ps();
            for (j = 0; j < cols; j++) {
                const __m512 e = Sleef_expf16_u10(_mm512_sub_ps(_mm512_load_ps(st + j * BR + 16 * t), mx));
                _mm512_store_ps(st + j * BR + 16 * t, e);
                sum = _mm512_add_ps(sum, e);
            }
            vl[t] = _mm512_fmadd_ps(vl[t], al, sum);
            vm[t] = mx;
            _mm512_store_ps(alpha + 16 * t, al);
        }
        /* O = alpha O + P V_c */
        for (int64_t c0 = 0; c0 < d; c0 += 64) {
            __mmask16 mk[4];
            for (int t = 0; t < 4; t++) {
                const int64_t left = d - c0 - 16 * t;
                mk[t] = left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
            }
            const float *vc = v + j0 * d + c0;
            int64_t r = 0;
            for (; r + PV_MR <= rows; r += PV_MR) pv_tile(st + r, cols, vc, d, alpha + r, o + r * d + c0, mk, PV_MR);
            switch (rows - r) { /* remainder rows in one tile */
            case 5: pv_tile(st + r, cols, vc, d, alpha + r, o + r * d + c0, mk, 5); break;
            case 4: pv_tile(st + r, cols, vc, d, alpha + r, o + r * d + c0, mk, 4); break;
            case 3: pv_tile(st + r, cols, vc, d, alpha + r, o + r * d + c0, mk, 3); break;
            case 2: pv_tile(st + r, cols, vc, d, alpha + r, o + r * d + c0, mk, 2); break;
            case 1: pv_tile(st + r, cols, vc, d, alpha + r, o + r * d + c0, mk, 1); break;
            default: break;
            }
        }
    }
    for (int t = 0; t < 4; t++) _mm512_store_ps(l + 16 * t, vl[t]);
    for (int64_t r = 0; r < rows; r++) mb_attn_scale(o + r * d, d, 1.0f / l[r]);
}
#else
/* Portable path: sgemm tiles and a row-wise online softmax. One block of query rows [i0, i0 + rows) of one head; O accumulates in o (rows x d, row stride d). */
static void query_block(const struct softmax_flash *s, const float *q, const float *k, const float *v, float *o,
                        int64_t i0, int64_t rows, float *ws) {
    const struct mb_attn *a = &s->a;
    const int64_t d = a->d, bc = s->bc, end = a->causal ? i0 + rows : a->n;
    const float scale = 1.0f / sqrtf((float)d);
    float *S = ws, *m = ws + BR * bc, *l = m + BR;
    for (int64_t r = 0; r < rows; r++) m[r] = -INFINITY, l[r] = 0.0f;
    memset(o, 0, (size_t)(rows * d) * sizeof(float));
    for (int64_t j0 = 0; j0 < end; j0 += bc) {
        const int64_t cols = end - j0 < bc ? end - j0 : bc;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)d, scale, q + i0 * d,
                    (int)d, k + j0 * d, (int)d, 0.0f, S, (int)cols);
        const int diagonal = a->causal && j0 + cols - 1 > i0;
        for (int64_t r = 0; r < rows; r++) {
            float *row = S + r * cols;
            int64_t len = cols;
            if (diagonal) {
                const int64_t allowed = i0 + r - j0 + 1; /* keys j0 .. i0 + r */
                len = allowed < 0 ? 0 : allowed < cols ? allowed : cols;
                memset(row + len, 0, (size_t)(cols - len) * sizeof(float));
                if (len == 0) continue; /* nothing new for this row; m, l, O unchanged */
            }
            const float mx = mb_attn_row_max(row, len), mnew = mx > m[r] ? mx : m[r];
            const float alpha = expf(m[r] - mnew); /* 0 on the first block (m = -inf) */
            l[r] = l[r] * alpha + mb_attn_exp_sum(row, len, mnew);
            if (alpha != 1.0f && j0 > 0) mb_attn_scale(o + r * d, d, alpha);
            m[r] = mnew;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)cols, 1.0f, S, (int)cols,
                    v + j0 * d, (int)d, 1.0f, o, (int)d);
    }
    for (int64_t r = 0; r < rows; r++) mb_attn_scale(o + r * d, d, 1.0f / l[r]);
}

#endif

static void run(void *state) {
    struct softmax_flash *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, blocks = (n + BR - 1) / BR, items = mb_attn_head_count(a) * blocks;
#pragma omp parallel num_threads(s->slots)
    {
        float *ws = s->ws + (size_t)omp_get_thread_num() * s->stride;
        /* causal: the last query blocks are the most expensive; hand them out first */
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < items; it++) {
            const int64_t head = it % mb_attn_head_count(a);
            const int64_t blk = a->causal ? blocks - 1 - it / mb_attn_head_count(a) : it / mb_attn_head_count(a);
            const int64_t off = head * mb_attn_head_stride(a), i0 = blk * BR, rows = n - i0 < BR ? n - i0 : BR;
            query_block(s, a->q + off, a->k + off, a->v + off, a->out + off + i0 * a->d, i0, rows, ws);
        }
    }
}

static void teardown(void *state) {
    struct softmax_flash *s = state;
    mb_free(s->ws);
    free(s);
}

/* scores computed per head: n^2 non-causal; causal: query block [i0, i0 + rows) computes keys [0, i0 + rows) */
static double scores_per_head(const struct mb_point *p) {
    if (!p->causal) return (double)p->n * (double)p->n;
    double total = 0;
    for (int64_t i0 = 0; i0 < p->n; i0 += BR) {
        const int64_t rows = p->n - i0 < BR ? p->n - i0 : BR;
        total += (double)rows * (double)(i0 + rows);
    }
    return total;
}

/* two GEMMs, 2 d FLOPs per score each */
static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return (double)p->batch * p->heads * 4.0 * (double)p->d * scores_per_head(p);
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double threads = p->threads > 0 ? (double)p->threads : 1.0;
    return threads * 4.0 * (double)((slot_floats(key_block(p), p->d) + 15) & ~(size_t)15);
}

const struct mb_kernel mb_kernel_attention_softmax_flash = {
    .name = "attention.softmax.flash",
    .family = &mb_family_attention,
    .mechanism = "softmax",
    .summary = "exact softmax attention, fused tiles with an online softmax (FlashAttention-style, AVX-512 micro-kernels)",
    .complexity = "O(n^2 d) time, O(threads * 64 * (block + d)) memory",
    .axes = MB_ATTN_AXES | MB_AXIS_BIT(block),
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = mb_attn_io_bytes, /* compulsory: q, k, v read once, out written once (K, V re-reads stay in cache) */
    .workspace_bytes = workspace,
};
