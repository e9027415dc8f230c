/* ssm.s4d.recurrent: diagonal SSM (S4D) as a complex diagonal recurrence -- the recurrent twin of
 * ssm.s4d.vandermonde (Gu et al. 2022, S4D, section 2).
 *
 *   h_{t,n} = Abar_n h_{t-1,n} + u_t,   y_t = Re(sum_n (C_n Bbar_n) h_{t,n}),   Abar_n = exp(dt A_n) (ZOH, B = 1)
 * Setup: Abar_n and C_n Bbar_n in double (parameters only), stored as float32 (re, im planes). Timed run: the scan,
 * O(L N) per channel, SIMD over the N modes, OpenMP over the batch x D channels.
 * Shapes: u, y (batch, D, L); dt (D); A_re, A_im, C_re, C_im (D, N).
 */
#include "ssm/family_s4.h"

#include <stdlib.h>

struct s4d_rec {
    struct mb_s4 s;
    float *zr, *zi, *cr, *ci; /* (D, N) */
};

static void teardown(void *state) {
    struct s4d_rec *r = state;
    mb_free(r->zr);
    mb_free(r->zi);
    mb_free(r->cr);
    mb_free(r->ci);
    free(r);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct s4d_rec *r = calloc(1, sizeof *r);
    if (!r) return mb_errorf(err, errlen, "out of memory");
    mb_s4_bind(&r->s, w);
    const int64_t N = r->s.N, D = r->s.D;
    const size_t bytes = (size_t)(D * N) * sizeof(float);
    r->zr = mb_alloc(bytes);
    r->zi = mb_alloc(bytes);
    r->cr = mb_alloc(bytes);
    r->ci = mb_alloc(bytes);
    double *m = malloc((size_t)(4 * N) * sizeof(double));
    if (!r->zr || !r->zi || !r->cr || !r->ci || !m) {
        free(m);
        teardown(r);
        return mb_errorf(err, errlen, "out of memory");
    }
    for (int64_t ch = 0; ch < D; ch++) {
        mb_s4d_modes(&r->s, ch, m, m + N, m + 2 * N, m + 3 * N);
        for (int64_t n = 0; n < N; n++) {
            r->zr[ch * N + n] = (float)m[n];
            r->zi[ch * N + n] = (float)m[N + n];
            r->cr[ch * N + n] = (float)m[2 * N + n];
            r->ci[ch * N + n] = (float)m[3 * N + n];
        }
    }
    free(m);
    *state = r;
    return 0;
}

#define MAXN 1024

static void run(void *state) {
    const struct s4d_rec *r = state;
    const struct mb_s4 *s = &r->s;
    const int64_t N = s->N, L = s->L, D = s->D;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t p = 0; p < s->batch * D; p++) {
        const int64_t ch = p % D;
        const float *restrict zr = r->zr + ch * N, *restrict zi = r->zi + ch * N;
        const float *restrict cr = r->cr + ch * N, *restrict ci = r->ci + ch * N;
        const float *u = s->u + p * L;
        float *y = s->y + p * L;
        float hr[MAXN] __attribute__((aligned(64))), hi[MAXN] __attribute__((aligned(64)));
        for (int64_t n = 0; n < N; n++) hr[n] = hi[n] = 0;
        for (int64_t t = 0; t < L; t++) {
            const float ut = u[t];
            float yt = 0;
#pragma omp simd reduction(+ : yt)
            for (int64_t n = 0; n < N; n++) {
                const float a = zr[n] * hr[n] - zi[n] * hi[n] + ut, b = zr[n] * hi[n] + zi[n] * hr[n];
                hr[n] = a;
                hi[n] = b;
                yt += cr[n] * a - ci[n] * b;
            }
            y[t] = yt;
        }
    }
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return 10.0 * (double)p->batch * p->d * p->n * p->rank; }
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_s4_io_bytes(p); }
static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return 16.0 * (double)p->d * p->rank; }

const struct mb_kernel mb_kernel_ssm_s4d_recurrent = {
    .name = "ssm.s4d.recurrent",
    MB_S4D_KERNEL,
    .summary = "S4D (diagonal, ZOH) as a complex diagonal recurrence, SIMD over the N modes",
    .complexity = "O(L N) time per channel, O(D N) memory",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
