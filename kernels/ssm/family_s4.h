/* ssm.s4 and ssm.s4d families: structured state-space sequence models (Gu et al. 2021 "S4", Gu et al. 2022
 * "On the Parameterization and Initialization of Diagonal State Space Models" (S4D); kexue.fm 10162).
 *
 * ssm.s4  (PyTorch layout, float32; N = rank, D = d, L = n):
 *   u   (batch, D, L)  input, N(0, 1)
 *   B   (D, N)         per-channel input vector, N(0, 1)
 *   C   (D, N)         per-channel output vector, N(0, 1/N)
 *   dt  (D)            per-channel step, log-uniform in [1e-3, 1e-1]
 *   y   (batch, D, L)  output
 *   A = HiPPO-LegS (N x N, shared): A_nk = -sqrt((2n+1)(2k+1)) (k < n), -(n+1) (k = n), 0 (k > n)
 *   bilinear:  Abar = (I - dt A/2)^-1 (I + dt A/2),  Bbar = dt (I - dt A/2)^-1 B   (float64, LAPACKE_dgesv)
 *   y_t = sum_{j=0..t} Kbar_j u_{t-j},  Kbar_j = C Abar^j Bbar     (mechanism "s4")
 * ssm.s4d (same u, y, dt; diagonal complex A, B = 1, ZOH):
 *   A_re, A_im (D, N)  S4D-Lin init (params init=lin, default): A_n = -1/2 + i pi n;  init=real: A_n = -(n+1)
 *   C_re, C_im (D, N)  C_n ~ N(0, 1/2) + i N(0, 1/2) (init=real: imaginary part 0)
 *   Abar_n = exp(dt A_n),  Bbar_n = (exp(dt A_n) - 1) / A_n,
 *   Kbar_l = Re(sum_n C_n Bbar_n Abar_n^l)   (mechanism "s4d"; S4D's "2 Re" over conjugate pairs = C doubled)
 *   y = Kbar * u (causal).
 * Channels (b, d) are independent: the oracles check a seeded sample of channels (first and last included), a
 * sample of time steps of each when L is large, in double precision.
 */
#ifndef MB_SSM_FAMILY_S4_H
#define MB_SSM_FAMILY_S4_H

#include <fftw3.h>

#include "core/mechbench.h"
#include "ssm/family_ssm.h"

extern const struct mb_family mb_family_ssm_s4;
extern const struct mb_family mb_family_ssm_s4d;

struct mb_s4 {
    int64_t batch, D, L, N;
    const float *u;   /* (batch, D, L) */
    const float *B;   /* (D, N) [s4] */
    const float *C;   /* (D, N) [s4] */
    const float *dt;  /* (D) */
    const float *A_re, *A_im, *C_re, *C_im; /* (D, N) [s4d] */
    float *y;         /* (batch, D, L) */
};
void mb_s4_bind(struct mb_s4 *s, struct mb_workload *w);

/* S4: Abar (N x N) and Bbar (N) of channel ch in double. Returns 0 or -1. */
int mb_s4_discretize(const struct mb_s4 *s, int64_t ch, double *Abar, double *Bbar);
/* Kbar_j = C Abar^j Bbar, j < L, in double: rows Abar^j Bbar built in blocks by GEMM (block doubling, then
 * blocks of up to 512 rows times Abar^512), O(L N^2) flops, O(512 N + N^2) memory. Returns 0 or -1. */
int mb_s4_kernel_d(int64_t N, const double *Abar, const double *Bbar, const float *C, int64_t L, double *K);
/* S4D: z = Abar_n, cb = C_n Bbar_n (complex, double) of channel ch. */
void mb_s4d_modes(const struct mb_s4 *s, int64_t ch, double *z_re, double *z_im, double *cb_re, double *cb_im);

/* FFT causal convolution y = K * u (length L, zero-padded to 2L), FFTW plans made in setup, executed in run. */
struct mb_s4_fftconv {
    int64_t L, M;            /* M = 2L */
    int threads;
    int64_t buf_stride, spec_stride; /* per-thread strides (floats, complexes), 64-byte multiples */
    fftwf_plan fwd, inv;     /* r2c and c2r of size M, new-array execute on the per-thread buffers */
    float *buf;              /* (threads, M) real */
    fftwf_complex *spec;     /* (threads, M/2 + 1) */
};
int mb_s4_fftconv_init(struct mb_s4_fftconv *c, int64_t L, int threads, char *err, size_t errlen);
void mb_s4_fftconv_free(struct mb_s4_fftconv *c);
/* Khat (M/2 + 1, 64-byte aligned) <- FFT of k (L reals, zero-padded); uses thread t's buffers. */
void mb_s4_fftconv_kernel(const struct mb_s4_fftconv *c, int t, const float *k, fftwf_complex *Khat);
/* y (L) <- first L of IFFT(FFT(u padded) * Khat) / M; thread t's buffers. */
void mb_s4_fftconv_apply(const struct mb_s4_fftconv *c, int t, const fftwf_complex *Khat, const float *u, float *y);
double mb_s4_fftconv_flops(int64_t L);

double mb_s4_io_bytes(const struct mb_point *p);
/* supports() of the s4d kernels: params init=lin|real only. */

/* The descriptor fields every ssm.s4 / ssm.s4d kernel shares (designated initialisers). */
#define MB_S4_AXES (MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(rank))
#define MB_S4_KERNEL                                                                                                   \
    .family = &mb_family_ssm_s4, .mechanism = "s4", .axes = MB_S4_AXES,                                               \
    .rank_meaning = "N: state size (HiPPO-LegS order)", MB_KERNEL_SOURCE
#define MB_S4D_KERNEL                                                                                                  \
    .family = &mb_family_ssm_s4d, .mechanism = "s4d", .axes = MB_S4_AXES,                                             \
    .rank_meaning = "N: state size (complex diagonal modes)", MB_KERNEL_SOURCE

#endif
