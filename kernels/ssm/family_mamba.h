/* ssm.mamba family: the selective scan of Mamba (Gu & Dao 2023), semantics of the reference `selective_scan_ref`
 * (mamba_ssm/ops/selective_scan_interface.py) with real A and variable B, C.
 *
 * Tensors (PyTorch layout, float32, row-major). Two namings, chosen by params names=module|ref (default module):
 *   module (the Mamba block's parameters)   ref (selective_scan_ref's arguments)
 *   u, delta    (batch, D, L)               u, delta     input and step (before bias and softplus)
 *   A_log       (D, N)                      A            A = -exp(A_log) (reference init: A_log[d, n] = log(n + 1))
 *   B, C        (batch, N, L)               B, C         input-dependent ("selective") B_t, C_t
 *   D_skip      (D)                         D            skip connection
 *   delta_bias  (D)                         delta_bias
 *   z           (batch, D, L)               z            gate, present when params gate=1 (default)
 *   y           (batch, D, L)               y            output (selective_scan_ref's return value)
 * (selective_scan_ref's optional D, delta_bias are required here: pass zeros for None; z is gate=1.)
 *   dt_t = softplus(delta_t + delta_bias)   (params delta_softplus=1, the default and the block's call; threshold
 *                                            20, as torch.nn.functional.softplus), or delta_t + delta_bias (=0,
 *                                            selective_scan_ref's own default)
 *   h_t  = exp(dt_t A) * h_{t-1} + dt_t B_t u_t      (N states per channel, h_{-1} = 0)
 *   y_t  = C_t . h_t + D u_t;  y_t *= silu(z_t)      (gate)
 * Channels (b, d) are independent: the oracle checks a seeded sample of channels, all L steps of each (decode
 * kernels, MB_KERNEL_LAST_ROW: only the last step).
 */
#ifndef MB_SSM_FAMILY_MAMBA_H
#define MB_SSM_FAMILY_MAMBA_H

#include <math.h>

#include "core/mechbench.h"
#include "core/vexp.h"
#include "ssm/family_ssm.h"

extern const struct mb_family mb_family_ssm_mamba;

enum mb_mamba_names { MB_MAMBA_NAMES_MODULE, MB_MAMBA_NAMES_REF }; /* params names=module|ref */

struct mb_mamba {
    int64_t batch, D, L, N;
    int softplus;               /* params delta_softplus */
    const float *u, *delta;     /* (batch, D, L) */
    const float *A_log;         /* (D, N), names=module (else NULL): A = -exp(A_log) */
    const float *A;             /* (D, N), names=ref (else NULL) */
    const float *B, *C;         /* (batch, N, L) */
    const float *D_skip, *delta_bias; /* (D): D_skip is the reference's D */
    const float *z;             /* (batch, D, L) or NULL */
    float *y;                   /* (batch, D, L) */
};
void mb_mamba_bind(struct mb_mamba *m, struct mb_workload *w);

/* Bt, Ct (batch, L, N) <- B, C (batch, N, L): time-major so one step reads N contiguous floats. Call inside an
 * OpenMP parallel region (work-shared with omp for). */
void mb_mamba_transpose_bc(const struct mb_mamba *m, float *Bt, float *Ct);

/* Transpose B, C to (batch, L, N) only when enough channels share them: with few channels per batch the round
 * trip of the transposed copies through memory costs more than gathering 16 steps at a time per channel. */
static inline int mb_mamba_use_transpose(const struct mb_point *p) { return p->d > 4; }

/* Scan channel (b, d) over steps [t0, t1) from state h[0..N) (updated in place). Bt, Ct: the transposes, or NULL
 * to gather B_t, C_t from (batch, N, L) per block of 16 steps. With write_y, writes y[t0..t1)
 * (skip and gate included); otherwise only advances the state. Returns sum of dt over the steps (so the
 * chunk's total decay is exp(A * sum dt)). Vectorised over N (AVX-512, exp by harness/core/vexp.h).
 * dA_mode (kept for rescans; the kernels pass _NONE): MB_MAMBA_DA_NONE; _STORE: also write exp(dt_t A) to dA_buf[t * N + n]; _LOAD: read exp(dt_t A) from
 * dA_buf instead of computing it (a rescan after a storing pass: no exp). dA_buf is the channel's (L, N) buffer. */
enum { MB_MAMBA_DA_NONE, MB_MAMBA_DA_STORE, MB_MAMBA_DA_LOAD };
double mb_mamba_scan_range(const struct mb_mamba *m, const float *Bt, const float *Ct, int64_t b, int64_t d,
                           int64_t t0, int64_t t1, float *h, int write_y, float *dA_buf, int dA_mode);

/* Channels d0 .. d0 + count - 1 of batch b over [t0, t1), writing y, from the states h (count x N floats, channel
 * k's at h + k N; updated): as mb_mamba_scan_range per channel, but a group of exactly MB_MAMBA_GROUP channels with
 * N <= 16 is scanned interleaved (AVX-512: the independent recurrences overlap their exp and FMA latencies and share
 * the loads of B_t, C_t). */
#define MB_MAMBA_GROUP 4
void mb_mamba_scan_group(const struct mb_mamba *m, const float *Bt, const float *Ct, int64_t b, int64_t d0,
                         int64_t count, int64_t t0, int64_t t1, float *h);

/* Channels d0 .. d0 + MB_MAMBA_LANES - 1 of batch b over [t0, t1), writing y, from the states h (16 x
 * MB_MAMBA_LANES floats: state n of the block's channels at h + n MB_MAMBA_LANES; updated), AVX-512 only, N <= 16,
 * Bt and Ct required: the channels in the vector lanes, the state in registers (see family_mamba.c). */
#define MB_MAMBA_LANES 16
#if defined(__AVX512F__)
void mb_mamba_scan_lanes(const struct mb_mamba *m, const float *Bt, const float *Ct, int64_t b, int64_t d0,
                         int64_t t0, int64_t t1, float *h);
#endif

/* Local pass of a chunk [t0, t1) whose incoming carry H is not known yet: scans from h (normally 0), writing y of
 * the local state, and stores q_t = C_t (.) P_t, P_t = prod_{t0 <= s <= t} exp(dt_s A) = exp(A S_t) (S_t the
 * in-chunk prefix sum of dt) at q[(t - t0) N + n], so that once H is known the exact output is
 * y_t + silu(z_t) C_t . (P_t (.) H) (mb_mamba_correct): no rescan, no exp. P[0..N) <- P_{t1-1}, the chunk's total
 * decay. Lanes of P below MB_MAMBA_P_MIN = 2^-100 are flushed to 0 after each 16-step block (the carry's share is then 2^-100 of the
 * carry, far below float rounding of the state unless |H| > 2^76 |h|; and no subnormal arithmetic, slow on some
 * cores); once every lane is 0 tracking stops: *live = the end of that 16-step block (else t1), and q is only
 * written for [t0, *live). Returns sum of dt. */
#define MB_MAMBA_P_MIN 0x1p-100f
double mb_mamba_scan_local(const struct mb_mamba *m, const float *Bt, const float *Ct, int64_t b, int64_t d,
                           int64_t t0, int64_t t1, float *h, float *P, float *q, int64_t *live);
/* y_t += silu(z_t) (q_t . H) for t in [t0, t1) of channel (b, d) (no gate: y_t += q_t . H); q points at step t0's
 * row (N floats per step). Vectorised over 16 steps: one FMA per 16 states per step, no exp but the gate's. */
void mb_mamba_correct(const struct mb_mamba *m, int64_t b, int64_t d, int64_t t0, int64_t t1, const float *q,
                      const float *H);

/* softplus with torch's threshold 20 */
static inline float mb_mamba_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

#if defined(__AVX512F__)
/* softplus of 16 lanes (the AVX-512 twin of mb_mamba_softplus, inline: SLEEF's log1p call cost as much as 16 steps
 * of the scan):  softplus(x) = max(x, 0) + log1p(e),  e = exp(-|x|) in (0, 1], and
 *   log1p(e) = 2 atanh(s),  s = e / (2 + e) in (0, 1/3]:  2 s (1 + s^2/3 + s^4/5 + ... + s^12/13)
 * (the series' tail is below 9^-7 / 15 = 1.6e-8 relative; no cancellation, unlike log(1 + e) for small e). Relative
 * error ~ 4e-7, dominated by exp's argument rounding; x > 20 gives x as torch's threshold does (log1p(e) < ulp(x) / 2
 * there). -|x| is clamped at -200 (exp gives 0) so x = +-inf gives +inf / 0; NaN stays NaN (max_ps returns its
 * second operand when one is NaN). */
static inline __m512 mb_mamba_softplus_ps(__m512 x) {
    const __m512 negabs = _mm512_max_ps(_mm512_set1_ps(-200.0f), _mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(x)));
    const __m512 e = mb_exp_ps(negabs);
    const __m512 s = _mm512_div_ps(e, _mm512_add_ps(_mm512_set1_ps(2.0f), e)), w = _mm512_mul_ps(s, s);
    __m512 p = _mm512_set1_ps(1.0f / 13);
    p = _mm512_fmadd_ps(p, w, _mm512_set1_ps(1.0f / 11));
    p = _mm512_fmadd_ps(p, w, _mm512_set1_ps(1.0f / 9));
    p = _mm512_fmadd_ps(p, w, _mm512_set1_ps(1.0f / 7));
    p = _mm512_fmadd_ps(p, w, _mm512_set1_ps(1.0f / 5));
    p = _mm512_fmadd_ps(p, w, _mm512_set1_ps(1.0f / 3));
    p = _mm512_fmadd_ps(p, w, _mm512_set1_ps(1.0f));
    const __m512 two_s = _mm512_add_ps(s, s);
    return _mm512_add_ps(_mm512_max_ps(_mm512_setzero_ps(), x), _mm512_mul_ps(two_s, p));
}

/* silu(z) = z sigmoid(z) of 16 lanes: the gate */
static inline __m512 mb_mamba_silu_ps(__m512 z) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_mul_ps(z, _mm512_div_ps(one, _mm512_add_ps(one, mb_exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), z)))));
}
#endif
/* A of state n of channel d (either naming) */
static inline float mb_mamba_A(const struct mb_mamba *m, int64_t d, int64_t n) {
    return m->A ? m->A[d * m->N + n] : -expf(m->A_log[d * m->N + n]);
}

/* ---- Chunked scan driver (local scans, carries, rescans), used by ssm.lru.scan_parallel (ssm.mamba.scan_parallel
 * has its own uneven split with a no-rescan correction: mb_mamba_scan_local, mb_mamba_correct).
 * A diagonal linear recurrence h_t = a_t (.) h_{t-1} + x_t over `sequences` independent sequences of `length`
 * steps, state of `state` floats, is split in chunks of `chunk` steps:
 *   phase 1 (parallel over sequence x chunk): chunk 0 is scanned for real from h = 0 (its carry is known);
 *            every other chunk computes its local end state E_c (from 0) and total decay P_c = prod a_t;
 *   phase 2 (parallel over sequences): carries H_c = P_c (.) H_{c-1} + E_c, sequential over chunks;
 *   phase 3 (parallel over sequence x chunk >= 1): rescan chunk c from H_{c-1}, writing outputs.
 * Must be called inside an OpenMP parallel region by every thread. */
#define MB_SSM_MAX_STATE 512 /* floats */
struct mb_ssm_chunk_ops {
    void *ctx;
    int64_t sequences, length, chunk;
    int state; /* floats per state */
    /* scan [t0, t1) of seq from h (in/out), writing its outputs */
    void (*scan)(void *ctx, int64_t seq, int64_t t0, int64_t t1, float *h);
    /* from h = 0: end state into h, total decay of the steps into decay (state floats) */
    void (*local)(void *ctx, int64_t seq, int64_t t0, int64_t t1, float *h, float *decay);
    /* carry <- decay (.) carry + h (state floats) */
    void (*combine)(void *ctx, float *carry, const float *decay, const float *h);
};
static inline int64_t mb_ssm_chunk_count(int64_t length, int64_t chunk) { return (length + chunk - 1) / chunk; }
/* floats of workspace mb_ssm_chunked_scan needs */
static inline int64_t mb_ssm_chunk_workspace(int64_t sequences, int64_t length, int64_t chunk, int state) {
    return sequences * mb_ssm_chunk_count(length, chunk) * 2 * (int64_t)state;
}
void mb_ssm_chunked_scan(const struct mb_ssm_chunk_ops *ops, float *work);
/* Default chunk: one chunk per sequence when there are enough sequences for the team, else ~4 chunks per thread
 * spread over the sequences. */
int64_t mb_ssm_default_chunk(int64_t sequences, int64_t length, int threads);

/* The descriptor fields every ssm.mamba kernel shares (designated initialisers); extra_axes: 0 or e.g. block. */
#define MB_MAMBA_KERNEL(extra_axes)                                                                                    \
    .family = &mb_family_ssm_mamba, .mechanism = "selective_scan",                                                    \
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(rank) | (extra_axes), MB_KERNEL_SOURCE

#endif
