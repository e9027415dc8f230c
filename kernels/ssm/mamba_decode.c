/* ssm.mamba.decode: one recurrent decoding step of Mamba's selective SSM (the inference mode: constant cost per
 * token, independent of the context length L).
 *
 * Setup (untimed) plays tokens 0 .. L-2 into the state h_{L-2} (batch, D, N) (the "SSM cache"). The timed run does
 * the step of token t = L-1 from that cache:
 *   dt = softplus(delta_t + delta_bias) (delta_softplus=0: delta_t + delta_bias), h' = exp(dt A) (.) h + dt u_t B_t,
 *   y_t = (C_t . h' + D_skip u_t) silu(z_t)
 * writing only y[:, :, L-1] (MB_KERNEL_LAST_ROW: the oracle checks the last step) and h' to a separate buffer (the
 * cache itself is not modified, so repeated runs are identical). B_t, C_t (N per batch) and the step's u, delta, z
 * are gathered from their strided positions first; softplus and the gate are vectorised over channels, the state
 * update over N (AVX-512, SLEEF exp).
 * Cost: ~ (7 N + 10) FLOPs and N exp per channel: O(batch D N), independent of L.
 * Source: Gu & Dao 2023, "Mamba", sec. 3.4 / 4.5 (recurrent inference); mamba_ssm selective_state_update.
 */
#include "ssm/family_mamba.h"
#include "core/vmask.h"

#include <immintrin.h>
#include <omp.h>
#include <sleef.h>
#include <stdlib.h>
#include <string.h>

struct decode {
    struct mb_mamba m;
    float *cache, *h;       /* (batch, D, N): h_{L-2}, and h_{L-1} */
    float *Bt, *Ct;         /* (batch, 1, N) gathered B_t, C_t */
    float *u, *delta, *z, *y, *dt; /* (batch, D): the step's inputs, output and softplus'd step */
};

static void release(struct decode *s) {
    mb_free(s->cache);
    mb_free(s->h);
    mb_free(s->Bt);
    mb_free(s->Ct);
    mb_free(s->u);
    mb_free(s->delta);
    mb_free(s->z);
    mb_free(s->y);
    mb_free(s->dt);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct decode *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_mamba_bind(&s->m, w);
    const struct mb_mamba *m = &s->m;
    const size_t chans = (size_t)(m->batch * m->D), state_f = chans * (size_t)m->N;
    s->cache = mb_alloc(state_f * sizeof(float));
    s->h = mb_alloc(state_f * sizeof(float));
    s->Bt = mb_alloc((size_t)(m->batch * m->N) * sizeof(float));
    s->Ct = mb_alloc((size_t)(m->batch * m->N) * sizeof(float));
    s->u = mb_alloc(chans * sizeof(float));
    s->delta = mb_alloc(chans * sizeof(float));
    s->z = mb_alloc(chans * sizeof(float));
    s->y = mb_alloc(chans * sizeof(float));
    s->dt = mb_alloc(chans * sizeof(float));
    float *Bt = mb_alloc((size_t)(m->batch * m->L * m->N) * sizeof(float));
    float *Ct = mb_alloc((size_t)(m->batch * m->L * m->N) * sizeof(float));
    if (!s->cache || !s->h || !s->Bt || !s->Ct || !s->u || !s->delta || !s->z || !s->y || !s->dt || !Bt || !Ct) {
        mb_free(Bt);
        mb_free(Ct);
        release(s);
        return mb_errorf(err, errlen, "out of memory for the decode state");
    }
    /* the cache: tokens 0 .. L-2 */
#pragma omp parallel
    {
        mb_mamba_transpose_bc(m, Bt, Ct);
#pragma omp for schedule(dynamic, 1)
        for (int64_t ch = 0; ch < m->batch * m->D; ch++)
            mb_mamba_scan_range(m, Bt, Ct, ch / m->D, ch % m->D, 0, m->L - 1, s->cache + ch * m->N, 0, NULL, MB_MAMBA_DA_NONE);
    }
    mb_free(Bt);
    mb_free(Ct);
    *state = s;
    return 0;
}

/* y[ch] (ch = b D + d) of one step from h (updated): dt, skip and gate vectorised over channels, the state
 * update over N */
static void step(const struct mb_mamba *m, const float *Bt, const float *Ct, const float *u, const float *delta,
                 const float *z, float *h, float *dt, float *y, int64_t ch0, int64_t ch1) {
    const int64_t N = m->N, D = m->D;
    for (int64_t ch = ch0; ch < ch1; ch++) dt[ch] = delta[ch] + m->delta_bias[ch % D];
    int64_t ch = m->softplus ? ch0 : ch1; /* delta_softplus=0: dt = delta + bias */
#if defined(__AVX512F__)
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; ch + 16 <= ch1; ch += 16) _mm512_storeu_ps(dt + ch, mb_mamba_softplus_ps(_mm512_loadu_ps(dt + ch)));
#endif
    for (; ch < ch1; ch++) dt[ch] = mb_mamba_softplus(dt[ch]);
    for (ch = ch0; ch < ch1; ch++) {
        const int64_t b = ch / D, d = ch % D;
        const float *Bp = Bt + b * N, *Cp = Ct + b * N;
        float *hp = h + ch * N;
        const float dtv = dt[ch], du = dtv * u[ch];
        float acc = 0.0f;
        int64_t n = 0;
#if defined(__AVX512F__)
        const float *Aref = m->A ? m->A + d * N : NULL, *Al = m->A ? NULL : m->A_log + d * N;
        __m512 vacc = _mm512_setzero_ps();
        const __m512 vdt = _mm512_set1_ps(dtv), vdu = _mm512_set1_ps(du);
        for (; n < N; n += 16) {
            const __mmask16 k = mb_mask16_first(N - n);
            const __m512 A = Aref ? _mm512_maskz_loadu_ps(k, Aref + n)
                                  : _mm512_sub_ps(_mm512_setzero_ps(), Sleef_expf16_u10(_mm512_maskz_loadu_ps(k, Al + n)));
            const __m512 dA = Sleef_expf16_u10(_mm512_mul_ps(vdt, A));
            const __m512 hv = _mm512_fmadd_ps(dA, _mm512_maskz_loadu_ps(k, hp + n),
                                              _mm512_mul_ps(vdu, _mm512_maskz_loadu_ps(k, Bp + n)));
            _mm512_mask_storeu_ps(hp + n, k, hv);
            vacc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, Cp + n), hv, vacc);
        }
        acc = _mm512_reduce_add_ps(vacc);
#endif
        for (; n < N; n++) {
            hp[n] = expf(mb_mamba_A(m, d, n) * dtv) * hp[n] + du * Bp[n];
            acc += Cp[n] * hp[n];
        }
        y[ch] = acc + m->D_skip[d] * u[ch];
    }
    if (z) {
        ch = ch0;
#if defined(__AVX512F__)
        for (; ch + 16 <= ch1; ch += 16) {
            const __m512 zv = _mm512_loadu_ps(z + ch);
            const __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, Sleef_expf16_u10(_mm512_sub_ps(_mm512_setzero_ps(), zv))));
            _mm512_storeu_ps(y + ch, _mm512_mul_ps(_mm512_loadu_ps(y + ch), _mm512_mul_ps(zv, sig)));
        }
#endif
        for (; ch < ch1; ch++) y[ch] *= z[ch] / (1.0f + expf(-z[ch]));
    }
}

static void run(void *state) {
    struct decode *s = state;
    const struct mb_mamba *m = &s->m;
    const int64_t L = m->L, N = m->N, t = L - 1, chans = m->batch * m->D;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < m->batch * N; i++) {
            s->Bt[i] = m->B[i * L + t];
            s->Ct[i] = m->C[i * L + t];
        }
#pragma omp for schedule(static)
        for (int64_t ch = 0; ch < chans; ch++) {
            s->u[ch] = m->u[ch * L + t];
            s->delta[ch] = m->delta[ch * L + t];
            if (m->z) s->z[ch] = m->z[ch * L + t];
            memcpy(s->h + ch * N, s->cache + ch * N, (size_t)N * sizeof(float));
        }
        /* contiguous channel ranges, 16-aligned, one per thread */
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const int64_t per = ((chans + nt - 1) / nt + 15) / 16 * 16;
        const int64_t c0 = id * per < chans ? id * per : chans, c1 = c0 + per < chans ? c0 + per : chans;
        if (c0 < c1) step(m, s->Bt, s->Ct, s->u, s->delta, m->z ? s->z : NULL, s->h, s->dt, s->y, c0, c1);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t ch = 0; ch < chans; ch++) m->y[ch * L + t] = s->y[ch];
    }
}

static void teardown(void *state) { release(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return (double)p->batch * p->d * (7.0 * p->rank + 10.0); }

/* the cache read and the new state written, A_log, the step's inputs */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return 4.0 * (2.0 * p->batch * p->d * p->rank + p->d * p->rank + 2.0 * p->batch * p->rank + 5.0 * p->batch * p->d);
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    /* peak in setup: the transposed B, C of the prefill */
    return 4.0 * (2.0 * p->batch * p->d * p->rank + 2.0 * p->batch * p->rank * (p->n + 1) + 4.0 * p->batch * p->d);
}

const struct mb_kernel mb_kernel_ssm_mamba_decode = {
    .name = "ssm.mamba.decode",
    MB_MAMBA_KERNEL(0),
    .summary = "one decoding step from the SSM state of tokens 0..L-2 (built in setup); output y at t = L-1 only",
    .complexity = "O(batch D N) time per token, independent of L; O(batch D N) state",
    .rank_meaning = "N, SSM state size per channel",
    .flags = MB_KERNEL_LAST_ROW,
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
