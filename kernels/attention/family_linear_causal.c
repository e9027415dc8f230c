/* The causal chunked scheme of group "linear" (see family_linear.h), one cache-resident loop per head.
 *
 * Per head, chunks of C rows in order, with the running state S (f x d) = sum_{j < i0} phi(k_j) v_j^T and
 * z (f) = sum_{j < i0} phi(k_j) of the rows before the chunk (Katharopoulos et al. 2020, eq. 16-20, chunkwise):
 *   A   = tril(phi(Q_c) phi(K_c)^T)                                   (len x len, diagonal included)
 *   O_c = [phi(Q_c) S + A V_c] / [rowsum A + phi(Q_c) z + eps]        (row by row; the denominator as
 *         phi(q_i).(z + sum_{j <= i} phi(k_j)), z advanced row by row)
 *   S  += phi(K_c)^T V_c,  z += colsum phi(K_c)
 * S, z, the chunk's features and A stay in L1/L2 (the next chunk's q, k, v are prefetched to L2). In the AVX-512 copy,
 * a chunk of 4..12 rows (even) runs phi(Q_c) S and the state update in one pass over S (fused_state_rows). Otherwise
 * the four products run in one small GEMM whose AVX-512 copy is a register-blocked broadcast-FMA micro-kernel (6 rows x 64
 * columns, 24 accumulators), triangular where the mask allows (the score tile stops at the block's last row, the
 * A V product at its last key). The copies without AVX-512 (portable, avx2) call OpenBLAS's sgemm for the same
 * four products. Segments: with fewer heads than threads, each head's chunks are cut into segments; a first pass
 * sums every segment's phi(K)^T V, an exclusive prefix gives each segment its start state.
 */
#include "attention/family_linear.h"
#include "core/vmask.h"
#include "core/vtranspose.h"

#include <cblas.h>
#include <immintrin.h>
#include <string.h>

/* causal shapes: TRI_N, C(i, j) = 0 for j > i (computed up to the row block's end only); TRI_K, A(i, k) = 0 for k > i
 * is assumed (the product stops at the row block's end) */
enum tri { TRI_NONE, TRI_N, TRI_K };

/* C (M x N, ldc) (+)= A (M x K; A(r, k) = a[r * rs + k * cs]) B (K x N, ldb), row-major B and C. */
#if defined(__AVX512F__)
#define MR 6
/* one mr x (16 nv) tile, k in [0, K) */
static inline __attribute__((always_inline)) void tile(const int mr, const int nv, int64_t K, const float *a,
                                                       int64_t rs, int64_t cs, const float *b, int64_t ldb, float *c,
                                                       int64_t ldc, const __mmask16 *m, int acc_in) {
    __m512 acc[MR][4];
    for (int r = 0; r < mr; r++)
        for (int t = 0; t < nv; t++)
            acc[r][t] = acc_in ? _mm512_maskz_loadu_ps(m[t], c + r * ldc + 16 * t) : _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        __m512 bv[4];
        for (int t = 0; t < nv; t++) bv[t] = _mm512_maskz_loadu_ps(m[t], b + k * ldb + 16 * t);
        for (int r = 0; r < mr; r++) {
            const __m512 av = _mm512_set1_ps(a[r * rs + k * cs]);
            for (int t = 0; t < nv; t++) acc[r][t] = _mm512_fmadd_ps(av, bv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int t = 0; t < nv; t++) _mm512_mask_storeu_ps(c + r * ldc + 16 * t, m[t], acc[r][t]);
}

#define TILE_NV(MRC)                                                                                                \
    switch (nv) {                                                                                                   \
    case 1: tile(MRC, 1, kk, ar, rs, cs, b + n0, ldb, cr, ldc, m, acc_in); break;                                   \
    case 2: tile(MRC, 2, kk, ar, rs, cs, b + n0, ldb, cr, ldc, m, acc_in); break;                                   \
    case 3: tile(MRC, 3, kk, ar, rs, cs, b + n0, ldb, cr, ldc, m, acc_in); break;                                   \
    default: tile(MRC, 4, kk, ar, rs, cs, b + n0, ldb, cr, ldc, m, acc_in); break;                                  \
    }

static void gemm(int64_t M, int64_t N, int64_t K, const float *a, int64_t rs, int64_t cs, const float *b,
                 int64_t ldb, float *c, int64_t ldc, int acc_in, enum tri tri) {
    for (int64_t r0 = 0; r0 < M; r0 += MR) {
        const int mr = M - r0 < MR ? (int)(M - r0) : MR;
        const int64_t nn = tri == TRI_N && r0 + mr < N ? r0 + mr : N, kk = tri == TRI_K && r0 + mr < K ? r0 + mr : K;
        const float *ar = a + r0 * rs;
        for (int64_t n0 = 0; n0 < nn; n0 += 64) {
            const int64_t left = nn - n0;
            const int nv = left >= 64 ? 4 : (int)((left + 15) / 16);
            const __mmask16 m[4] = {mb_mask16_first(left), mb_mask16_first(left - 16), mb_mask16_first(left - 32),
                                    mb_mask16_first(left - 48)};
            float *cr = c + r0 * ldc + n0;
            switch (mr) {
            case 1: TILE_NV(1) break;
            case 2: TILE_NV(2) break;
            case 3: TILE_NV(3) break;
            case 4: TILE_NV(4) break;
            case 5: TILE_NV(5) break;
            default: TILE_NV(6) break;
            }
            if (tri == TRI_N) /* zero column j > row i of the tile */
                for (int r = 0; r < mr; r++)
                    for (int t = 0; t < nv; t++) {
                        const __mmask16 upper = m[t] & (__mmask16)~mb_mask16_first(r0 + r - n0 - 16 * t + 1);
                        if (upper) _mm512_mask_storeu_ps(cr + r * ldc + 16 * t, upper, _mm512_setzero_ps());
                    }
        }
    }
}
#else
/* the copies without AVX-512: OpenBLAS (the full score block, then its upper triangle zeroed) */
static void gemm(int64_t M, int64_t N, int64_t K, const float *a, int64_t rs, int64_t cs, const float *b,
                 int64_t ldb, float *c, int64_t ldc, int acc_in, enum tri tri) {
    const enum CBLAS_TRANSPOSE ta = cs == 1 ? CblasNoTrans : CblasTrans;
    cblas_sgemm(CblasRowMajor, ta, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a, (int)(cs == 1 ? rs : cs), b,
                (int)ldb, acc_in ? 1.0f : 0.0f, c, (int)ldc);
    if (tri == TRI_N)
        for (int64_t r = 0; r + 1 < N && r < M; r++)
            for (int64_t e = r + 1; e < N; e++) c[r * ldc + e] = 0.0f;
}
#endif

#if defined(__AVX512F__)
/* y (16 x ldy, its first `rows` columns) = x^T, x (rows <= 16 x ldx): three rounds of in-register shuffles (unpack,
   shuffle, 2 x 128-bit lanes); the rows past `rows` read as zeros and are not stored */
static void transpose16(const float *x, int64_t rows, int64_t ldx, float *y, int64_t ldy) {
    __m512 r[16];
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(x + i * ldx) : _mm512_setzero_ps();
    mb_transpose16_ps(r);
    const __mmask16 m = mb_mask16_first(rows);
    for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(y + i * ldy, m, r[i]);
}

/* One chunk of L rows (L <= FUSED_MAX), d a multiple of 16, by 16-column blocks q of V, S and O, each in one pass
 * over the f rows of S:
 *   O_q = phi(Q_c) S_q      (S_q before the chunk: each row of S is read before it is updated)
 *   S_q += phi(K_c)^T V_q
 * V_q (L registers) and O_q (L accumulators) stay in registers; each row of S_q is loaded once and stored once, its
 * load and store spread between 2 L FMAs (as two GEMMs, S is read once per 6-row tile of phi(Q_c) and once more,
 * and written, by the update, whose 6 x 64 tiles load and store their accumulators around only L FMA steps).
 * phi(K_c) is read as it is (rows of f): the update broadcasts phi(k_j)[r], no transpose. The row's update runs as
 * two partial sums to halve its FMA chain. */
#define FUSED_MAX 12
static inline __attribute__((always_inline)) void fused_state_rows(const int L, const float *pq, const float *pk,
                                                                    int64_t f, const float *vc, int64_t d, float *S,
                                                                    float *o) {
    for (int64_t q = 0; q < d; q += 16) {
        __m512 v[FUSED_MAX], acc[FUSED_MAX];
        for (int j = 0; j < L; j++) {
            v[j] = _mm512_loadu_ps(vc + j * d + q);
            acc[j] = _mm512_setzero_ps();
        }
        float *sq = S + q;
        for (int64_t r = 0; r < f; r++, sq += d) {
            const __m512 s = _mm512_loadu_ps(sq);
            __m512 u0 = s, u1 = _mm512_setzero_ps();
            for (int i = 0; i < L; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(pq[i * f + r]), s, acc[i]);
            for (int j = 0; j + 1 < L; j += 2) {
                u0 = _mm512_fmadd_ps(_mm512_set1_ps(pk[j * f + r]), v[j], u0);
                u1 = _mm512_fmadd_ps(_mm512_set1_ps(pk[(j + 1) * f + r]), v[j + 1], u1);
            }
            if (L & 1) u0 = _mm512_fmadd_ps(_mm512_set1_ps(pk[(L - 1) * f + r]), v[L - 1], u0);
            _mm512_storeu_ps(sq, _mm512_add_ps(u0, u1));
        }
        for (int i = 0; i < L; i++) _mm512_storeu_ps(o + i * d + q, acc[i]);
    }
}

/* the fused pass for the chunk lengths it is compiled for; 0 when l or d does not fit it (the GEMMs then run) */
static int fused_state(int64_t l, const float *pq, const float *pk, int64_t f, const float *vc, int64_t d, float *S,
                       float *o) {
    if (d % 16) return 0;
    switch (l) {
    case 4: fused_state_rows(4, pq, pk, f, vc, d, S, o); return 1;
    case 6: fused_state_rows(6, pq, pk, f, vc, d, S, o); return 1;
    case 8: fused_state_rows(8, pq, pk, f, vc, d, S, o); return 1;
    case 10: fused_state_rows(10, pq, pk, f, vc, d, S, o); return 1;
    case 12: fused_state_rows(12, pq, pk, f, vc, d, S, o); return 1;
    default: return 0;
    }
}
#else
static int fused_state(int64_t l, const float *pq, const float *pk, int64_t f, const float *vc, int64_t d, float *S,
                       float *o) {
    (void)l, (void)pq, (void)pk, (void)f, (void)vc, (void)d, (void)S, (void)o;
    return 0;
}
#endif

/* y (cols x ld) = x^T, x (rows x cols): 16 x 16 blocks (the last row block short), then the columns right of them */
static void transpose(const float *restrict x, int64_t rows, int64_t cols, float *restrict y, int64_t ld) {
    int64_t c0 = 0;
#if defined(__AVX512F__)
    for (int64_t i0 = 0; i0 < rows; i0 += 16)
        for (c0 = 0; c0 + 16 <= cols; c0 += 16)
            transpose16(x + i0 * cols + c0, rows - i0 < 16 ? rows - i0 : 16, cols, y + c0 * ld + i0, ld);
#endif
    for (int64_t i = 0; i < rows; i++)
        for (int64_t r = c0; r < cols; r++) y[r * ld + i] = x[i * cols + r];
}

/* ask for `bytes` from x into L2 (the next chunk's rows while this one computes) */
static void prefetch_l2(const float *x, int64_t bytes) {
    for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch((const char *)x + b, 0, 2);
}

/* u (f) += colsum x (rows x f) */
static void add_colsum(const float *restrict x, int64_t rows, int64_t f, float *restrict u) {
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * f;
#pragma omp simd
        for (int64_t r = 0; r < f; r++) u[r] += xi[r];
    }
}

size_t mb_lin_causal_scratch(int64_t C, int64_t f) { return (size_t)(3 * C * f + C * C + C); }

void mb_lin_causal_sum(const struct mb_lin_feature *phi, const float *k, const float *v, int64_t len, int64_t d,
                       int64_t C, float *S, float *z, float *scratch) {
    const int64_t f = phi->dim(d);
    float *pk = scratch;
    for (int64_t i0 = 0; i0 < len; i0 += C) {
        const int64_t l = len - i0 < C ? len - i0 : C;
        (phi->map_fast ? phi->map_fast : phi->map)(k + i0 * d, pk, l, d);
        gemm(f, d, l, pk, 1, f, v + i0 * d, d, S, d, 1, TRI_NONE);
        add_colsum(pk, l, f, z);
    }
}

void mb_lin_causal_rows(const struct mb_lin_feature *phi, const float *q, const float *k, const float *v,
                        int64_t len, int64_t d, int64_t C, float *S, float *z, float *out, float *scratch) {
    const int64_t f = phi->dim(d);
    float *pq = scratch, *pk = pq + C * f, *pkt = pk + C * f, *A = pkt + C * f, *dq = A + C * C;
    void (*map)(const float *, float *, int64_t, int64_t) = phi->map_fast ? phi->map_fast : phi->map;
    for (int64_t i0 = 0; i0 < len; i0 += C) {
        const int64_t l = len - i0 < C ? len - i0 : C;
        const float *vc = v + i0 * d;
        float *o = out + i0 * d;
        if (i0 + C < len) {
            const int64_t next = (len - i0 - C < C ? len - i0 - C : C) * d * (int64_t)sizeof(float);
            prefetch_l2(q + (i0 + C) * d, next);
            prefetch_l2(k + (i0 + C) * d, next);
            prefetch_l2(v + (i0 + C) * d, next);
        }
        map(q + i0 * d, pq, l, d);
        map(k + i0 * d, pk, l, d);
        transpose(pk, l, f, pkt, C);
        for (int64_t i = 0; i < l; i++) { /* z += phi(k_i); dq_i = phi(q_i).z = rowsum A_i + phi(q_i).z_before */
            const float *pqi = pq + i * f, *pki = pk + i * f;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t r = 0; r < f; r++) {
                z[r] += pki[r];
                s += pqi[r] * z[r];
            }
            dq[i] = s;
        }
        if (!fused_state(l, pq, pk, f, vc, d, S, o)) {       /* O = phi(Q_c) S, then S += phi(K_c)^T V_c */
            gemm(l, d, f, pq, f, 1, S, d, o, d, 0, TRI_NONE);   /* O = phi(Q_c) S */
            gemm(f, d, l, pkt, C, 1, vc, d, S, d, 1, TRI_NONE); /* S += phi(K_c)^T V_c */
        }
        gemm(l, l, f, pq, f, 1, pkt, C, A, C, 0, TRI_N); /* A = tril(phi(Q_c) phi(K_c)^T) */
        gemm(l, d, l, A, C, 1, vc, d, o, d, 1, TRI_K);   /* O += A V_c */
        for (int64_t i = 0; i < l; i++) {
            const float inv = 1.0f / (dq[i] + MB_ATTN_LINEAR_EPS);
            float *oi = o + i * d;
#pragma omp simd
            for (int64_t e = 0; e < d; e++) oi[e] *= inv;
        }
    }
}
