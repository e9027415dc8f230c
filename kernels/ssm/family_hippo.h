/* ssm.hippo family: HiPPO online function approximation (Gu et al. 2020; kexue.fm 10114, 10137).
 *
 * Workload (PyTorch layout, float32):
 *   f  (batch, n)      input: one 1-D signal per batch item, n = L samples of a band-limited random function on
 *                      [0, 1] (8 sinusoids, amplitudes U(-1,1)/m, seeded), sample j at time (j + 0.5) / L
 *   c  (batch, rank)   output: the HiPPO coefficients c(t) at the final time, N = rank
 * Kernels run the online recurrence over the signal with state N (one mechanism per measure):
 *   legs     x' = A x / t + B f / t (scaled Legendre, time-varying, step-free: no eps)
 *   legt     x' = A x + B f, sliding window theta (translated Legendre)
 *   lmu      LegT with the Legendre Memory Unit scaling (state d_n = sqrt(2n+1) c_n of LegT)
 *   lagt     x' = A x + B f, exponential measure e^{-(t-s)} (translated Laguerre)
 *   fourier  x' = A x + B f, sliding window theta (FouT: 1, sqrt2 cos 2 pi k x, sqrt2 sin 2 pi k x; an even N's last
 *            slot is a dummy that stays 0)
 *   signal   the true signal on the memory window: the "exact" mechanism every measure approximates; the check
 *            reconstructs the signal from the coefficients (Legendre, Laguerre, Fourier) and compares.
 * Parameters (point params): disc=bilinear|zoh|euler|backward (default bilinear; LegS has no zoh), theta=W (window
 * of legt/lmu/fourier in signal time units, default 1 = the whole signal). Axis eps = the step dt of the LTI
 * measures (0 = 1/L, the signal spans one time unit).
 * All matrices and the oracle recurrences are float64.
 */
#ifndef MB_SSM_FAMILY_HIPPO_H
#define MB_SSM_FAMILY_HIPPO_H

#include "core/mechbench.h"
#include "ssm/family_ssm.h"

extern const struct mb_family mb_family_ssm_hippo;
extern const struct mb_probe mb_hippo_probes[1]; /* hippo_probes.c: legs_timescale */

enum mb_hippo_measure { MB_HIPPO_LEGS, MB_HIPPO_LEGT, MB_HIPPO_LMU, MB_HIPPO_LAGT, MB_HIPPO_FOURIER };
enum mb_hippo_disc { MB_DISC_BILINEAR, MB_DISC_ZOH, MB_DISC_EULER, MB_DISC_BACKWARD };

/* ---------------------------------------------------------------------------- matrices (float64, row-major) */
/* Continuous transition A (N x N) and input B (N) of a measure, conventions of MECHANISMS.md section C:
 *   LegS  A_nk = -sqrt((2n+1)(2k+1)) (k < n), -(n+1) (k == n), 0 (k > n);  B_n = sqrt(2n+1)
 *   LegT  A_nk = -(1/theta) sqrt((2n+1)(2k+1)) (1 if k < n else (-1)^(n-k));  B_n = sqrt(2n+1)/theta
 *         (the HiPPO paper's scaling: c_n = (1/theta) int f sqrt(2n+1) P_n, not the S4 repo's halved A, B)
 *   LMU   A_nk = -(1/theta)(2n+1) (1 if k < n else (-1)^(n-k));  B_n = (2n+1)/theta  (MECHANISMS' form, not the
 *         reference code's D A D with D = diag((-1)^n): similar matrices)
 *   LagT  A = I/2 - tril(ones) (lower triangle incl. the diagonal);  B_n = 1  (beta = 1)
 *   FouT  A = -(1/theta)(2 e e^T + Omega), B = 2 e/theta, on the basis phi = 1, sqrt2 cos 2 pi x, sqrt2 sin 2 pi x,
 *         sqrt2 cos 4 pi x, ... of the window (x = (s - t + theta)/theta in [0, 1]); e = phi(0) = phi(1) =
 *         (1, sqrt2, 0, sqrt2, 0, ...); Omega = the derivative on the basis: (Omega c)_{cos k} = -2 pi k c_{sin k},
 *         (Omega c)_{sin k} = 2 pi k c_{cos k}. From c_n = (1/theta) int f phi_n: c' = (e f(t) - e f(t - theta) -
 *         Omega c)/theta, and the value that leaves the window is read off the coefficients: at the window's edge a
 *         Fourier series converges to the average of its two ends, e.c ~ (f(t) + f(t - theta))/2, so
 *         f(t - theta) ~ 2 e.c - f(t): the factor 2 (as the HiPPO authors' reference code, transition('fourier');
 *         e.c ~ f(t - theta) alone, factor 1, gives coefficients that do not reconstruct the window).
 *         Even N: the last slot would be an unpaired cos_{N/2} (its derivative sin_{N/2} outside the basis: a
 *         singular A with a non-decaying mode), so it is a dummy: zero row, column and B; its coefficient stays 0 and
 *         the reconstruction uses the first N - 1 functions. (The reference code's dummy is a sin_0 in slot 1; here
 *         it is last, so c_n means the same function for every N.) The reference code orders each pair (cos, sin)
 *         the same way but measures x backwards from t: its sine coefficients are the negatives of these. */
void mb_hippo_matrix(enum mb_hippo_measure m, int64_t N, double theta, double *A, double *B);
/* FouT: the basis functions in use, N for an odd N, N - 1 for an even N (the last slot is a dummy). */
static inline int64_t mb_hippo_fourier_used(int64_t N) { return N % 2 ? N : N - 1; }

/* exp(A) of a dense n x n matrix (row-major), scaling and squaring with the [13/13] Pade approximant (Higham 2005,
 * "The scaling and squaring method for the matrix exponential revisited", theta_13 = 5.37): LAPACKE_dgesv for the
 * Pade solve, cblas_dgemm for products. Returns 0 or -1 (singular Pade denominator / out of memory). */
int mb_expm(int64_t n, const double *A, double *E);

/* Discretise the LTI system (A, B) with step dt: Ad (N x N), Bd (N).
 *   euler     Ad = I + dt A,                      Bd = dt B
 *   backward  Ad = (I - dt A)^-1,                 Bd = dt (I - dt A)^-1 B
 *   bilinear  Ad = (I - dt A/2)^-1 (I + dt A/2),  Bd = dt (I - dt A/2)^-1 B
 *   zoh       Ad = exp(dt A),                     Bd = A^-1 (exp(dt A) - I) B, both read off exp(dt [[A, B], [0, 0]])
 *             (Van Loan's block form: no inverse of A needed).
 * Solves with LAPACKE_dgesv. Returns 0 or -1. */
int mb_hippo_discretize(int64_t N, const double *A, const double *B, double dt, enum mb_hippo_disc disc, double *Ad,
                        double *Bd);

/* O(N) LegS products (kexue.fm 10137): A is -(diag(n+1) + strictly-lower sqrt(2n+1) sqrt(2k+1)), so
 *   (A x)_n = -sqrt(2n+1) S_n - (n+1) x_n,  S_n = sum_{k<n} sqrt(2k+1) x_k                (prefix sum)
 *   (I - a A) y = b:  y_n = (b_n - a sqrt(2n+1) S_n) / (1 + a (n+1)),  S over the y already found.
 * Double and float versions; y may alias b (in place). sq[n] = sqrt(2n+1). */
void mb_legs_matvec_d(int64_t N, const double *x, double *y);
void mb_legs_solve_d(int64_t N, double a, const double *b, double *y);
/* float32 step (the kernel): scratch holds 4 N floats; the serial part is two one-FMA chains per element. */
void mb_legs_step_fast_f(int64_t N, const float *sq, enum mb_hippo_disc disc, int64_t k, float u, float *x,
                         float *scratch);
/* One LegS step k >= 1 (x_k -> x_{k+1}), the "step-free" forms (time t = k samples, no eps):
 *   bilinear  x_{k+1} = (I - A/(2(k+1)))^-1 [(I + A/(2k)) x_k + B u_k / k]    (MECHANISMS / kexue.fm 10137)
 *   euler     x_{k+1} = (I + A/k) x_k + B u_k / k
 *   backward  x_{k+1} = (I - A/(k+1))^-1 (x_k + B u_k / (k+1))
 * and x_1 = u_0 e_0 (the exact coefficients of a constant). Double reference, O(N) per step: */
void mb_legs_step_d(int64_t N, enum mb_hippo_disc disc, int64_t k, double u, double *x, double *tmp);

/* ---------------------------------------------------------------------------- workload */
struct mb_hippo {
    int64_t batch, n, N;
    enum mb_hippo_disc disc;
    double dt;          /* LTI step: eps, or 1/n when eps == 0 */
    double theta;       /* window of legt/lmu/fourier (time units) */
    const float *f;     /* (batch, n) */
    float *c;           /* (batch, N) */
};
/* Reads the point (shapes, the typed params disc and theta) and the tensors. */
void mb_hippo_bind(struct mb_hippo *h, const struct mb_workload *w);

/* ---------------------------------------------------------------------------- kernels */
/* A hippo kernel's variant data is its measure: .variant = &(const enum mb_hippo_measure){MB_HIPPO_LMU}. The
 * family's shared functions (supports, the LTI setup, the check) read it from their descriptor. */
static inline enum mb_hippo_measure mb_hippo_measure_of(const struct mb_kernel *k) {
    return *(const enum mb_hippo_measure *)k->variant;
}
/* supports() of every hippo kernel: disc=zoh is refused for LegS (time-varying: a matrix exponential per step). */
int mb_hippo_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len);

/* The reconstruction of the memory window from coefficients c at sample indices idx[0..count) (signal samples):
 * out[i] ~ f[idx[i]]. Window: the whole signal (legs, lagt: weight e^{-s/2} over s in [0, t]) or the last theta
 * (legt, lmu, fourier); first_index() gives the first sample of the window. */
int64_t mb_hippo_window_first(enum mb_hippo_measure m, const struct mb_hippo *h);
void mb_hippo_reconstruct(enum mb_hippo_measure m, const struct mb_hippo *h, const double *c, const int64_t *idx,
                          int64_t count, double *out);

/* LTI kernel helper shared by legt/lmu/lagt/fourier: Ad, Bd in float (setup) and the dense recurrence (run). */
struct mb_hippo_lti {
    struct mb_hippo h;
    float *Ad; /* (N, N) transposed: Ad^T, column j of Ad contiguous */
    float *Bd; /* (N) */
};
int mb_hippo_lti_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen);
void mb_hippo_lti_run(void *state);
void mb_hippo_lti_teardown(void *state);
double mb_hippo_lti_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_hippo_bytes(const struct mb_kernel *k, const struct mb_point *p);
double mb_hippo_lti_workspace(const struct mb_kernel *k, const struct mb_point *p);

/* The descriptor fields every hippo kernel shares (designated initialisers), measure m:
 *   MB_HIPPO_KERNEL(m, extra_axes)  family, the "signal" it approximates, the variant, axes n, batch, rank (+ extra),
 *                                   supports, the source
 *   MB_HIPPO_LTI_KERNEL(m)          + axis eps and the dense LTI recurrence (setup, run, teardown, models) */
#define MB_HIPPO_KERNEL(m, extra_axes)                                                                                 \
    .family = &mb_family_ssm_hippo, .approximates = "signal", .variant = &(const enum mb_hippo_measure){m},           \
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(rank) | (extra_axes),                                   \
    .rank_meaning = "N: state size (basis coefficients)", .supports = mb_hippo_supports, MB_KERNEL_SOURCE
#define MB_HIPPO_LTI_KERNEL(m)                                                                                         \
    MB_HIPPO_KERNEL(m, MB_AXIS_BIT(eps)), .complexity = "O(L N^2) time, O(N^2) memory",                               \
    MB_SSM_OPS(mb_hippo_lti_setup, mb_hippo_lti_run, mb_hippo_lti_teardown, mb_hippo_lti_flops, mb_hippo_bytes,      \
               mb_hippo_lti_workspace)

#endif
