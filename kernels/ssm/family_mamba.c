/* ssm.mamba family: workload, double-precision oracle (sequential scan per channel), shared scan helpers and the
 * local pass / correction of ssm.mamba.scan_parallel, and the chunked-scan driver of ssm.lru.scan_parallel. See
 * family_mamba.h for the math. */
#include "ssm/family_mamba.h"

#include "core/check.h"
#include "core/vexp.h"
#include "core/vmask.h"
#include "core/vtranspose.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <sleef.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule mamba_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 24}, {MB_AXIS_d, 64, 1, 1 << 16},    {MB_AXIS_batch, 1, 1, 1 << 12},
    {MB_AXIS_rank, 16, 1, 256},    {MB_AXIS_block, 0, 0, 1 << 24},
};

static void mamba_oracle(const struct mb_mamba *m, int64_t b, int64_t d, double *y, double *h);

static const struct mb_mechanism mamba_mechanisms[] = {
    {"selective_scan",
     "dt = softplus(delta + bias) (delta_softplus=0: delta + bias); h_t = exp(dt A) h_{t-1} + dt B_t u_t; "
     "y_t = (C_t . h_t + D u_t) silu(z_t), A = -exp(A_log)",
     1e-4, (void (*)(void))mamba_oracle},
};

/* the order of enum mb_mamba_names */
static const struct mb_param_decl mamba_params[] = {
    {"gate", MB_PARAM_BOOL, 1, 0, 1, NULL, "1: y *= silu(z) (the Mamba block's gate); 0: no z input (eval: from the file)"},
    {"delta_softplus", MB_PARAM_BOOL, 1, 0, 1, NULL,
     "1: dt = softplus(delta + delta_bias) (the Mamba block's call); 0: dt = delta + delta_bias (selective_scan_ref's "
     "default)"},
    {"names", MB_PARAM_ENUM, 0, 0, 0, "module|ref",
     "input names: module = u, delta, A_log, B, C, D_skip, delta_bias[, z] (the Mamba block's parameters); "
     "ref = u, delta, A, B, C, D, delta_bias[, z] (selective_scan_ref's arguments, A = -exp(A_log)); eval picks it "
     "from the file's names"},
};

/* inputs[] positions of the layout (either naming) */
enum { IN_U, IN_DELTA, IN_A, IN_B, IN_C, IN_D, IN_DELTA_BIAS, IN_Z };

static void mamba_tensors(struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    const int64_t B = p->batch, D = p->d, L = p->n, N = p->rank;
    const int ref = mb_param_enum(p, "names") == MB_MAMBA_NAMES_REF;
    mb_tensor_set(&w->inputs[IN_U], "u", "batch,D,L", 3, B, D, L, 0);
    mb_tensor_set(&w->inputs[IN_DELTA], "delta", "batch,D,L", 3, B, D, L, 0);
    mb_tensor_set(&w->inputs[IN_A], ref ? "A" : "A_log", "D,N", 2, D, N, 0, 0);
    mb_tensor_set(&w->inputs[IN_B], "B", "batch,N,L", 3, B, N, L, 0);
    mb_tensor_set(&w->inputs[IN_C], "C", "batch,N,L", 3, B, N, L, 0);
    mb_tensor_set(&w->inputs[IN_D], ref ? "D" : "D_skip", "D", 1, D, 0, 0, 0);
    mb_tensor_set(&w->inputs[IN_DELTA_BIAS], "delta_bias", "D", 1, D, 0, 0, 0);
    w->n_inputs = IN_Z;
    if (mb_param_bool(p, "gate")) mb_tensor_set(&w->inputs[w->n_inputs++], "z", "batch,D,L", 3, B, D, L, 0);
    w->n_outputs = 1;
    mb_tensor_set(&w->outputs[0], "y", "batch,D,L", 3, B, D, L, 0);
}

static int mamba_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    double elements = (double)p->batch * (double)p->d * (double)p->n;
    if (elements * (double)(p->rank > p->d ? p->rank : 1) > (double)(INT64_C(1) << 34))
        return mb_errorf(err, errlen, "batch*D*L = %.3g elements per tensor is too large (max 2^34)", elements);
    mamba_tensors(w);
    return 0;
}

/* The reference's initialisation (mamba_simple.Mamba): A = -(n + 1) (S4D-real; A_log = log(n + 1)), D = 1,
 * dt = softplus(delta + delta_bias) log-uniform in [1e-3, 1e-1] at delta = 0; delta ~ N(0, 1/4) (x_proj's output);
 * u, B, C, z ~ N(0, 1). With delta_softplus=0 the inputs carry the same dt: delta <- softplus(delta + delta_bias),
 * delta_bias <- 0. */
static void mamba_fill(struct mb_workload *w) {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    const int64_t N = w->point.rank;
    for (int t = 0; t < w->n_inputs; t++) {
        gsl_rng_set(rng, (unsigned long)(w->seed * 1000003u + (uint64_t)t + 101));
        struct mb_tensor *x = &w->inputs[t];
        const int64_t count = mb_tensor_numel(x);
        for (int64_t i = 0; i < count; i++) {
            double v;
            if (t == IN_A) v = !strcmp(x->name, "A") ? -(double)(i % N + 1) : log((double)(i % N) + 1.0);
            else if (t == IN_D) v = 1.0;
            else if (t == IN_DELTA_BIAS) {
                /* dt log-uniform in [1e-3, 1e-1], bias = softplus^-1(dt) = dt + log(-expm1(-dt)) */
                double dt = exp(log(1e-3) + gsl_rng_uniform(rng) * (log(1e-1) - log(1e-3)));
                v = dt + log(-expm1(-dt));
            } else if (t == IN_DELTA) v = 0.5 * gsl_ran_gaussian_ziggurat(rng, 1.0);
            else v = gsl_ran_gaussian_ziggurat(rng, 1.0); /* u, B, C, z */
            x->data[i] = (float)v;
        }
    }
    gsl_rng_free(rng);
    if (!mb_param_bool(&w->point, "delta_softplus")) {
        const int64_t D = w->point.d, L = w->point.n;
        float *delta = w->inputs[IN_DELTA].data, *bias = w->inputs[IN_DELTA_BIAS].data;
        for (int64_t i = 0; i < mb_tensor_numel(&w->inputs[IN_DELTA]); i++)
            delta[i] = mb_mamba_softplus(delta[i] + bias[(i / L) % D]);
        for (int64_t d = 0; d < D; d++) bias[d] = 0.0f;
    }
}

/* ", name," in ",list," */
static int has_name(const char *list, const char *name) {
    char hay[600], needle[64];
    snprintf(hay, sizeof hay, ",%s,", list);
    snprintf(needle, sizeof needle, ",%s,", name);
    return strstr(hay, needle) != NULL;
}

/* eval: the file's names choose the naming (module: A_log, D_skip; ref: A, D) and the gate (z present or not). */
static int mamba_choose_inputs(struct mb_workload *w, const char *present, char *err, size_t errlen) {
    const int module = has_name(present, "A_log") || has_name(present, "D_skip");
    const int ref = has_name(present, "A") || has_name(present, "D");
    if (module && ref)
        return mb_errorf(err, errlen, "the file mixes the Mamba module's names (A_log, D_skip) with selective_scan_ref's "
                         "(A, D); use one set: u, delta, A_log, B, C, D_skip, delta_bias[, z] or u, delta, A, B, C, D, "
                         "delta_bias[, z] (found: %s)", present);
    if ((module || ref) && mb_param_set(&w->point, "names", ref ? "ref" : "module"))
        return mb_errorf(err, errlen, "ssm.mamba: no names parameter to set");
    if (mb_param_set(&w->point, "gate", has_name(present, "z") ? "1" : "0"))
        return mb_errorf(err, errlen, "ssm.mamba: no gate parameter to set");
    return 0;
}

static int mamba_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *u = &w->inputs[IN_U], *A = &w->inputs[IN_A];
    if (u->ndim != 3) return mb_errorf(err, errlen, "'u' has %d dimensions; expected 3: (batch, D, L)", u->ndim);
    if (A->ndim != 2) return mb_errorf(err, errlen, "'%s' has %d dimensions; expected 2: (D, N)", A->name, A->ndim);
    struct mb_workload want = {.family = w->family, .point = w->point};
    want.point.batch = u->shape[0];
    want.point.d = u->shape[1];
    want.point.n = u->shape[2];
    want.point.rank = A->shape[1];
    mamba_tensors(&want);
    char from[64];
    snprintf(from, sizeof from, "u (batch, D, L) and %s (D, N)", A->name);
    if (mb_ssm_inputs_match(w, &want, from, err, errlen)) return -1;
    w->point = want.point;
    w->n_outputs = 1;
    w->outputs[0] = want.outputs[0];
    return 0;
}

void mb_mamba_bind(struct mb_mamba *m, struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    m->batch = p->batch;
    m->D = p->d;
    m->L = p->n;
    m->N = p->rank;
    m->softplus = mb_param_bool(p, "delta_softplus");
    const int ref = !strcmp(w->inputs[IN_A].name, "A");
    m->u = w->inputs[IN_U].data;
    m->delta = w->inputs[IN_DELTA].data;
    m->A = ref ? w->inputs[IN_A].data : NULL;
    m->A_log = ref ? NULL : w->inputs[IN_A].data;
    m->B = w->inputs[IN_B].data;
    m->C = w->inputs[IN_C].data;
    m->D_skip = w->inputs[IN_D].data;
    m->delta_bias = w->inputs[IN_DELTA_BIAS].data;
    m->z = w->n_inputs > IN_Z ? w->inputs[IN_Z].data : NULL;
    m->y = w->outputs[0].data;
}

/* ------------------------------------------------------------------------------------------ helpers */
#define TT 64 /* transpose tile */

void mb_mamba_transpose_bc(const struct mb_mamba *m, float *Bt, float *Ct) {
    const int64_t L = m->L, N = m->N, tiles = (L + TT - 1) / TT;
#pragma omp for schedule(static)
    for (int64_t bt = 0; bt < m->batch * tiles; bt++) {
        const int64_t b = bt / tiles, t0 = (bt % tiles) * TT, t1 = t0 + TT < L ? t0 + TT : L;
        const float *Bs = m->B + b * N * L, *Cs = m->C + b * N * L;
        float *Bd = Bt + b * L * N, *Cd = Ct + b * L * N;
        /* row n read contiguously; the tile's output (TT x N floats) stays in L1. (Reading the N rows at one t
           instead walks N addresses 4 L bytes apart: L1 set conflicts, several times slower.) */
        for (int64_t n = 0; n < N; n++) {
            const float *bs = Bs + n * L, *cs = Cs + n * L;
            for (int64_t t = t0; t < t1; t++) {
                Bd[t * N + n] = bs[t];
                Cd[t * N + n] = cs[t];
            }
        }
    }
}

#if defined(__AVX512F__)
/* Lane i <- the sum of the lanes of v[i]: a 4-level shuffle-and-add tree (45 instructions for 16 sums, against 16
   horizontal reductions of ~8 dependent instructions each), lanes put back in order by one permute. */
static inline __m512 sum16(const __m512 v[16]) {
    __m512 t[8], u[4], w[2];
    for (int i = 0; i < 8; i++) /* 256-bit halves: v[i] low, v[i + 8] high */
        t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[i], v[i + 8], 0x44), _mm512_shuffle_f32x4(v[i], v[i + 8], 0xEE));
    for (int i = 0; i < 4; i++) /* 128-bit quarters */
        u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[i], t[i + 4], 0x88), _mm512_shuffle_f32x4(t[i], t[i + 4], 0xDD));
    for (int i = 0; i < 2; i++) /* pairs of lanes */
        w[i] = _mm512_add_ps(_mm512_shuffle_ps(u[i], u[i + 2], 0x88), _mm512_shuffle_ps(u[i], u[i + 2], 0xDD));
    const __m512 raw = _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x88), _mm512_shuffle_ps(w[0], w[1], 0xDD));
    /* raw lane l holds v[order[l]]'s sum; order is its own inverse */
    const __m512i order = _mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15);
    return _mm512_permutexvar_ps(order, raw);
}

/* g (cnt, N) <- src (N rows of stride L), steps [0, cnt): 16 x 16 tiles transposed in registers */
static void gather_block(const float *src, int64_t L, int64_t N, __mmask16 tm, int64_t cnt, float *g) {
    for (int64_t n0 = 0; n0 < N; n0 += 16) {
        const int64_t rows = N - n0 < 16 ? N - n0 : 16;
        const __mmask16 nm = mb_mask16_first(rows);
        __m512 r[16];
        for (int64_t j = 0; j < 16; j++)
            r[j] = j < rows ? _mm512_maskz_loadu_ps(tm, src + (n0 + j) * L) : _mm512_setzero_ps();
        mb_transpose16_ps(r);
        for (int64_t i = 0; i < cnt; i++) _mm512_mask_storeu_ps(g + i * N + n0, nm, r[i]);
    }
}
#endif

/* The scan of K channels d0 .. d0 + K - 1 of batch b over steps [t0, t1), specialised by the compiler for each
 * caller (write_y, dA_mode, track, one_vector and K are constants at every call site). h: the K states, channel k's
 * N floats at h + k N (in/out). K > 1 (mb_mamba_scan_group) only with one_vector, write_y, MB_MAMBA_DA_NONE and no
 * track: the K recurrences are independent, so interleaving them step by step lets their exp and FMA chains overlap
 * (one channel's step is a ~40-cycle chain the out-of-order window only partly hides), and B_t, C_t are loaded once
 * for all K. Returns the sum of dt of channel d0.
 * track: the local pass of a chunk whose carry is not known yet (mb_mamba_scan_local): also keep
 * the running decay P_t = prod_{s <= t} exp(dt_s A) (= exp(A S_t), S_t the in-chunk prefix sum of dt) and store
 * q_t = C_t (.) P_t at q[(t - t0) N + n]; lanes of P below MB_MAMBA_P_MIN are flushed to 0 after every block of
 * 16 steps (no subnormal arithmetic), and P stops being tracked once every lane is 0: *live = that block's end. */
static inline __attribute__((always_inline)) double
scan_impl(const struct mb_mamba *m, const float *Bt, const float *Ct, int64_t b, int64_t d0, int64_t t0, int64_t t1,
          float *h, const int write_y, float *dA_buf, const int dA_mode, const int track, float *q, float *P,
          int64_t *live, const int one_vector, const int K) {
    const int64_t L = m->L, N = m->N;
    double dtsum = 0;
    int alive = track;
    if (track) *live = t1;
#if defined(__AVX512F__)
    enum { MAXV = 16, MAXK = MB_MAMBA_GROUP }; /* N <= 256 */
    __m512 A[MAXK][MAXV], hv[MAXK][MAXV], Pv[MAXV], vbias[MAXK];
    __mmask16 mask[MAXV];
    int64_t ch[MAXK];
    float Dd[MAXK];
    const int nv = one_vector ? 1 : (int)((N + 15) / 16); /* one_vector: a constant 1, the state stays in a register */
    for (int j = 0; j < nv; j++) {
        const int64_t left = N - 16 * j;
        mask[j] = mb_mask16_first(left);
        if (track) Pv[j] = _mm512_maskz_mov_ps(mask[j], _mm512_set1_ps(1.0f)); /* lanes >= N stay 0 */
    }
    for (int k = 0; k < K; k++) {
        const int64_t d = d0 + k;
        ch[k] = (b * m->D + d) * L;
        vbias[k] = _mm512_set1_ps(m->delta_bias[d]);
        Dd[k] = m->D_skip[d];
        for (int j = 0; j < nv; j++) {
            A[k][j] = m->A ? _mm512_maskz_loadu_ps(mask[j], m->A + d * N + 16 * j)
                           : _mm512_sub_ps(_mm512_setzero_ps(),
                                           Sleef_expf16_u10(_mm512_maskz_loadu_ps(mask[j], m->A_log + d * N + 16 * j)));
            A[k][j] = _mm512_mul_ps(A[k][j], _mm512_set1_ps(MB_LOG2E)); /* exp(dt A) = 2^(dt A log2 e) */
            hv[k][j] = _mm512_maskz_loadu_ps(mask[j], h + k * N + 16 * j);
        }
    }
    /* steps in spans of SPAN: first dt = softplus(delta + bias) (or delta + bias) and dt u of the whole span, 16
       steps at a time, into dts, dus; then the scan of the span in blocks of 16 steps, reading step t's dt and dt u
       as broadcast loads (no shuffles), the skip and the gate vectorised over the block's 16 steps. (Computing dt
       per block in the scan loop put softplus' ~60-cycle latency before each block's first step: the out-of-order
       window, about one block wide, could not hide it.) */
    enum { SPAN = 256 };
    float gB[16 * 256], gC[16 * 256]; /* gathered B_t, C_t when Bt == NULL */
    float dts[MAXK][SPAN] __attribute__((aligned(64))), dus[MAXK][SPAN] __attribute__((aligned(64)));
    const __m512 pmin = _mm512_set1_ps(MB_MAMBA_P_MIN);
    __m512 vdtsum = _mm512_setzero_ps();
    for (int64_t s0 = t0; s0 < t1; s0 += SPAN) {
        const int64_t s1 = t1 - s0 < SPAN ? t1 : s0 + SPAN;
        for (int k = 0; k < K; k++)
            for (int64_t tb = s0; tb < s1; tb += 16) {
                const __mmask16 tm = mb_mask16_first(s1 - tb);
                const __m512 x = _mm512_add_ps(_mm512_maskz_loadu_ps(tm, m->delta + ch[k] + tb), vbias[k]);
                const __m512 dtv = _mm512_maskz_mov_ps(tm, m->softplus ? mb_mamba_softplus_ps(x) : x);
                if (k == 0) vdtsum = _mm512_add_ps(vdtsum, dtv);
                _mm512_store_ps(dts[k] + (tb - s0), dtv);
                _mm512_store_ps(dus[k] + (tb - s0), _mm512_mul_ps(dtv, _mm512_maskz_loadu_ps(tm, m->u + ch[k] + tb)));
            }
        for (int64_t tb = s0; tb < s1; tb += 16) {
            const int64_t cnt = s1 - tb < 16 ? s1 - tb : 16;
            const __mmask16 tm = mb_mask16_first(cnt);
            __m512 accs[MAXK][16]; /* C_t . h_t of each step as 16 partial sums, reduced together after the block */
            const float *Bblk = NULL, *Cblk = NULL; /* this block's B_t, C_t rows: (16, N) */
            if (Bt) {
                Bblk = Bt + (b * L + tb) * N;
                Cblk = Ct + (b * L + tb) * N;
            } else { /* gather from (batch, N, L): row n read contiguously, 16 steps at a time */
                const float *Bs = m->B + b * N * L + tb, *Cs = m->C + b * N * L + tb;
                gather_block(Bs, L, N, tm, cnt, gB);
                if (write_y) gather_block(Cs, L, N, tm, cnt, gC);
                Bblk = gB;
                Cblk = gC;
            }

            /* prefetch the next K channels' rows (delta, u, z, y; the same 16 steps: one 64-byte line per row), so
               the next group starts in cache: each row is a fresh stream (at L = 1024, a fresh 4 KiB page) that the
               hardware prefetcher only picks up after several misses (measured: ~25% of the run at L = 1024,
               D = 1536) */
            for (int k = 0; k < K; k++) {
                const int64_t at = ch[k] + K * L + tb;
                if (at < m->batch * m->D * L) {
                    _mm_prefetch((const char *)(m->delta + at), _MM_HINT_T0);
                    _mm_prefetch((const char *)(m->u + at), _MM_HINT_T0);
                    if (m->z) _mm_prefetch((const char *)(m->z + at), _MM_HINT_T0);
                    if (write_y) _mm_prefetch((const char *)(m->y + at), _MM_HINT_T0);
                }
            }
            const int trk = track && alive;
            for (int64_t i = 0; i < cnt; i++) {
                const int64_t t = tb + i;
                const float *Bp = Bblk + i * N, *Cp = Cblk + i * N;
                for (int k = 0; k < K; k++) {
                    const __m512 vdt = _mm512_set1_ps(dts[k][t - s0]), vdu = _mm512_set1_ps(dus[k][t - s0]);
                    __m512 acc = _mm512_setzero_ps();
                    for (int j = 0; j < nv; j++) {
                        __m512 dA;
                        if (dA_mode == MB_MAMBA_DA_LOAD) dA = _mm512_maskz_loadu_ps(mask[j], dA_buf + t * N + 16 * j);
                        else {
                            dA = mb_exp2_ps(_mm512_mul_ps(vdt, A[k][j]));
                            if (dA_mode == MB_MAMBA_DA_STORE)
                                _mm512_mask_storeu_ps(dA_buf + t * N + 16 * j, mask[j], dA);
                        }
                        hv[k][j] = _mm512_fmadd_ps(dA, hv[k][j],
                                                   _mm512_mul_ps(vdu, _mm512_maskz_loadu_ps(mask[j], Bp + 16 * j)));
                        if (write_y) {
                            const __m512 cv = _mm512_maskz_loadu_ps(mask[j], Cp + 16 * j);
                            acc = _mm512_fmadd_ps(cv, hv[k][j], acc);
                            if (trk) {
                                Pv[j] = _mm512_mul_ps(Pv[j], dA);
                                _mm512_mask_storeu_ps(q + (t - t0) * N + 16 * j, mask[j], _mm512_mul_ps(Pv[j], cv));
                            }
                        }
                    }
                    if (write_y) accs[k][i] = acc;
                }
            }
            if (trk) { /* lanes below P_MIN flushed to 0 once per block (P stays >= P_MIN * exp(-16 dt |A|) within a
                          block: subnormals only after a decay by 2^26 in 16 steps); all lanes 0: the carry is gone */
                __m512 pmax = _mm512_setzero_ps();
                for (int j = 0; j < nv; j++) {
                    Pv[j] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(Pv[j], pmin, _CMP_GE_OQ), Pv[j]);
                    pmax = _mm512_max_ps(pmax, Pv[j]);
                }
                if (_mm512_reduce_max_ps(pmax) == 0.0f) {
                    alive = 0;
                    *live = tb + cnt;
                    for (int j = 0; j < nv; j++) Pv[j] = _mm512_setzero_ps();
                }
            }
            if (write_y)
                for (int k = 0; k < K; k++) {
                    for (int64_t i = cnt; i < 16; i++) accs[k][i] = _mm512_setzero_ps();
                    const __m512 uv = _mm512_maskz_loadu_ps(tm, m->u + ch[k] + tb);
                    __m512 yv = _mm512_fmadd_ps(_mm512_set1_ps(Dd[k]), uv, sum16(accs[k]));
                    if (m->z) yv = _mm512_mul_ps(yv, mb_mamba_silu_ps(_mm512_maskz_loadu_ps(tm, m->z + ch[k] + tb)));
                    _mm512_mask_storeu_ps(m->y + ch[k] + tb, tm, yv);
                }
        }
    }
    dtsum = _mm512_reduce_add_ps(vdtsum);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < nv; j++) _mm512_mask_storeu_ps(h + k * N + 16 * j, mask[j], hv[k][j]);
    if (track)
        for (int j = 0; j < nv; j++) _mm512_mask_storeu_ps(P + 16 * j, mask[j], Pv[j]);
#else
    (void)one_vector;
    (void)K; /* 1: mb_mamba_scan_group scans channel by channel here */
    const int64_t d = d0, ch = (b * m->D + d) * L;
    const float bias = m->delta_bias[d], Dd = m->D_skip[d];
    const float *Aref = m->A ? m->A + d * N : NULL, *Alog = m->A ? NULL : m->A_log + d * N;
    float A[256];
    for (int64_t n = 0; n < N; n++) {
        A[n] = Aref ? Aref[n] : -expf(Alog[n]);
        if (track) P[n] = 1.0f;
    }
    for (int64_t t = t0; t < t1; t++) {
        const float x = m->delta[ch + t] + bias, dt = m->softplus ? mb_mamba_softplus(x) : x, ut = m->u[ch + t];
        dtsum += dt;
        float Bg[256], Cg[256];
        const float *Bp = Bg, *Cp = Cg;
        if (Bt) {
            Bp = Bt + (b * L + t) * N;
            Cp = Ct + (b * L + t) * N;
        } else
            for (int64_t n = 0; n < N; n++) {
                Bg[n] = m->B[(b * N + n) * L + t];
                Cg[n] = m->C[(b * N + n) * L + t];
            }
        float acc = 0, pmax = 0;
        for (int64_t n = 0; n < N; n++) {
            float dA;
            if (dA_mode == MB_MAMBA_DA_LOAD) dA = dA_buf[t * N + n];
            else {
                dA = expf(dt * A[n]);
                if (dA_mode == MB_MAMBA_DA_STORE) dA_buf[t * N + n] = dA;
            }
            h[n] = dA * h[n] + dt * ut * Bp[n];
            acc += Cp[n] * h[n];
            if (track && alive) {
                P[n] *= dA;
                if (!(P[n] >= MB_MAMBA_P_MIN)) P[n] = 0;
                q[(t - t0) * N + n] = P[n] * Cp[n];
                pmax = P[n] > pmax ? P[n] : pmax;
            }
        }
        if (track && alive && pmax == 0.0f) {
            alive = 0;
            *live = t + 1;
            for (int64_t n = 0; n < N; n++) P[n] = 0;
        }
        if (write_y) {
            float yt = acc + Dd * ut;
            if (m->z) {
                const float zt = m->z[ch + t];
                yt *= zt / (1.0f + expf(-zt));
            }
            m->y[ch + t] = yt;
        }
    }
#endif
    return dtsum;
}

/* scan_impl with N <= 16 (one vector of state: the compiler keeps it in a register across steps instead of a
   stack array) or any N */
#define SCAN(...) (m->N <= 16 ? scan_impl(__VA_ARGS__, 1, 1) : scan_impl(__VA_ARGS__, 0, 1))

double mb_mamba_scan_range(const struct mb_mamba *m, const float *Bt, const float *Ct, int64_t b, int64_t d,
                           int64_t t0, int64_t t1, float *h, int write_y, float *dA_buf, int dA_mode) {
    if (!write_y) return SCAN(m, Bt, Ct, b, d, t0, t1, h, 0, NULL, MB_MAMBA_DA_NONE, 0, NULL, NULL, NULL);
    if (dA_mode == MB_MAMBA_DA_STORE)
        return SCAN(m, Bt, Ct, b, d, t0, t1, h, 1, dA_buf, MB_MAMBA_DA_STORE, 0, NULL, NULL, NULL);
    if (dA_mode == MB_MAMBA_DA_LOAD)
        return SCAN(m, Bt, Ct, b, d, t0, t1, h, 1, dA_buf, MB_MAMBA_DA_LOAD, 0, NULL, NULL, NULL);
    return SCAN(m, Bt, Ct, b, d, t0, t1, h, 1, NULL, MB_MAMBA_DA_NONE, 0, NULL, NULL, NULL);
}

void mb_mamba_scan_group(const struct mb_mamba *m, const float *Bt, const float *Ct, int64_t b, int64_t d0,
                         int64_t count, int64_t t0, int64_t t1, float *h) {
#if defined(__AVX512F__)
    if (count == MB_MAMBA_GROUP && m->N <= 16) {
        scan_impl(m, Bt, Ct, b, d0, t0, t1, h, 1, NULL, MB_MAMBA_DA_NONE, 0, NULL, NULL, NULL, 1, MB_MAMBA_GROUP);
        return;
    }
#endif
    for (int64_t k = 0; k < count; k++)
        mb_mamba_scan_range(m, Bt, Ct, b, d0 + k, t0, t1, h + k * m->N, 1, NULL, MB_MAMBA_DA_NONE);
}

#if defined(__AVX512F__)
/* 16 channels in the 16 lanes (see family_mamba.h): per step, state n of the 16 channels is one vector, so every
 * operation is a full-width vertical one: no reduction of C_t . h_t across lanes, B_t[n] and C_t[n] are broadcast
 * memory operands, and the 16 states' recurrences are independent chains within the step (the step's 16 x 8
 * FMA-pipe operations hide every latency). The state vectors stay in registers: n runs over a constant 16, the
 * states n >= N skipped. Requires N <= 16 and the transposes Bt, Ct.
 * Spans of SPAN steps in three passes: (1) dt, dt u of the span, from tiles of 16 channels x 16 steps (rows: one
 * channel's 16 steps, transposed in registers) into step-major buffers; (2) the scan, C_t . h_t of each step into a
 * step-major buffer; (3) that buffer transposed back by tiles, skip and gate, y stored. Timed per pass (rdtsc, at
 * L = 1024, D = 1536), each runs at the speed it has alone with its data in L1 (pass 2: ~6.3 TSC cycles per 16
 * updates, passes 1 and 3: ~2 each). Softplus and the gate inside the scan loop instead (tried: one tile row per
 * step, software-pipelined) crowd the 16 state registers out to the stack. */
void mb_mamba_scan_lanes(const struct mb_mamba *m, const float *Bt, const float *Ct, int64_t b, int64_t d0,
                         int64_t t0, int64_t t1, float *h) {
    enum { W = MB_MAMBA_LANES, SPAN = 256 };
    const int64_t L = m->L, N = m->N, row0 = (b * m->D + d0) * L, end = m->batch * m->D * L;
    __m512 hv[W];
    float Aw[W][W] __attribute__((aligned(64))); /* Aw[n][k] = A[d0 + k][n] log2(e) */
    for (int n = 0; n < W; n++) {
        for (int k = 0; k < W; k++) Aw[n][k] = n < N ? mb_mamba_A(m, d0 + k, n) * MB_LOG2E : 0.0f;
        hv[n] = _mm512_loadu_ps(h + n * W);
    }
    /* step-major: [t - s0][channel k] */
    float dts[SPAN][W] __attribute__((aligned(64))), dus[SPAN][W] __attribute__((aligned(64)));
    float ys[SPAN][W] __attribute__((aligned(64)));
    for (int64_t s0 = t0; s0 < t1; s0 += SPAN) {
        const int64_t s1 = t1 - s0 < SPAN ? t1 : s0 + SPAN;
        for (int64_t tb = s0; tb < s1; tb += 16) { /* pass 1 */
            const __mmask16 tm = mb_mask16_first(s1 - tb);
            __m512 dt[16], du[16];
            for (int k = 0; k < W; k++) {
                const int64_t at = row0 + k * L + tb;
                const __m512 x =
                    _mm512_add_ps(_mm512_maskz_loadu_ps(tm, m->delta + at), _mm512_set1_ps(m->delta_bias[d0 + k]));
                dt[k] = m->softplus ? mb_mamba_softplus_ps(x) : x;
                du[k] = _mm512_mul_ps(dt[k], _mm512_maskz_loadu_ps(tm, m->u + at));
            }
            mb_transpose16_ps(dt);
            mb_transpose16_ps(du);
            for (int i = 0; i < 16; i++) {
                _mm512_store_ps(dts[tb - s0 + i], dt[i]);
                _mm512_store_ps(dus[tb - s0 + i], du[i]);
            }
        }
        for (int64_t t = s0; t < s1; t++) { /* pass 2 */
            { /* SPAN steps ahead, the line of one of the 16 rows per step (a fresh stream per row, which the hardware
                 prefetcher is slow to pick up); past t1, the same lines of the next 16 channels (the thread's next
                 block, usually) */
                int64_t col = (t & ~(int64_t)15) + SPAN, at = row0 + (t & 15) * L;
                if (col >= t1) {
                    col -= t1 - t0;
                    at += W * L;
                }
                at += col;
                if (at < end) {
                    _mm_prefetch((const char *)(m->delta + at), _MM_HINT_T0);
                    _mm_prefetch((const char *)(m->u + at), _MM_HINT_T0);
                    if (m->z) _mm_prefetch((const char *)(m->z + at), _MM_HINT_T0);
                }
            }
            const float *Bp = Bt + (b * L + t) * N, *Cp = Ct + (b * L + t) * N;
            const __m512 dti = _mm512_load_ps(dts[t - s0]), dui = _mm512_load_ps(dus[t - s0]);
            __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()}; /* two chains: even and odd n */
#pragma GCC unroll 16
            for (int n = 0; n < W; n++)
                if (n < N) {
                    const __m512 dA = mb_exp2_deg4_ps(_mm512_mul_ps(dti, _mm512_load_ps(Aw[n])));
                    hv[n] = _mm512_fmadd_ps(dA, hv[n], _mm512_mul_ps(dui, _mm512_set1_ps(Bp[n])));
                    acc[n & 1] = _mm512_fmadd_ps(_mm512_set1_ps(Cp[n]), hv[n], acc[n & 1]);
                }
            _mm512_store_ps(ys[t - s0], _mm512_add_ps(acc[0], acc[1]));
        }
        for (int64_t tb = s0; tb < s1; tb += 16) { /* pass 3 */
            const __mmask16 tm = mb_mask16_first(s1 - tb);
            __m512 y[16];
            for (int i = 0; i < 16; i++) y[i] = tb + i < s1 ? _mm512_load_ps(ys[tb - s0 + i]) : _mm512_setzero_ps();
            mb_transpose16_ps(y); /* y[k]: channel k's 16 steps */
            /* every load of the tile before its first store: rows lie 4 L bytes apart, so at L a multiple of 1024
               the tile's rows of u, z and y share their address bits 0-11, and a load issued behind a store to the
               same 4 KiB offset waits for the store's data (the gate's chain): the rows ran one after the other
               (measured: this pass 2.4 -> 1.75 cycles of the TSC per 16 state updates at L = 1024, D = 1536) */
            for (int k = 0; k < W; k++) {
                const __m512 uv = _mm512_maskz_loadu_ps(tm, m->u + row0 + k * L + tb);
                y[k] = _mm512_fmadd_ps(_mm512_set1_ps(m->D_skip[d0 + k]), uv, y[k]);
            }
            if (m->z)
                for (int k = 0; k < W; k++)
                    y[k] = _mm512_mul_ps(y[k], mb_mamba_silu_ps(_mm512_maskz_loadu_ps(tm, m->z + row0 + k * L + tb)));
            for (int k = 0; k < W; k++) _mm512_mask_storeu_ps(m->y + row0 + k * L + tb, tm, y[k]);
        }
    }
    for (int n = 0; n < W; n++) _mm512_storeu_ps(h + n * W, hv[n]);
}
#endif

double mb_mamba_scan_local(const struct mb_mamba *m, const float *Bt, const float *Ct, int64_t b, int64_t d,
                           int64_t t0, int64_t t1, float *h, float *P, float *q, int64_t *live) {
    return SCAN(m, Bt, Ct, b, d, t0, t1, h, 1, NULL, MB_MAMBA_DA_NONE, 1, q, P, live);
}

void mb_mamba_correct(const struct mb_mamba *m, int64_t b, int64_t d, int64_t t0, int64_t t1, const float *q,
                      const float *H) {
    const int64_t L = m->L, N = m->N, ch = (b * m->D + d) * L;
#if defined(__AVX512F__)
    enum { MAXV = 16 };
    __m512 Hv[MAXV];
    __mmask16 mask[MAXV];
    const int nv = (int)((N + 15) / 16);
    for (int j = 0; j < nv; j++) {
        const int64_t left = N - 16 * j;
        mask[j] = mb_mask16_first(left);
        Hv[j] = _mm512_maskz_loadu_ps(mask[j], H + 16 * j);
    }
    for (int64_t tb = t0; tb < t1; tb += 16) {
        const int64_t cnt = t1 - tb < 16 ? t1 - tb : 16;
        const __mmask16 tm = mb_mask16_first(cnt);
        __m512 r[16];
        for (int64_t i = 0; i < 16; i++) {
            __m512 acc = _mm512_setzero_ps();
            if (i < cnt) {
                const float *qt = q + (tb + i - t0) * N;
                for (int j = 0; j < nv; j++) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask[j], qt + 16 * j), Hv[j], acc);
            }
            r[i] = acc;
        }
        mb_transpose16_ps(r); /* r[k] lane i = step i's lane k: summing the rows gives the 16 dot products */
        for (int k = 8; k >= 1; k /= 2)
            for (int i = 0; i < k; i++) r[i] = _mm512_add_ps(r[i], r[i + k]);
        __m512 corr = r[0];
        if (m->z) corr = _mm512_mul_ps(corr, mb_mamba_silu_ps(_mm512_maskz_loadu_ps(tm, m->z + ch + tb)));
        _mm512_mask_storeu_ps(m->y + ch + tb, tm, _mm512_add_ps(_mm512_maskz_loadu_ps(tm, m->y + ch + tb), corr));
    }
#else
    for (int64_t t = t0; t < t1; t++) {
        const float *qt = q + (t - t0) * N;
        float acc = 0;
        for (int64_t n = 0; n < N; n++) acc += qt[n] * H[n];
        if (m->z) {
            const float zt = m->z[ch + t];
            acc *= zt / (1.0f + expf(-zt));
        }
        m->y[ch + t] += acc;
    }
#endif
}

/* ------------------------------------------------------------------------------------------ chunk driver */
int64_t mb_ssm_default_chunk(int64_t sequences, int64_t length, int threads) {
    if (threads <= 1 || sequences >= 4 * (int64_t)threads) return length > 0 ? length : 1;
    int64_t chunks_per_seq = (4 * (int64_t)threads + sequences - 1) / sequences;
    int64_t chunk = (length + chunks_per_seq - 1) / chunks_per_seq;
    if (chunk < 256) chunk = 256; /* below this the carry passes cost more than they save */
    return chunk;
}

void mb_ssm_chunked_scan(const struct mb_ssm_chunk_ops *o, float *work) {
    const int64_t C = mb_ssm_chunk_count(o->length, o->chunk), S = o->state, items = o->sequences * C;
    /* work: per (seq, chunk): [E_c or H_c (state) | P_c (state)] */
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        const int64_t seq = it / C, c = it % C, t0 = c * o->chunk;
        const int64_t t1 = t0 + o->chunk < o->length ? t0 + o->chunk : o->length;
        float *E = work + it * 2 * S, *P = E + S;
        memset(E, 0, (size_t)S * sizeof(float));
        if (c == 0) o->scan(o->ctx, seq, t0, t1, E);
        else o->local(o->ctx, seq, t0, t1, E, P);
    }
    if (C == 1) return;
#pragma omp for schedule(static)
    for (int64_t seq = 0; seq < o->sequences; seq++) {
        float tmp[MB_SSM_MAX_STATE];
        for (int64_t c = 1; c < C; c++) {
            float *prev = work + (seq * C + c - 1) * 2 * S, *E = work + (seq * C + c) * 2 * S, *P = E + S;
            memcpy(tmp, prev, (size_t)S * sizeof(float));
            o->combine(o->ctx, tmp, P, E);               /* tmp = H_c = P_c H_{c-1} + E_c */
            memcpy(P, prev, (size_t)S * sizeof(float));  /* slot 1 <- H_{c-1}: the carry into chunk c */
            memcpy(E, tmp, (size_t)S * sizeof(float));   /* slot 0 <- H_c */
        }
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        const int64_t seq = it / C, c = it % C, t0 = c * o->chunk;
        if (c == 0) continue;
        const int64_t t1 = t0 + o->chunk < o->length ? t0 + o->chunk : o->length;
        o->scan(o->ctx, seq, t0, t1, work + it * 2 * S + S);
    }
}

/* ------------------------------------------------------------------------------------------ oracle */
static double softplus_d(double x) { return x > 20.0 ? x : log1p(exp(x)); }

/* y[0..L) of channel (b, d) in double; h: room for N doubles */
static void mamba_oracle(const struct mb_mamba *m, int64_t b, int64_t d, double *y, double *h) {
    const int64_t L = m->L, N = m->N, ch = (b * m->D + d) * L;
    const float *Bs = m->B + b * N * L, *Cs = m->C + b * N * L;
    for (int64_t n = 0; n < N; n++) h[n] = 0;
    for (int64_t t = 0; t < L; t++) {
        const double x = (double)m->delta[ch + t] + m->delta_bias[d], dt = m->softplus ? softplus_d(x) : x;
        const double ut = m->u[ch + t];
        double acc = 0;
        for (int64_t n = 0; n < N; n++) {
            const double A = m->A ? (double)m->A[d * N + n] : -exp((double)m->A_log[d * N + n]);
            h[n] = exp(dt * A) * h[n] + dt * Bs[n * L + t] * ut;
            acc += Cs[n * L + t] * h[n];
        }
        y[t] = acc + (double)m->D_skip[d] * ut;
        if (m->z) {
            const double zt = m->z[ch + t];
            y[t] *= zt / (1.0 + exp(-zt));
        }
    }
}

typedef void (*mamba_oracle_fn)(const struct mb_mamba *m, int64_t b, int64_t d, double *y, double *h);

/* The check runs on the driver of core/check.h. Rows: channels (b, d), each a time series of L steps
 * (groups = batch, D rows each); decode kernels (MB_KERNEL_LAST_ROW): the last step of each channel (groups =
 * channels, L rows of one value each, the last one checked). */
struct mamba_rows {
    const struct mb_mamba *m;
    mamba_oracle_fn oracle;
};

/* want = y[0..L) of channel row; scratch: N doubles */
static void channel_row(const void *ctx, int64_t row, double *scratch, double *want) {
    const struct mamba_rows *x = ctx;
    x->oracle(x->m, row / x->m->D, row % x->m->D, want, scratch);
}

/* want = y[L-1] of channel row / L; scratch: L + N doubles */
static void last_step_row(const void *ctx, int64_t row, double *scratch, double *want) {
    const struct mamba_rows *x = ctx;
    const int64_t ch = row / x->m->L;
    x->oracle(x->m, ch / x->m->D, ch % x->m->D, scratch, scratch + x->m->L);
    want[0] = scratch[x->m->L - 1];
}

static int mamba_check(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism,
                       const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    const struct mb_mechanism *mech = mb_family_mechanism(&mb_family_ssm_mamba, mechanism);
    if (!mech || !mech->oracle) return mb_errorf(err, errlen, "ssm.mamba has no oracle for mechanism '%s'", mechanism);
    struct mb_mamba m;
    mb_mamba_bind(&m, (struct mb_workload *)w);
    const struct mamba_rows x = {&m, (mamba_oracle_fn)mech->oracle};
    if (k->flags & MB_KERNEL_LAST_ROW) {
        const struct mb_row_check c = {.width = 1, .scratch = m.L + m.N, .got = m.y, .oracle = last_step_row,
                                       .ctx = &x};
        return mb_check_sampled(&c, m.batch * m.D, m.L, 1, opts, out, err, errlen);
    }
    const struct mb_row_check c = {.width = m.L, .scratch = m.N, .got = m.y, .oracle = channel_row, .ctx = &x};
    return mb_check_sampled(&c, m.batch, m.D, 0, opts, out, err, errlen);
}

const struct mb_family mb_family_ssm_mamba = {
    .name = "ssm.mamba",
    .summary = "selective scan: u, delta, z (batch, D, L), A_log (D, N), B, C (batch, N, L), D_skip, delta_bias (D) "
               "-> y (batch, D, L); or selective_scan_ref's names: A (D, N) = -exp(A_log), D (D) for D_skip (eval tells "
               "them apart; sweeps: params names=ref)",
    MB_SSM_TABLE(axes, mamba_axes),
    MB_SSM_TABLE(params, mamba_params),
    MB_SSM_TABLE(mechanisms, mamba_mechanisms),
    .layout = mamba_layout,
    .fill = mamba_fill,
    .point_from_inputs = mamba_point_from_inputs,
    .choose_inputs = mamba_choose_inputs,
    .check = mamba_check,
};
