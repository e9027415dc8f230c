/* ssm.s4.nplr: S4 kernel by the truncated generating function, the NPLR (normal plus low-rank) form of HiPPO-LegS,
 * Woodbury and the Cauchy kernel, then FFT convolution (Gu et al. 2021, "S4", Algorithm 1, Lemma C.2-C.3;
 * kexue.fm 10162).
 *
 *   LegS:  A = S - I/2 - P P^T,  S = A + v v^T/2 + I/2 skew-symmetric, v_n = sqrt(2n+1), P = v / sqrt 2
 *          S = U diag(i mu) U* (unitary: LAPACKE_zheev_work of the Hermitian -i S), Lambda = -1/2 + i mu,
 *          A = U (Lambda - p p*) U*,  p = U* P      -- a stable diagonalisation (unlike V diag V^-1 of A itself)
 *   Kbar_j = C Abar^j Bbar (bilinear, step dt). Generating function at the L roots of unity w_k = e^{-2 pi i k/L}:
 *          Khat(w) = sum_{j<L} Kbar_j w^j = 2/(1+w) Ct (g(w) - A)^-1 B,  g(w) = (2/dt)(1-w)/(1+w),
 *          Ct = C (I - Abar^L);  in the eigenbasis with R = diag(1/(g - Lambda_n)) (Cauchy kernel) and Woodbury:
 *          Ct U (R^-1 + p p*)^-1 U* B = k00 - k01 k10 / (1 + k11),
 *          k00 = sum_n c_n b_n / (g - Lambda_n), k01 = sum_n c_n p_n / ., k10 = sum_n conj(p_n) b_n / ., k11 = sum |p_n|^2 / .
 *          (c = Ct U, b = U* B);  Kbar = inverse real FFT of Khat over the L roots (Hermitian: k <= L/2 suffices).
 *   y = Kbar * u by FFT (zero-padded to 2L), as ssm.s4.fft.
 * Setup (parameters only): zheev, Abar^L by binary powering (O(N^3 log L)), c, b, p; FFTW plans. Timed run (the
 * training-time forward: the kernel is regenerated from the parameters): Cauchy sums O(N L) in complex double,
 * inverse FFT of size L, then the convolution O(L log L) per batch row. Shapes as ssm.s4; OpenMP over channels.
 */
#include "ssm/family_s4.h"

#include <cblas.h>
#include <complex.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ssm/family_hippo.h"

struct s4_nplr {
    struct mb_s4 s;
    struct mb_s4_fftconv conv;
    int64_t H;                 /* L/2 + 1 roots used */
    int64_t kstride;           /* per-thread stride of the Khat buffers (complexes, 64-byte multiple) */
    fftwf_plan inv;            /* c2r of size L: Khat -> Kbar */
    double *lam_re, *lam_im;   /* (N) Lambda */
    double *w_re, *w_im;       /* (D, 3, N): c b, c p, conj(p) b  */
    double *pp;                /* (N) |p|^2 */
    double *om_re, *om_im;     /* (H) w_k */
    fftwf_complex *kspec;      /* (threads, kstride) Khat(w_k) */
    float *kbar;               /* (threads, L padded) */
    fftwf_complex *khat;       /* (threads, conv.spec_stride) FFT of Kbar padded to 2L */
    int64_t kbar_stride;
};

static void teardown(void *state) {
    struct s4_nplr *r = state;
    mb_s4_fftconv_free(&r->conv);
    if (r->inv) fftwf_destroy_plan(r->inv);
    mb_free(r->lam_re), mb_free(r->lam_im), mb_free(r->w_re), mb_free(r->w_im), mb_free(r->pp);
    mb_free(r->om_re), mb_free(r->om_im);
    fftwf_free(r->kspec), fftwf_free(r->kbar), fftwf_free(r->khat);
    free(r);
}

/* out = Abar^L (N x N), binary powering with dgemm. */
static int matrix_power(int64_t N, const double *Abar, int64_t L, double *out) {
    const size_t nn = (size_t)(N * N);
    double *base = malloc(nn * sizeof(double)), *tmp = malloc(nn * sizeof(double));
    if (!base || !tmp) {
        free(base), free(tmp);
        return -1;
    }
    memcpy(base, Abar, nn * sizeof(double));
    memset(out, 0, nn * sizeof(double));
    for (int64_t i = 0; i < N; i++) out[i * N + i] = 1;
    for (int64_t e = L; e > 0; e >>= 1) {
        if (e & 1) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)N, (int)N, 1.0, out, (int)N, base,
                        (int)N, 0.0, tmp, (int)N);
            memcpy(out, tmp, nn * sizeof(double));
        }
        if (e > 1) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)N, (int)N, 1.0, base, (int)N, base,
                        (int)N, 0.0, tmp, (int)N);
            memcpy(base, tmp, nn * sizeof(double));
        }
    }
    free(base), free(tmp);
    return 0;
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct s4_nplr *r = calloc(1, sizeof *r);
    if (!r) return mb_errorf(err, errlen, "out of memory");
    mb_s4_bind(&r->s, w);
    const int64_t N = r->s.N, D = r->s.D, L = r->s.L, T = omp_get_max_threads();
    r->H = L / 2 + 1;
    r->kstride = (r->H + 7) & ~INT64_C(7);
    r->kbar_stride = (L + 15) & ~INT64_C(15);
    if (mb_s4_fftconv_init(&r->conv, L, (int)T, err, errlen)) {
        free(r);
        return -1;
    }
    r->lam_re = mb_alloc((size_t)N * sizeof(double));
    r->lam_im = mb_alloc((size_t)N * sizeof(double));
    r->pp = mb_alloc((size_t)N * sizeof(double));
    r->w_re = mb_alloc((size_t)(D * 3 * N) * sizeof(double));
    r->w_im = mb_alloc((size_t)(D * 3 * N) * sizeof(double));
    r->om_re = mb_alloc((size_t)r->H * sizeof(double));
    r->om_im = mb_alloc((size_t)r->H * sizeof(double));
    r->kspec = fftwf_malloc((size_t)(T * r->kstride) * sizeof(fftwf_complex));
    r->kbar = fftwf_malloc((size_t)(T * r->kbar_stride) * sizeof(float));
    r->khat = fftwf_malloc((size_t)(T * r->conv.spec_stride) * sizeof(fftwf_complex));
    /* column-major eigenvector matrix, padded: OpenBLAS 0.3.21's zgemv kernels (inside zheev) can read a little past
     * the end of an exactly-sized array and crash when it ends at a page boundary (seen at N = 510, 512, 600) */
    const size_t pad = 4096;
    double complex *Hm = calloc((size_t)(N * N) + pad, sizeof(double complex)), *p = malloc((size_t)N * sizeof(double complex));
    const lapack_int lwork = (lapack_int)(64 * N);
    double complex *zwork = calloc((size_t)lwork + pad, sizeof(double complex));
    double *rwork = calloc((size_t)(3 * N) + pad, sizeof(double));
    double *mu = malloc((size_t)N * sizeof(double)), *A = malloc((size_t)(N * N) * sizeof(double));
    double *Bv = malloc((size_t)N * sizeof(double)), *Ad = malloc((size_t)(N * N) * sizeof(double));
    double *Bd = malloc((size_t)N * sizeof(double)), *AL = malloc((size_t)(N * N) * sizeof(double));
    double *ct = malloc((size_t)N * sizeof(double));
    int rc = 0;
    if (!r->lam_re || !r->lam_im || !r->pp || !r->w_re || !r->w_im || !r->om_re || !r->om_im || !r->kspec ||
        !r->kbar || !r->khat || !Hm || !p || !zwork || !rwork || !mu || !A || !Bv || !Ad || !Bd || !AL || !ct) {
        rc = mb_errorf(err, errlen, "out of memory");
        goto out;
    }
    r->inv = fftwf_plan_dft_c2r_1d((int)L, r->kspec, r->kbar, FFTW_ESTIMATE);
    if (!r->inv) {
        rc = mb_errorf(err, errlen, "FFTW could not plan a c2r transform of size %lld", (long long)L);
        goto out;
    }
    /* NPLR of LegS: S = A + v v^T / 2 + I / 2 (skew); -i S Hermitian = U diag(mu) U* */
    mb_hippo_matrix(MB_HIPPO_LEGS, N, 1.0, A, Bv);
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++) {
            const double S = A[i * N + j] + 0.5 * Bv[i] * Bv[j] + 0.5 * (i == j);
            Hm[j * N + i] = -I * S; /* column-major */
        }
    if (LAPACKE_zheev_work(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)N, Hm, (lapack_int)N, mu, zwork, lwork, rwork)) {
        rc = mb_errorf(err, errlen, "LAPACKE_zheev failed on the skew part of LegS (N = %lld)", (long long)N);
        goto out;
    }
    for (int64_t n = 0; n < N; n++) { /* Lambda = -1/2 + i mu;  p = U* P, P = v / sqrt 2 */
        r->lam_re[n] = -0.5;
        r->lam_im[n] = mu[n];
        double complex acc = 0;
        for (int64_t m = 0; m < N; m++) acc += conj(Hm[n * N + m]) * (Bv[m] / sqrt(2.0));
        p[n] = acc;
        r->pp[n] = creal(acc * conj(acc));
    }
    for (int64_t k = 0; k < r->H; k++) {
        r->om_re[k] = cos(2.0 * M_PI * (double)k / (double)L);
        r->om_im[k] = -sin(2.0 * M_PI * (double)k / (double)L);
    }
    for (int64_t ch = 0; ch < D && rc == 0; ch++) {
        if (mb_s4_discretize(&r->s, ch, Ad, Bd) || matrix_power(N, Ad, L, AL)) {
            rc = mb_errorf(err, errlen, "channel %lld: discretisation or Abar^L failed", (long long)ch);
            break;
        }
        /* Ct = C (I - Abar^L) (row), c = Ct U, b = U* B */
        const float *C = r->s.C + ch * N, *B = r->s.B + ch * N;
        for (int64_t j = 0; j < N; j++) {
            double acc = C[j];
            for (int64_t i = 0; i < N; i++) acc -= C[i] * AL[i * N + j];
            ct[j] = acc;
        }
        double *wr = r->w_re + ch * 3 * N, *wi = r->w_im + ch * 3 * N;
        for (int64_t n = 0; n < N; n++) {
            double complex c = 0, b = 0;
            for (int64_t m = 0; m < N; m++) {
                c += ct[m] * Hm[n * N + m];
                b += conj(Hm[n * N + m]) * (double)B[m];
            }
            const double complex w0 = c * b, w1 = c * p[n], w2 = conj(p[n]) * b;
            wr[n] = creal(w0), wi[n] = cimag(w0);
            wr[N + n] = creal(w1), wi[N + n] = cimag(w1);
            wr[2 * N + n] = creal(w2), wi[2 * N + n] = cimag(w2);
        }
    }
out:
    free(Hm), free(p), free(zwork), free(rwork), free(mu), free(A), free(Bv), free(Ad), free(Bd), free(AL), free(ct);
    if (rc) {
        teardown(r);
        return -1;
    }
    *state = r;
    return 0;
}

/* Khat(w_k), k < H, of channel ch into spec (complex float). */
static void cauchy(const struct s4_nplr *r, int64_t ch, fftwf_complex *spec) {
    const int64_t N = r->s.N;
    const double two_dt = 2.0 / (double)r->s.dt[ch];
    const double *restrict wr = r->w_re + ch * 3 * N, *restrict wi = r->w_im + ch * 3 * N;
    const double *restrict lr = r->lam_re, *restrict li = r->lam_im, *restrict pp = r->pp;
    for (int64_t k = 0; k < r->H; k++) {
        const double complex om = r->om_re[k] + I * r->om_im[k];
        const double complex g = two_dt * (1.0 - om) / (1.0 + om);
        const double gr = creal(g), gi = cimag(g);
        double s0r = 0, s0i = 0, s1r = 0, s1i = 0, s2r = 0, s2i = 0, s3r = 0, s3i = 0;
#pragma omp simd reduction(+ : s0r, s0i, s1r, s1i, s2r, s2i, s3r, s3i)
        for (int64_t n = 0; n < N; n++) {
            const double zr = gr - lr[n], zi = gi - li[n], inv = 1.0 / (zr * zr + zi * zi);
            const double rr = zr * inv, ri = -zi * inv; /* 1 / (g - Lambda_n) */
            s0r += wr[n] * rr - wi[n] * ri, s0i += wr[n] * ri + wi[n] * rr;
            s1r += wr[N + n] * rr - wi[N + n] * ri, s1i += wr[N + n] * ri + wi[N + n] * rr;
            s2r += wr[2 * N + n] * rr - wi[2 * N + n] * ri, s2i += wr[2 * N + n] * ri + wi[2 * N + n] * rr;
            s3r += pp[n] * rr, s3i += pp[n] * ri;
        }
        const double complex k00 = s0r + I * s0i, k01 = s1r + I * s1i, k10 = s2r + I * s2i, k11 = s3r + I * s3i;
        const double complex kh = 2.0 / (1.0 + om) * (k00 - k01 * k10 / (1.0 + k11));
        spec[k][0] = (float)creal(kh);
        spec[k][1] = (float)cimag(kh);
    }
    if (r->s.L % 2 == 0) spec[r->H - 1][1] = 0; /* the Nyquist term of a real kernel */
    spec[0][1] = 0;
}

static void run(void *state) {
    const struct s4_nplr *r = state;
    const struct mb_s4 *s = &r->s;
    const int64_t L = s->L, D = s->D;
    const float scale = 1.0f / (float)L;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t ch = 0; ch < D; ch++) {
        const int t = omp_get_thread_num();
        fftwf_complex *spec = r->kspec + (int64_t)t * r->kstride, *khat = r->khat + (int64_t)t * r->conv.spec_stride;
        float *kbar = r->kbar + (int64_t)t * r->kbar_stride;
        cauchy(r, ch, spec);
        fftwf_execute_dft_c2r(r->inv, spec, kbar);
        for (int64_t j = 0; j < L; j++) kbar[j] *= scale;
        mb_s4_fftconv_kernel(&r->conv, t, kbar, khat);
        for (int64_t b = 0; b < s->batch; b++)
            mb_s4_fftconv_apply(&r->conv, t, khat, s->u + (b * D + ch) * L, s->y + (b * D + ch) * L);
    }
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double L = (double)p->n;
    return (double)p->d * (30.0 * p->rank * (L / 2 + 1) + 2.5 * L * log2(L > 2 ? L : 2) +
                           (p->batch + 0.5) * mb_s4_fftconv_flops(p->n));
}
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_s4_io_bytes(p) + 48.0 * (double)p->d * p->rank; }
static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double t = p->threads > 0 ? (double)p->threads : 1.0;
    return 48.0 * (double)p->d * p->rank + 24.0 * p->rank + 16.0 * (p->n / 2 + 1) +
           t * (8.0 * (p->n / 2 + 8) + 4.0 * (p->n + 16) + 8.0 * (p->n + 8) + 12.0 * (2 * p->n + 16));
}

const struct mb_kernel mb_kernel_ssm_s4_nplr = {
    .name = "ssm.s4.nplr",
    MB_S4_KERNEL,
    .summary = "S4 kernel by generating function + NPLR Woodbury + Cauchy sums (timed), then FFT convolution",
    .complexity = "O(N L + L log L) time per channel (setup O(N^3 log L)), O(D N + L) memory",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
