/* The fused softmax-attention engine (family_flash.h): attention.softmax.flash and peft.prefix.
 *
 * AVX-512: both products are register-tiled broadcast-FMA micro-kernels on a transposed score tile, the softmax
 * applied to each score tile while it is in L1, with a lazily moved reference max (see below); elsewhere: OpenBLAS
 * sgemm tiles (single-threaded, called inside the caller's OpenMP region) and a row-wise online softmax. Masked scores (a segment's keys j > last_row0 + r) are set to -inf in the blocks that hold some; blocks
 * every row of the block sees whole are not masked. Memory per thread: one BR x Bc score tile, Q_b^T (BR x d) and
 * the row statistics, O(BR (Bc + d)).
 */
#include "attention/family_flash.h"
#include "core/vmask.h"
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
 *   St[j][r] = 2^(s - m[r]),  s = sum_c K[j][c] Qt[c][r]             6 keys x 64 queries per tile,
 *                                     Qt = (log2 e / sqrt d) Q_b^T (the scale folded into Q once per query block)
 *   O[r][c]  = alpha[r] O[r][c] + sum_j St[j][r] V[j][c]               MR queries x 64 columns per tile
 * The softmax follows each score tile while it is in L1 (softmax_tile), in base 2 (mb_exp2_ps, 8 instructions): P is
 * computed against a reference max m that moves only when a tile's score exceeds it by more than RESCALE_LOG2 (so
 * P <= 2^RESCALE_LOG2 = 256: no overflow, sums of 4096 keys stay below 2^21 x 256). Then, in a rare cold path, m is
 * raised to the tile's max for those lanes and the running sum l, the block's O factor alpha and the P already
 * written in this block are multiplied by 2^(m - m'). One pass over the scores, no separate max and exp passes; O is
 * rescaled only in blocks where m moved (alpha = 1 otherwise). Masked scores
 * are -FLT_MAX (finite: 2^(-FLT_MAX - m) = 0 exactly). */
#include <float.h>

#include "core/vexp.h"

#define QK_MR 6
#define PV_MR 6
#define RESCALE_LOG2 8.0f

/* Running statistics of the 64 query rows (4 x 16 lanes), base 2: reference max m, sum l of 2^(s - m), and the
   factor of O for the current key block. */
struct lanes {
    __m512 m[4], l[4], alpha[4];
};

/* Cold path, inline (a call would make the compiler keep the score tile's accumulators in memory): lanes `up` of
   lane group t, whose tile max mx exceeds m + RESCALE_LOG2, move their m to mx; the P already stored in this block
   (rows [0, done) of st, lanes of group t), l and alpha of those lanes are multiplied by 2^(m - mx). */
static inline __attribute__((always_inline)) void raise_max(struct lanes *s, int t, __mmask16 up, __m512 mx,
                                                             float *st, int64_t done) {
    const __m512 f = _mm512_mask_blend_ps(up, _mm512_set1_ps(1.0f), mb_exp2_ps(_mm512_sub_ps(s->m[t], mx)));
    s->m[t] = _mm512_mask_blend_ps(up, s->m[t], mx);
    s->l[t] = _mm512_mul_ps(s->l[t], f);
    s->alpha[t] = _mm512_mul_ps(s->alpha[t], f);
    for (int64_t j = 0; j < done; j++)
        _mm512_store_ps(st + j * BR + 16 * t, _mm512_mul_ps(_mm512_load_ps(st + j * BR + 16 * t), f));
}

/* Rows [j, j + mr) of St (st points at row j): the scores of keys k[0 .. mr) against the 64 queries, stored raw. */
static inline __attribute__((always_inline)) void qk_tile(const float *k, int64_t d, const float *qt, float *st,
                                                           const int mr) {
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
    for (int j = 0; j < mr; j++)
        for (int t = 0; t < 4; t++) _mm512_store_ps(st + j * BR + 16 * t, acc[j][t]);
}

/* Rows [j, j + mr) of St (st points at row j, done = j), just written by qk_tile (in L1): masked (masked != 0: key
   i of the tile is hidden from rows r < first + i), then P = 2^(s - m) in place, summed into l. Lane group by lane
   group: its max, the rare move of its m, then P. Not inlined: kept apart from the product's register tile (inlined,
   its constants pushed accumulators out of registers). */
static __attribute__((noinline)) void softmax_tile(float *st, int64_t done, const int mr, const int masked,
                                                   int64_t first, struct lanes *s) {
    for (int t = 0; t < 4; t++) {
        float *col = st + 16 * t;
        const __m512i lane = _mm512_add_epi32(_mm512_set1_epi32(16 * t),
                                              _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
        __m512 mx = _mm512_set1_ps(-FLT_MAX);
        for (int j = 0; j < mr; j++) {
            __m512 x = _mm512_load_ps(col + j * BR);
            if (masked) {
                const __mmask16 hide = _mm512_cmp_epi32_mask(lane, _mm512_set1_epi32((int)(first + j)), _MM_CMPINT_LT);
                x = _mm512_mask_mov_ps(x, hide, _mm512_set1_ps(-FLT_MAX));
                _mm512_store_ps(col + j * BR, x);
            }
            mx = _mm512_max_ps(mx, x);
        }
        const __mmask16 up = _mm512_cmp_ps_mask(mx, _mm512_add_ps(s->m[t], _mm512_set1_ps(RESCALE_LOG2)), _CMP_GT_OQ);
        if (__builtin_expect(up != 0, 0)) raise_max(s, t, up, mx, st - done * BR, done);
        const __m512 m = s->m[t];
        __m512 l = s->l[t];
        for (int j = 0; j < mr; j++) {
            const __m512 p = mb_exp2_ps(_mm512_sub_ps(_mm512_load_ps(col + j * BR), m));
            _mm512_store_ps(col + j * BR, p);
            l = _mm512_add_ps(l, p);
        }
        s->l[t] = l;
    }
}

/* 16 columns of a row: lanes mk, or all of them (full) by a plain load */
static inline __attribute__((always_inline)) __m512 load_cols(const float *p, __mmask16 mk, const int full) {
    return full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(mk, p);
}

/* Rows [r, r + mr) of O, 64 columns (lanes mk[t] of column group t; full: all of them, plain loads and stores):
   O = alpha O + P V_c, the O tile in registers over the block's keys. */
static inline __attribute__((always_inline)) void pv_tile(const float *st, int64_t cols, const float *v, int64_t d,
                                                           const float *alpha, float *o, const __mmask16 mk[4],
                                                           const int mr, const int full) {
    __m512 acc[PV_MR][4];
    for (int r = 0; r < mr; r++) {
        const __m512 ar = _mm512_set1_ps(alpha[r]);
        for (int t = 0; t < 4; t++) acc[r][t] = _mm512_mul_ps(ar, load_cols(o + r * d + 16 * t, mk[t], full));
    }
    for (int64_t j = 0; j < cols; j++) {
        const float *vj = v + j * d, *pj = st + j * BR;
        const __m512 v0 = load_cols(vj, mk[0], full), v1 = load_cols(vj + 16, mk[1], full),
                     v2 = load_cols(vj + 32, mk[2], full), v3 = load_cols(vj + 48, mk[3], full);
        for (int r = 0; r < mr; r++) {
            const __m512 p = _mm512_set1_ps(pj[r]);
            acc[r][0] = _mm512_fmadd_ps(p, v0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(p, v1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(p, v2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(p, v3, acc[r][3]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int t = 0; t < 4; t++) {
            if (full) _mm512_storeu_ps(o + r * d + 16 * t, acc[r][t]);
            else _mm512_mask_storeu_ps(o + r * d + 16 * t, mk[t], acc[r][t]);
        }
}

/* All rows of O, columns [c0, c0 + 64) (full: all 64 inside d). */
static inline __attribute__((always_inline)) void pv_columns(const float *st, int64_t cols, const float *vc, int64_t d,
                                                              const float *alpha, float *oc, int64_t rows,
                                                              const __mmask16 mk[4], const int full) {
    int64_t r = 0;
    for (; r + PV_MR <= rows; r += PV_MR) pv_tile(st + r, cols, vc, d, alpha + r, oc + r * d, mk, PV_MR, full);
    switch (rows - r) { /* remainder rows in one tile */
    case 5: pv_tile(st + r, cols, vc, d, alpha + r, oc + r * d, mk, 5, full); break;
    case 4: pv_tile(st + r, cols, vc, d, alpha + r, oc + r * d, mk, 4, full); break;
    case 3: pv_tile(st + r, cols, vc, d, alpha + r, oc + r * d, mk, 3, full); break;
    case 2: pv_tile(st + r, cols, vc, d, alpha + r, oc + r * d, mk, 2, full); break;
    case 1: pv_tile(st + r, cols, vc, d, alpha + r, oc + r * d, mk, 1, full); break;
    default: break;
    }
}

/* All score tiles of keys [j0, j0 + cols), masked or not (a constant at both call sites): St = P of the block. */
static inline __attribute__((always_inline)) void qk_block(const float *k, int64_t d, const float *qt, float *st,
                                                            int64_t cols, const int masked, int64_t first,
                                                            struct lanes *s) {
    int64_t j = 0;
    for (; j + QK_MR <= cols; j += QK_MR) {
        qk_tile(k + j * d, d, qt, st + j * BR, QK_MR);
        softmax_tile(st + j * BR, j, QK_MR, masked, first + j, s);
    }
    switch (cols - j) { /* remainder keys in one tile */
    case 5: qk_tile(k + j * d, d, qt, st + j * BR, 5); break;
    case 4: qk_tile(k + j * d, d, qt, st + j * BR, 4); break;
    case 3: qk_tile(k + j * d, d, qt, st + j * BR, 3); break;
    case 2: qk_tile(k + j * d, d, qt, st + j * BR, 2); break;
    case 1: qk_tile(k + j * d, d, qt, st + j * BR, 1); break;
    default: return;
    }
    softmax_tile(st + j * BR, j, (int)(cols - j), masked, first + j, s);
}

/* The keys [j0, j0 + cols) of one segment: St = P of the block (softmax_tile above), then O = alpha O + P V_c. */
static void key_block(const struct mb_flash_segment *g, int64_t j0, int64_t cols, int64_t rows, int64_t d, float *ws,
                      int64_t bc, struct lanes *s, float *o) {
    float *st = ws, *alpha = ws + BR * bc + 2 * BR, *qt = alpha + BR;
    for (int t = 0; t < 4; t++) s->alpha[t] = _mm512_set1_ps(1.0f);
    /* a block with keys beyond row 0's last: key j0 + j is hidden from rows r < j0 + j - last_row0 */
    if (j0 + cols - 1 > g->last_row0) qk_block(g->k + j0 * d, d, qt, st, cols, 1, j0 - g->last_row0, s);
    else qk_block(g->k + j0 * d, d, qt, st, cols, 0, 0, s);
    for (int t = 0; t < 4; t++) _mm512_store_ps(alpha + 16 * t, s->alpha[t]);
    /* O = alpha O + P V_c */
    for (int64_t c0 = 0; c0 < d; c0 += 64) {
        __mmask16 mk[4];
        for (int t = 0; t < 4; t++) {
            const int64_t left = d - c0 - 16 * t;
            mk[t] = mb_mask16_first(left);
        }
        const float *vc = g->v + j0 * d + c0;
        if (d - c0 >= 64) pv_columns(st, cols, vc, d, alpha, o + c0, rows, mk, 1);
        else pv_columns(st, cols, vc, d, alpha, o + c0, rows, mk, 0);
    }
}

void mb_attn_flash_rows(const float *q, int64_t rows, int64_t d, int64_t bc, const struct mb_flash_segment *segments,
                        int n_segments, float *ws, float *o) {
    const float scale2 = MB_LOG2E / sqrtf((float)d); /* scores in base 2 */
    float *l = ws + BR * bc + BR, *qt = l + 2 * BR;
    /* Qt (d x BR) = scale2 Q_b^T, zero-padded beyond `rows`: the score tiles come out scaled */
    memset(qt, 0, (size_t)(d * BR) * sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < d; c++) qt[c * BR + r] = scale2 * q[r * d + c];
    struct lanes s; /* m = -FLT_MAX: the first tile raises every lane (its factor 2^(-FLT_MAX) = 0) */
    for (int t = 0; t < 4; t++) s.m[t] = _mm512_set1_ps(-FLT_MAX), s.l[t] = _mm512_setzero_ps();
    memset(o, 0, (size_t)(rows * d) * sizeof(float));
    for (int g = 0; g < n_segments; g++)
        for (int64_t j0 = 0; j0 < segments[g].len; j0 += bc) {
            const int64_t cols = segments[g].len - j0 < bc ? segments[g].len - j0 : bc;
            key_block(&segments[g], j0, cols, rows, d, ws, bc, &s, o);
        }
    for (int t = 0; t < 4; t++) _mm512_store_ps(l + 16 * t, s.l[t]);
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
