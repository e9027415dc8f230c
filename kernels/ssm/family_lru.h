/* ssm.lru family: the Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for Long
 * Sequences", eq. (3) and sec. 3.3, Appendix A code).
 *
 * Tensors (float32, row-major; the paper's JAX layout is time-major per sequence: u (L, H); batched here):
 *   u         (batch, L, H)   input
 *   nu_log    (N)             lambda_n = exp(-exp(nu_log_n) + i exp(theta_log_n))  (complex diagonal, |lambda| < 1)
 *   theta_log (N)
 *   B_re, B_im  (N, H)        complex input matrix
 *   C_re, C_im  (H, N)        complex output matrix
 *   D         (H)             skip
 *   y         (batch, L, H)   output
 *   gamma_n = sqrt(1 - |lambda_n|^2)   (normalisation, computed from nu_log, not a separate input)
 *   x_t = lambda (.) x_{t-1} + gamma (.) (B u_t)   (N complex states, x_{-1} = 0)
 *   y_t = Re(C x_t) + D (.) u_t
 * Init ("ring init", sec. 3.2): |lambda| uniform on the ring [r_min, r_max] = [0.9, 0.999], phase uniform in
 * [0, max_phase], max_phase = 2 pi / 10 (the paper's setting for its long-range tasks; its code defaults to 2 pi);
 * B ~ N(0, 1 / (2 H)) per part, C ~ N(0, 1 / N) per part (the code's glorot-like init), D ~ N(0, 1), u ~ N(0, 1).
 * The oracle recomputes a sequence's states and outputs in double; the check compares a seeded sample of
 * sequences (batch items), every (t, h) of each.
 */
#ifndef MB_SSM_FAMILY_LRU_H
#define MB_SSM_FAMILY_LRU_H

#include "core/mechbench.h"
#include "ssm/family_ssm.h"

extern const struct mb_family mb_family_ssm_lru;

struct mb_lru {
    int64_t batch, L, H, N;
    const float *u;                 /* (batch, L, H) */
    const float *nu_log, *theta_log; /* (N) */
    const float *B_re, *B_im;       /* (N, H) */
    const float *C_re, *C_im;       /* (H, N) */
    const float *D;                 /* (H) */
    float *y;                       /* (batch, L, H) */
};
void mb_lru_bind(struct mb_lru *r, struct mb_workload *w);

/* The pieces shared by the LRU kernels. Workspace layout of `struct mb_lru_work`:
 *   lam_re, lam_im, gamma (N); Bg_re, Bg_im (N, H) = gamma (.) B;  X_re, X_im (batch * L, N): B u, then the states. */
struct mb_lru_work {
    float *lam_re, *lam_im, *gamma, *Bg_re, *Bg_im, *X_re, *X_im;
};
int mb_lru_work_alloc(struct mb_lru_work *k, const struct mb_lru *r);
void mb_lru_work_free(struct mb_lru_work *k);
double mb_lru_work_bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p);
/* Inside an OpenMP parallel region: lambda, gamma, gamma (.) B, then X = (gamma B) u (sgemm per row block). */
void mb_lru_input(const struct mb_lru *r, struct mb_lru_work *k);
/* Inside an OpenMP parallel region: y = D (.) u + X_re C_re^T - X_im C_im^T (sgemm per row block). */
void mb_lru_output(const struct mb_lru *r, const struct mb_lru_work *k);
/* Scan states [n0, n0 + 16) of batch b over steps [t0, t1) from x (re[16], im[16], in/out); with write, X becomes
 * the states in place; otherwise X is only read. AVX-512 over the 16 states (masked tail). */
void mb_lru_scan_range(const struct mb_lru *r, const struct mb_lru_work *k, int64_t b, int64_t n0, int64_t t0,
                       int64_t t1, float *x, int write);
double mb_lru_flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p); /* input + output GEMMs + one scan */

/* The descriptor fields every ssm.lru kernel shares (designated initialisers); extra_axes: 0 or e.g. block. */
#define MB_LRU_KERNEL(extra_axes)                                                                                      \
    .family = &mb_family_ssm_lru, .mechanism = "lru",                                                                 \
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(rank) | (extra_axes), MB_KERNEL_SOURCE

#endif
