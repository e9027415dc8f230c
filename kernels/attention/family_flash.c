/* The fused softmax-attention engine (family_flash.h): attention.softmax.flash and peft.prefix.
 *
 * AVX-512: both products are register-tiled broadcast-FMA micro-kernels on a transposed score tile (see below);
 * elsewhere: OpenBLAS sgemm tiles (single-threaded, called inside the caller's OpenMP region) and a row-wise online
 * softmax. Masked scores (a segment's keys j > last_row0 + r) are set to -inf in the blocks that hold some; blocks
 * every row of the block sees whole are not masked. Memory per thread: one BR x Bc score tile, Q_b^T (BR x d) and
 * the row statistics, O(BR (Bc + d)).
 */
#include "attention/family_flash.h"
#include "attention/family_softmax.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define BR MB_FLASH_BR

size_t mb_attn_flash_slot_floats(int64_t bc, int64_t d) {
    return ((size_t)BR * (size_t)bc + 3 * BR + (size_t)BR * (size_t)d + 16 + 15) & ~(size_t)15;
}

double mb_attn_flash_scores(int64_t n, int causal) {
    if (!causal) return (double)n * (double)n;
    double total = 0;
    for (int64_t i0 = 0; i0 < n; i0 += BR) {
        const int64_t rows = n - i0 < BR ? n - i0 : BR;
        total += (double)rows * (double)(i0 + rows);
    }
    return total;
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

/* The keys [j0, j0 + cols) of one segment: St = scale K_c Q_b^T, masked, then the online softmax down the columns
   (running max vm, sum vl of the 64 lanes) and O = alpha O + P V_c. */
static void key_block(const struct mb_flash_segment *g, int64_t j0, int64_t cols, int64_t rows, int64_t d,
                      float scale, float *ws, int64_t bc, __m512 vm[4], __m512 vl[4], float *o) {
    float *st = ws, *alpha = ws + BR * bc + 2 * BR, *qt = alpha + BR;
    const float *k = g->k, *v = g->v;
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
    /* a block with keys beyond row 0's last: key j0 + j is masked for row r when r < j0 + j - last_row0 */
    if (j0 + cols - 1 > g->last_row0)
        for (j = 0; j < cols; j++) {
            const int64_t first = j0 + j - g->last_row0; /* first row that sees it */
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

void mb_attn_flash_rows(const float *q, int64_t rows, int64_t d, int64_t bc, const struct mb_flash_segment *segments,
                        int n_segments, float *ws, float *o) {
    const float scale = 1.0f / sqrtf((float)d);
    float *l = ws + BR * bc + BR, *qt = l + 2 * BR;
    /* Qt (d x BR) = Q_b^T, zero-padded beyond `rows` */
    memset(qt, 0, (size_t)(d * BR) * sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < d; c++) qt[c * BR + r] = q[r * d + c];
    __m512 vm[4], vl[4];
    for (int t = 0; t < 4; t++) vm[t] = _mm512_set1_ps(-INFINITY), vl[t] = _mm512_setzero_ps();
    memset(o, 0, (size_t)(rows * d) * sizeof(float));
    for (int g = 0; g < n_segments; g++)
        for (int64_t j0 = 0; j0 < segments[g].len; j0 += bc) {
            const int64_t cols = segments[g].len - j0 < bc ? segments[g].len - j0 : bc;
            key_block(&segments[g], j0, cols, rows, d, scale, ws, bc, vm, vl, o);
        }
    for (int t = 0; t < 4; t++) _mm512_store_ps(l + 16 * t, vl[t]);
    for (int64_t r = 0; r < rows; r++) mb_attn_scale(o + r * d, d, 1.0f / l[r]);
}
#else
/* Portable path: sgemm tiles and a row-wise online softmax. */
void mb_attn_flash_rows(const float *q, int64_t rows, int64_t d, int64_t bc, const struct mb_flash_segment *segments,
                        int n_segments, float *ws, float *o) {
    const float scale = 1.0f / sqrtf((float)d);
    float *S = ws, *m = ws + BR * bc, *l = m + BR;
    for (int64_t r = 0; r < rows; r++) m[r] = -INFINITY, l[r] = 0.0f;
    memset(o, 0, (size_t)(rows * d) * sizeof(float));
    int first = 1; /* O is still zero: no rescaling */
    for (int g = 0; g < n_segments; g++) {
        const struct mb_flash_segment *seg = &segments[g];
        for (int64_t j0 = 0; j0 < seg->len; j0 += bc, first = 0) {
            const int64_t cols = seg->len - j0 < bc ? seg->len - j0 : bc;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)d, scale, q, (int)d,
                        seg->k + j0 * d, (int)d, 0.0f, S, (int)cols);
            const int masked = j0 + cols - 1 > seg->last_row0;
            for (int64_t r = 0; r < rows; r++) {
                float *row = S + r * cols;
                int64_t len = cols;
                if (masked) {
                    const int64_t allowed = seg->last_row0 + r - j0 + 1; /* keys j0 .. last_row0 + r */
                    len = allowed < 0 ? 0 : allowed < cols ? allowed : cols;
                    memset(row + len, 0, (size_t)(cols - len) * sizeof(float));
                    if (len == 0) continue; /* nothing new for this row; m, l, O unchanged */
                }
                const float mx = mb_attn_row_max(row, len), mnew = mx > m[r] ? mx : m[r];
                const float alpha = expf(m[r] - mnew); /* 0 on the first block (m = -inf) */
                l[r] = l[r] * alpha + mb_attn_exp_sum(row, len, mnew);
                if (alpha != 1.0f && !first) mb_attn_scale(o + r * d, d, alpha);
                m[r] = mnew;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)cols, 1.0f, S, (int)cols,
                        seg->v + j0 * d, (int)d, 1.0f, o, (int)d);
        }
    }
    for (int64_t r = 0; r < rows; r++) mb_attn_scale(o + r * d, d, 1.0f / l[r]);
}
#endif
