/* ssm.s4.fft: S4 as a long convolution computed by FFT (Gu et al. 2021, "S4", section 3.1 eq. (5); kexue.fm 10162).
 *
 *   y = Kbar * u (causal),  Kbar_j = C Abar^j Bbar,  j < L;  via FFT: y = IFFT(FFT(u pad 2L) . FFT(Kbar pad 2L))[:L]
 * Setup (untimed, depends on the parameters only -- the inference setting): Abar, Bbar (LAPACKE, float64), the
 * kernel Kbar in float64 by blocked GEMM powers (O(L N^2), mb_s4_kernel_d), its FFT, the FFTW plans (size 2L,
 * FFTW_ESTIMATE) and per-thread buffers. Timed run: per channel one r2c FFT of u, the spectral product, one c2r FFT
 * -- O(L log L) per channel, independent of N. (S4 proper regenerates Kbar at every forward pass from the NPLR
 * form with Cauchy sums: that is ssm.s4.nplr, whose timed run includes the kernel generation.)
 * Shapes: u, y (batch, D, L); B, C (D, N); dt (D). OpenMP over the batch x D channels.
 */
#include "ssm/family_s4.h"

#include <omp.h>
#include <stdlib.h>

struct s4_fft {
    struct mb_s4 s;
    struct mb_s4_fftconv conv;
    fftwf_complex *Khat; /* (D, spec_stride) */
};

static void teardown(void *state) {
    struct s4_fft *f = state;
    mb_s4_fftconv_free(&f->conv);
    fftwf_free(f->Khat);
    free(f);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct s4_fft *f = calloc(1, sizeof *f);
    if (!f) return mb_errorf(err, errlen, "out of memory");
    mb_s4_bind(&f->s, w);
    const int64_t N = f->s.N, D = f->s.D, L = f->s.L;
    if (mb_s4_fftconv_init(&f->conv, L, omp_get_max_threads(), err, errlen)) {
        free(f);
        return -1;
    }
    f->Khat = fftwf_malloc((size_t)(D * f->conv.spec_stride) * sizeof(fftwf_complex));
    int failed = !f->Khat;
#pragma omp parallel if (!failed)
    {
        double *Ad = malloc((size_t)(N * N) * sizeof(double)), *Bd = malloc((size_t)N * sizeof(double));
        double *K = malloc((size_t)L * sizeof(double));
        float *Kf = malloc((size_t)L * sizeof(float));
        if (!Ad || !Bd || !K || !Kf) {
#pragma omp atomic write
            failed = 1;
        } else {
#pragma omp for schedule(dynamic, 1)
            for (int64_t ch = 0; ch < D; ch++) {
                if (mb_s4_discretize(&f->s, ch, Ad, Bd) || mb_s4_kernel_d(N, Ad, Bd, f->s.C + ch * N, L, K)) {
#pragma omp atomic write
                    failed = 1;
                    continue;
                }
                for (int64_t j = 0; j < L; j++) Kf[j] = (float)K[j];
                mb_s4_fftconv_kernel(&f->conv, omp_get_thread_num(), Kf, f->Khat + ch * f->conv.spec_stride);
            }
        }
        free(Ad);
        free(Bd);
        free(K);
        free(Kf);
    }
    if (failed) {
        teardown(f);
        return mb_errorf(err, errlen, "out of memory or singular discretisation while building Kbar");
    }
    *state = f;
    return 0;
}

static void run(void *state) {
    const struct s4_fft *f = state;
    const struct mb_s4 *s = &f->s;
    const int64_t L = s->L, D = s->D;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t p = 0; p < s->batch * D; p++)
        mb_s4_fftconv_apply(&f->conv, omp_get_thread_num(), f->Khat + (p % D) * f->conv.spec_stride, s->u + p * L,
                            s->y + p * L);
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return (double)p->batch * p->d * mb_s4_fftconv_flops(p->n); }
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_s4_io_bytes(p) + 8.0 * (double)p->d * (p->n + 1); }
static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double t = p->threads > 0 ? (double)p->threads : 1.0;
    return 8.0 * (double)p->d * (p->n + 8) + t * 16.0 * (p->n + 16);
}

const struct mb_kernel mb_kernel_ssm_s4_fft = {
    .name = "ssm.s4.fft",
    MB_S4_KERNEL,
    .summary = "S4 (LegS, bilinear) as an FFT convolution with Kbar (Kbar and its FFT in setup; timed: conv only)",
    .complexity = "O(L log L) time per channel (setup O(L N^2)), O(D L) memory",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
