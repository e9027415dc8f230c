/* Linear-attention helpers of group "linear" (see family_linear.h) and the double-precision row oracles of the
 * group's mechanisms (mechanisms.def), each a direct O(n d) evaluation of its formula, independent of the kernels:
 *   linear.cos          out_i = sum_j s_ij v_j / (sum_j s_ij + eps),  s_ij = 1 + (q_i/|q_i|).(k_j/|k_j|)
 *                       (x/|x| := 0 for x = 0); Su, kexue.fm/archives/7546 ("1 + cos", = the normalised Taylor
 *                       form 1 + q.k, see linear_cos.c)
 *   efficient           out_i = sum_j (sum_c rq_ic rk_jc) v_j,  rq_i = softmax_c(q_i),  rk_.c = softmax_j(k_.c)
 *                       (Shen et al. 2018, eq. 3, softmax normalisation)
 *   efficient.scaling   out_i = sum_j (q_i.k_j / n) v_j  (Shen et al. 2018, scaling normalisation: rho(Y) = Y / n
 *                       on Q K^T, i.e. Q/sqrt(n) (K/sqrt(n))^T V)
 */
#include "attention/family_linear.h"
#include "core/vmask.h"
#include "core/isa.h"
#include "core/vexp.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ feature maps */
static int64_t dim_same(int64_t d) { return d; }
static int64_t dim_plus_one(int64_t d) { return d + 1; }

static void map_elu1(const float *x, float *y, int64_t rows, int64_t d) { mb_attn_elu1(x, y, rows * d); }

static void map_elu1_fast(const float *x, float *y, int64_t rows, int64_t d) {
#if defined(__AVX512F__)
    const int64_t len = rows * d;
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < len; i += 16) {
        const __mmask16 m = mb_mask16_first(len - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __mmask16 pos = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
        const __m512 neg = mb_exp_ps(_mm512_min_ps(v, zero));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mask_blend_ps(pos, neg, _mm512_add_ps(v, one)));
    }
#else
    mb_attn_elu1(x, y, rows * d);
#endif
}

static void map_cos(const float *x, float *y, int64_t rows, int64_t d) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * (d + 1), ss = 0.0f;
        for (int64_t c = 0; c < d; c++) ss += xr[c] * xr[c];
        const float inv = ss > 0.0f ? 1.0f / sqrtf(ss) : 0.0f;
        yr[0] = 1.0f;
        for (int64_t c = 0; c < d; c++) yr[c + 1] = xr[c] * inv;
    }
}

const struct mb_lin_feature mb_lin_feature_elu1 = {"elu+1", dim_same, map_elu1, map_elu1_fast};
const struct mb_lin_feature mb_lin_feature_cos = {"[1, x/|x|]", dim_plus_one, map_cos, NULL};

/* ------------------------------------------------------------------------------------------ RNN step */
/* One pass over S per block of 64 columns: the output block stays in 4 registers (no store-to-load chain
 * through `out`), so a step costs ~ f * 4 stores per 64 columns. */
void mb_lin_rnn_step(const float *S_in, const float *z_in, float *S_out, float *z_out, const float *phi_k,
                     const float *restrict v, const float *phi_q, int64_t f, int64_t d, float *restrict out) {
    float denom = MB_ATTN_LINEAR_EPS;
    for (int64_t r = 0; r < f; r++) {
        z_out[r] = z_in[r] + phi_k[r];
        denom += phi_q[r] * z_out[r];
    }
    const float inv = 1.0f / denom;
#if defined(__AVX512F__)
    for (int64_t c0 = 0; c0 < d; c0 += 64) {
        __mmask16 m[4];
        __m512 vv[4], acc[4];
        for (int t = 0; t < 4; t++) {
            const int64_t rem = d - c0 - 16 * t;
            m[t] = mb_mask16_first(rem);
            vv[t] = _mm512_maskz_loadu_ps(m[t], v + c0 + 16 * t);
            acc[t] = _mm512_setzero_ps();
        }
        for (int64_t r = 0; r < f; r++) {
            const __m512 kr = _mm512_set1_ps(phi_k[r]), qr = _mm512_set1_ps(phi_q[r]);
            const float *si = S_in + r * d + c0;
            float *so = S_out + r * d + c0;
            for (int t = 0; t < 4; t++) {
                const __m512 x = _mm512_fmadd_ps(kr, vv[t], _mm512_maskz_loadu_ps(m[t], si + 16 * t));
                _mm512_mask_storeu_ps(so + 16 * t, m[t], x);
                acc[t] = _mm512_fmadd_ps(qr, x, acc[t]);
            }
        }
        const __m512 vinv = _mm512_set1_ps(inv);
        for (int t = 0; t < 4; t++) _mm512_mask_storeu_ps(out + c0 + 16 * t, m[t], _mm512_mul_ps(acc[t], vinv));
    }
#else
    for (int64_t c = 0; c < d; c++) out[c] = 0.0f;
    for (int64_t r = 0; r < f; r++) {
        const float kr = phi_k[r], qr = phi_q[r];
        const float *si = S_in + r * d;
        float *so = S_out + r * d;
        for (int64_t c = 0; c < d; c++) {
            const float x = si[c] + kr * v[c];
            so[c] = x;
            out[c] += qr * x;
        }
    }
    for (int64_t c = 0; c < d; c++) out[c] *= inv;
#endif
}

/* ------------------------------------------------------------------------------------------ chunked scheme */
int64_t mb_lin_chunk_size(const struct mb_point *p) {
    int64_t c = p->block > 0                                        ? p->block
                : p->causal && mb_cpu_avx512_on_256bit_units() ? MB_LIN_DEFAULT_CHUNK_CAUSAL_256BIT
                                                               : MB_LIN_DEFAULT_CHUNK;
    return c > p->n ? (p->n > 0 ? p->n : 1) : c;
}

struct chunked {
    struct mb_attn a;
    const struct mb_lin_feature *phi;
    int64_t f, chunk, nchunks, team;
    int64_t slots;        /* state slots per head: nchunks + 1 (non-causal), the most segments (causal) */
    float *states;        /* (heads, slots, f, d): chunk prefix sums (non-causal), segment start states (causal) */
    float *zs;            /* (heads, slots, f) */
    float *scratch;       /* (team, per_thread) */
    size_t per_thread;    /* floats of scratch per thread */
};

void mb_lin_chunked_teardown(void *state) {
    struct chunked *c = state;
    mb_free(c->states);
    mb_free(c->zs);
    mb_free(c->scratch);
    free(c);
}

/* the threads of a run: at most `threads`, one per MB_MIN_FLOPS_PER_THREAD of its ~4 n f d flops per head */
static int64_t team_of(int64_t heads, int64_t n, int64_t f, int64_t d, int64_t threads) {
    return mb_team_for(4.0 * (double)heads * (double)n * (double)f * (double)d, threads);
}

/* segments per head of the causal loop: 1 when the heads fill the team, else enough to give every thread one */
static int64_t causal_segments(int64_t heads, int64_t team, int64_t nchunks) {
    if (heads >= team) return 1;
    const int64_t s = (team + heads - 1) / heads;
    return s < nchunks ? s : nchunks;
}

int mb_lin_chunked_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct chunked *c = calloc(1, sizeof *c);
    if (!c) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&c->a, w);
    const struct mb_lin_feature *phi = k->variant;
    c->phi = phi;
    c->f = phi->dim(c->a.d);
    c->chunk = mb_lin_chunk_size(&w->point);
    c->nchunks = (c->a.n + c->chunk - 1) / c->chunk;
    const size_t heads = (size_t)mb_attn_head_count(&c->a), d = (size_t)c->a.d;
    const int most = omp_get_max_threads();
    c->team = team_of((int64_t)heads, c->a.n, c->f, (int64_t)d, w->point.threads > most ? w->point.threads : most);
    const size_t f = (size_t)c->f, C = (size_t)c->chunk;
    c->slots = c->a.causal ? causal_segments((int64_t)heads, c->team, c->nchunks) : c->nchunks + 1;
    const size_t slots = (size_t)c->slots;
    c->per_thread = c->a.causal ? mb_lin_causal_scratch(c->chunk, c->f) : 2 * C * f;
    c->states = mb_alloc(heads * slots * f * d * sizeof(float));
    c->zs = mb_alloc(heads * slots * f * sizeof(float));
    c->scratch = mb_alloc((size_t)c->team * c->per_thread * sizeof(float));
    if (!c->states || !c->zs || !c->scratch) {
        mb_lin_chunked_teardown(c);
        return mb_errorf(err, errlen, "out of memory for the chunked linear-attention workspace");
    }
    *state = c;
    return 0;
}

#define PREFIX_BLOCK 256

/* in place, for each of `count` elements: x[0] .. x[nc-1] -> exclusive prefix sums, x[nc] = total */
static void exclusive_scan(float *x, int64_t nc, int64_t stride, int64_t count) {
    float acc[PREFIX_BLOCK];
    for (int64_t e = 0; e < count; e++) acc[e] = 0.0f;
    for (int64_t ch = 0; ch < nc; ch++) {
        float *row = x + ch * stride;
#pragma omp simd
        for (int64_t e = 0; e < count; e++) {
            const float t = row[e];
            row[e] = acc[e];
            acc[e] += t;
        }
    }
    for (int64_t e = 0; e < count; e++) x[nc * stride + e] = acc[e];
}

/* causal: segment s of a head covers chunks [s * per, (s + 1) * per); slot s of the head holds its start state */
static void causal_run(struct chunked *c, int team) {
    const struct mb_attn *a = &c->a;
    const int64_t n = a->n, d = a->d, f = c->f, C = c->chunk, heads = mb_attn_head_count(a);
    const int64_t segs = causal_segments(heads, team, c->nchunks), per = (c->nchunks + segs - 1) / segs;
    const int64_t rows = per * C, slot = f * d;
#pragma omp parallel num_threads(team)
    {
        float *scratch = c->scratch + (size_t)omp_get_thread_num() * c->per_thread;
        /* 1. slot s = the sum over segment s - 1 (slot 0 = 0) */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < heads * segs; t++) {
            const int64_t head = t / segs, s = t % segs, i0 = (s - 1) * rows, off = head * n * d + i0 * d;
            float *S = c->states + (head * c->slots + s) * slot, *z = c->zs + (head * c->slots + s) * f;
            memset(S, 0, (size_t)slot * sizeof(float));
            memset(z, 0, (size_t)f * sizeof(float));
            if (s > 0 && i0 < n)
                mb_lin_causal_sum(c->phi, a->k + off, a->v + off, n - i0 < rows ? n - i0 : rows, d, C, S, z, scratch);
        }
        /* 2. inclusive prefix over the slots: slot s = the sum over segments < s */
        if (segs > 2) {
#pragma omp for schedule(static)
            for (int64_t head = 0; head < heads; head++)
                for (int64_t s = 2; s < segs; s++) {
                    float *S = c->states + (head * c->slots + s) * slot, *z = c->zs + (head * c->slots + s) * f;
                    for (int64_t e = 0; e < slot; e++) S[e] += S[e - slot];
                    for (int64_t e = 0; e < f; e++) z[e] += z[e - f];
                }
        }
        /* 3. the rows of every segment from its start state */
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < heads * segs; t++) {
            const int64_t head = t / segs, s = t % segs, i0 = s * rows, off = head * n * d + i0 * d;
            const int64_t len = n - i0 < rows ? n - i0 : rows;
            float *S = c->states + (head * c->slots + s) * slot, *z = c->zs + (head * c->slots + s) * f;
            if (len > 0)
                mb_lin_causal_rows(c->phi, a->q + off, a->k + off, a->v + off, len, d, C, S, z, a->out + off, scratch);
        }
    }
}

void mb_lin_chunked_run(void *state) {
    struct chunked *c = state;
    const struct mb_attn *a = &c->a;
    int team = omp_get_max_threads();
    if (team > c->team) team = (int)c->team;
    if (a->causal) {
        causal_run(c, team);
        return;
    }
    const int64_t n = a->n, d = a->d, f = c->f, C = c->chunk, nc = c->nchunks, heads = mb_attn_head_count(a);
    const int64_t slot = f * d, tasks = heads * nc, eblocks = (slot + PREFIX_BLOCK - 1) / PREFIX_BLOCK;
#pragma omp parallel num_threads(team)
    {
        float *pq = c->scratch + (size_t)omp_get_thread_num() * c->per_thread, *pk = pq + C * f; /* (chunk, f) */
        /* 1. features and per-chunk sums U_c = phi(K_c)^T V_c, u_c = colsum phi(K_c) */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            const int64_t head = t / nc, ch = t % nc, i0 = ch * C, len = n - i0 < C ? n - i0 : C;
            const int64_t off = head * n * d + i0 * d;
            c->phi->map(a->k + off, pk, len, d);
            float *U = c->states + (head * (nc + 1) + ch) * slot, *u = c->zs + (head * (nc + 1) + ch) * f;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)f, (int)d, (int)len, 1.0f, pk, (int)f,
                        a->v + off, (int)d, 0.0f, U, (int)d);
            for (int64_t r = 0; r < f; r++) u[r] = 0.0f;
            for (int64_t i = 0; i < len; i++) {
                const float *pki = pk + i * f;
#pragma omp simd
                for (int64_t r = 0; r < f; r++) u[r] += pki[r];
            }
        }
        /* 2. exclusive prefix over the chunks of each head (slot nc = total) */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < heads * eblocks; t++) {
            const int64_t head = t / eblocks, e0 = (t % eblocks) * PREFIX_BLOCK;
            const int64_t count = slot - e0 < PREFIX_BLOCK ? slot - e0 : PREFIX_BLOCK;
            exclusive_scan(c->states + head * (nc + 1) * slot + e0, nc, slot, count);
        }
#pragma omp for schedule(static)
        for (int64_t head = 0; head < heads; head++)
            for (int64_t e0 = 0; e0 < f; e0 += PREFIX_BLOCK)
                exclusive_scan(c->zs + head * (nc + 1) * f + e0, nc, f, f - e0 < PREFIX_BLOCK ? f - e0 : PREFIX_BLOCK);
        /* 3. outputs of every chunk from the total */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            const int64_t head = t / nc, ch = t % nc, i0 = ch * C, len = n - i0 < C ? n - i0 : C;
            const int64_t off = head * n * d + i0 * d;
            const float *S = c->states + (head * (nc + 1) + nc) * slot, *z = c->zs + (head * (nc + 1) + nc) * f;
            float *o = a->out + off;
            c->phi->map(a->q + off, pq, len, d);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)len, (int)d, (int)f, 1.0f, pq, (int)f, S,
                        (int)d, 0.0f, o, (int)d);
            for (int64_t i = 0; i < len; i++) {
                const float *pqi = pq + i * f;
                float denom = MB_ATTN_LINEAR_EPS;
                for (int64_t r = 0; r < f; r++) denom += pqi[r] * z[r];
                const float inv = 1.0f / denom;
                float *oi = o + i * d;
                for (int64_t e = 0; e < d; e++) oi[e] *= inv;
            }
        }
    }
}

/* f, the feature dimension of the kernel's feature map */
static double feature_dim(const struct mb_kernel *k, const struct mb_point *p) {
    const struct mb_lin_feature *phi = k->variant;
    return (double)phi->dim(p->d);
}

/* sum over chunks of len (len + 1) / 2: the causal intra-chunk pairs */
static double sum_tri(const struct mb_point *p) {
    const int64_t C = mb_lin_chunk_size(p), full = p->n / C, rest = p->n % C;
    return (double)full * C * (C + 1) / 2 + (double)rest * (rest + 1) / 2;
}

/* the team of a run at the point's thread count */
static int64_t point_team(const struct mb_kernel *k, const struct mb_point *p) {
    return team_of(p->batch * p->heads, p->n, (int64_t)feature_dim(k, p), p->d, p->threads);
}

/* causal segments per head at the point's thread count */
static int64_t point_segments(const struct mb_kernel *k, const struct mb_point *p) {
    const int64_t nc = (p->n + mb_lin_chunk_size(p) - 1) / mb_lin_chunk_size(p);
    return causal_segments(p->batch * p->heads, point_team(k, p), nc);
}

double mb_lin_chunked_flops(const struct mb_kernel *k, const struct mb_point *p) {
    const double f = feature_dim(k, p);
    const double n = (double)p->n, d = (double)p->d, nc = ceil(n / (double)mb_lin_chunk_size(p));
    double per_head;
    if (p->causal) {
        const double segs = (double)point_segments(k, p);
        per_head = (2.0 * n * f * d + n * f) * (2.0 * segs - 1) / segs /* S += phi(K_c)^T V_c, z (+ segment sums) */
                   + 2.0 * n * f * d + 2.0 * n * f                      /* phi(Q_c) S, phi(Q_c) z */
                   + sum_tri(p) * (2.0 * f + 2.0 * d + 1)               /* masked intra-chunk block, its row sums */
                   + n * (d + 1) + 4.0 * n * d * (2.0 * segs - 1) / segs; /* scaling, features */
    } else {
        per_head = 2.0 * n * f * d + n * f  /* U_c, u_c */
                   + nc * (f * d + f)        /* prefix sums */
                   + 2.0 * n * f * d         /* phi(Q_c) S */
                   + n * (2.0 * f + d + 1) + 4.0 * n * d; /* denominators, scaling, features */
    }
    return (double)p->batch * p->heads * per_head;
}

double mb_lin_chunked_bytes(const struct mb_kernel *k, const struct mb_point *p) {
    const double f = feature_dim(k, p);
    const double n = (double)p->n, d = (double)p->d, nc = ceil(n / (double)mb_lin_chunk_size(p));
    const double bh = (double)p->batch * p->heads;
    if (p->causal) { /* io, K and V read again by the segment sums; S, z and the chunk's features stay in cache */
        const double segs = (double)point_segments(k, p);
        return mb_attn_io_bytes(k, p) + 4.0 * bh * 2.0 * n * d * (segs - 1) / segs;
    }
    /* io, chunk states written, scanned (read + write) and read; phi(Q_c), phi(K_c) stay in cache */
    return mb_attn_io_bytes(k, p) + 4.0 * bh * 4.0 * (nc + 1) * (f * d + f);
}

double mb_lin_chunked_workspace(const struct mb_kernel *k, const struct mb_point *p) {
    const int64_t f = (int64_t)feature_dim(k, p), C = mb_lin_chunk_size(p);
    const double nc = ceil((double)p->n / (double)C), team = (double)point_team(k, p);
    const double slots = p->causal ? (double)point_segments(k, p) : nc + 1;
    const double per_thread = p->causal ? (double)mb_lin_causal_scratch(C, f) : 2.0 * C * f;
    return 4.0 * ((double)p->batch * p->heads * slots * ((double)f * p->d + f) + team * per_thread);
}

/* ------------------------------------------------------------------------------------------ oracles */
void mb_attn_oracle_linear_cos(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i,
                               double *scratch, double *out) {
    (void)w;
    const int64_t d = a->d, off = head * mb_attn_head_stride(a), last = mb_attn_last_key(a, i);
    const float *qi = a->q + off + i * d, *k = a->k + off;
    double qq = 0;
    for (int64_t c = 0; c < d; c++) qq += (double)qi[c] * qi[c];
    for (int64_t j = 0; j <= last; j++) {
        double qk = 0, kk = 0;
        for (int64_t c = 0; c < d; c++) {
            qk += (double)qi[c] * k[j * d + c];
            kk += (double)k[j * d + c] * k[j * d + c];
        }
        scratch[j] = 1.0 + (qq > 0 && kk > 0 ? qk / (sqrt(qq) * sqrt(kk)) : 0.0);
    }
    mb_attn_weighted_rows(a, a->v + off, last, scratch, MB_ATTN_LINEAR_EPS, out);
}

void mb_attn_oracle_efficient(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i,
                              double *scratch, double *out) {
    (void)w;
    const int64_t n = a->n, d = a->d, off = head * mb_attn_head_stride(a);
    const float *qi = a->q + off + i * d, *k = a->k + off, *v = a->v + off;
    /* rq = softmax over the d entries of q_i; then weight of key j: w_j = sum_c rq_c e^{k_jc - m_c} / Z_c */
    double qm = -INFINITY, qs = 0;
    for (int64_t c = 0; c < d; c++) qm = qi[c] > qm ? qi[c] : qm;
    for (int64_t c = 0; c < d; c++) qs += exp(qi[c] - qm);
    for (int64_t j = 0; j < n; j++) scratch[j] = 0;
    for (int64_t c = 0; c < d; c++) {
        double m = -INFINITY, z = 0;
        for (int64_t j = 0; j < n; j++) m = k[j * d + c] > m ? k[j * d + c] : m;
        for (int64_t j = 0; j < n; j++) z += exp(k[j * d + c] - m);
        const double rq = exp(qi[c] - qm) / qs;
        for (int64_t j = 0; j < n; j++) scratch[j] += rq * exp(k[j * d + c] - m) / z;
    }
    for (int64_t e = 0; e < d; e++) out[e] = 0;
    for (int64_t j = 0; j < n; j++)
        for (int64_t e = 0; e < d; e++) out[e] += scratch[j] * v[j * d + e];
}

void mb_attn_oracle_efficient_scaling(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i,
                                      double *scratch, double *out) {
    (void)w;
    (void)scratch;
    const int64_t n = a->n, d = a->d, off = head * mb_attn_head_stride(a);
    const float *qi = a->q + off + i * d, *k = a->k + off, *v = a->v + off;
    for (int64_t e = 0; e < d; e++) out[e] = 0;
    for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int64_t c = 0; c < d; c++) s += (double)qi[c] * k[j * d + c];
        s /= (double)n;
        for (int64_t e = 0; e < d; e++) out[e] += s * v[j * d + e];
    }
}
