/* ssm.s4d.vandermonde: diagonal SSM (S4D) by Vandermonde kernel + FFT convolution (Gu et al. 2022, "On the
 * Parameterization and Initialization of Diagonal State Space Models", section 3, Listing 1).
 *
 *   Abar_n = exp(dt A_n), Bbar_n = (exp(dt A_n) - 1)/A_n  (ZOH, B = 1),   A_n complex (S4D-Lin or S4D-real)
 *   Kbar_l = Re(sum_n (C_n Bbar_n) Abar_n^l) = sum_n e^{l dt Re A_n} (cb_re cos(l dt Im A_n) - cb_im sin(l dt Im A_n))
 *            -- a Vandermonde product (N x L), each power evaluated directly (no error accumulation)
 *   y = Kbar * u (causal), by FFT (size 2L)
 * Setup: the modes (dt A_n, C_n Bbar_n; parameters only), FFTW plans. Timed run: the Vandermonde kernel, O(N L)
 * per channel (blocked: z^(l0 + j) = z^l0 z^j, both evaluated directly in double; SIMD over j), its FFT, and
 * the FFT convolution of each batch row,
 * O(L log L). Shapes: u, y (batch, D, L); dt (D); A_re, A_im, C_re, C_im (D, N). OpenMP over channels.
 */
#include "ssm/family_s4.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

struct s4d_vdm {
    struct mb_s4 s;
    struct mb_s4_fftconv conv;
    double *a, *phi, *cb_re, *cb_im; /* (D, N): dt Re A, dt Im A, C Bbar */
    double *Kd;                      /* (threads, L) */
    float *Kf;                       /* (threads, L) */
    fftwf_complex *Khat;             /* (threads, spec_stride) */
};

static void teardown(void *state) {
    struct s4d_vdm *v = state;
    mb_s4_fftconv_free(&v->conv);
    mb_free(v->a);
    mb_free(v->phi);
    mb_free(v->cb_re);
    mb_free(v->cb_im);
    mb_free(v->Kd);
    mb_free(v->Kf);
    fftwf_free(v->Khat);
    free(v);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct s4d_vdm *v = calloc(1, sizeof *v);
    if (!v) return mb_errorf(err, errlen, "out of memory");
    mb_s4_bind(&v->s, w);
    const int64_t N = v->s.N, D = v->s.D, L = v->s.L;
    const int T = omp_get_max_threads();
    if (mb_s4_fftconv_init(&v->conv, L, T, err, errlen)) {
        free(v);
        return -1;
    }
    const size_t dn = (size_t)(D * N) * sizeof(double);
    v->a = mb_alloc(dn);
    v->phi = mb_alloc(dn);
    v->cb_re = mb_alloc(dn);
    v->cb_im = mb_alloc(dn);
    v->Kd = mb_alloc((size_t)(T * L) * sizeof(double));
    v->Kf = mb_alloc((size_t)(T * L) * sizeof(float));
    v->Khat = fftwf_malloc((size_t)(T * v->conv.spec_stride) * sizeof(fftwf_complex));
    double *zr = malloc((size_t)N * sizeof(double)), *zi = malloc((size_t)N * sizeof(double));
    if (!v->a || !v->phi || !v->cb_re || !v->cb_im || !v->Kd || !v->Kf || !v->Khat || !zr || !zi) {
        free(zr);
        free(zi);
        teardown(v);
        return mb_errorf(err, errlen, "out of memory");
    }
    for (int64_t ch = 0; ch < D; ch++) {
        mb_s4d_modes(&v->s, ch, zr, zi, v->cb_re + ch * N, v->cb_im + ch * N);
        for (int64_t n = 0; n < N; n++) {
            v->a[ch * N + n] = (double)v->s.dt[ch] * v->s.A_re[ch * N + n];
            v->phi[ch * N + n] = (double)v->s.dt[ch] * v->s.A_im[ch * N + n];
        }
    }
    free(zr);
    free(zi);
    *state = v;
    return 0;
}

/* K[0..L) = sum_n Re(cb_n z_n^l), z_n^l = e^{l a_n} (cos l phi_n + i sin l phi_n). Blocked Vandermonde: with
 * l = l0 + j,
 * z^l = z^l0 z^j; the VB powers z^j and each block's z^l0 are evaluated directly (exp, sincos in double), so no error
 * accumulates along l, and the inner loop is two FMAs per (n, l), vectorised over j. */
#define VB 64
static void vandermonde(int64_t N, int64_t L, const double *a, const double *phi, const double *cr, const double *ci,
                        double *K) {
    double pr[VB] __attribute__((aligned(64))), pi[VB] __attribute__((aligned(64)));
    for (int64_t l = 0; l < L; l++) K[l] = 0;
    for (int64_t n = 0; n < N; n++) {
        const int64_t jmax = L < VB ? L : VB;
        for (int64_t j = 0; j < jmax; j++) {
            const double e = exp((double)j * a[n]);
            pr[j] = e * cos((double)j * phi[n]);
            pi[j] = e * sin((double)j * phi[n]);
        }
        for (int64_t l0 = 0; l0 < L; l0 += VB) {
            const double e = exp((double)l0 * a[n]), c = cos((double)l0 * phi[n]), s = sin((double)l0 * phi[n]);
            const double wr = e * (cr[n] * c - ci[n] * s), wi = e * (cr[n] * s + ci[n] * c); /* cb z^l0 */
            const int64_t cnt = L - l0 < VB ? L - l0 : VB;
            double *restrict k = K + l0;
#pragma omp simd
            for (int64_t j = 0; j < cnt; j++) k[j] += wr * pr[j] - wi * pi[j];
        }
    }
}

static void run(void *state) {
    const struct s4d_vdm *v = state;
    const struct mb_s4 *s = &v->s;
    const int64_t N = s->N, L = s->L, D = s->D;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t ch = 0; ch < D; ch++) {
        const int t = omp_get_thread_num();
        double *Kd = v->Kd + (int64_t)t * L;
        float *Kf = v->Kf + (int64_t)t * L;
        fftwf_complex *Khat = v->Khat + (int64_t)t * v->conv.spec_stride;
        vandermonde(N, L, v->a + ch * N, v->phi + ch * N, v->cb_re + ch * N, v->cb_im + ch * N, Kd);
        for (int64_t l = 0; l < L; l++) Kf[l] = (float)Kd[l];
        mb_s4_fftconv_kernel(&v->conv, t, Kf, Khat);
        for (int64_t b = 0; b < s->batch; b++)
            mb_s4_fftconv_apply(&v->conv, t, Khat, s->u + (b * D + ch) * L, s->y + (b * D + ch) * L);
    }
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return (double)p->d * (4.0 * (double)p->rank * p->n + (p->batch + 0.5) * mb_s4_fftconv_flops(p->n));
}
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_s4_io_bytes(p) + 4.0 * (double)p->d * p->rank; }
static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double t = p->threads > 0 ? (double)p->threads : 1.0;
    return 32.0 * (double)p->d * p->rank + t * (12.0 * p->n + 8.0 * (p->n + 8) + 16.0 * (p->n + 16));
}

const struct mb_kernel mb_kernel_ssm_s4d_vandermonde = {
    .name = "ssm.s4d.vandermonde",
    MB_S4D_KERNEL,
    .summary = "S4D (diagonal, ZOH): Vandermonde kernel Re(sum C Bbar Abar^l) in the timed run + FFT convolution",
    .complexity = "O(N L + L log L) time per channel, O(L) memory per thread",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
