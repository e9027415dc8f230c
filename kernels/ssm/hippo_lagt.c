/* ssm.hippo.lagt: HiPPO-LagT, translated Laguerre: the exponential measure e^{-(t-s)} on s <= t (beta = 1).
 *
 *   c'(t) = A c(t) + B f(t),  A = I/2 - tril(ones) (the lower triangle includes the diagonal),  B_n = 1
 *   Reconstruction f(t - s) ~ sum_n c_n L_n(s) e^{-s/2}, s >= 0 the age in time units (L_n: Laguerre). No window:
 *   theta is not read.
 * Discrete: c_{k+1} = Ad c_k + Bd f_k, (Ad, Bd) by disc=bilinear|zoh|euler|backward with step dt = eps (0: 1/L),
 * float64 in setup (family_hippo.h); the timed run is the dense recurrence. f (batch, L) -> c (batch, N);
 * O(L N^2) per signal, O(N^2) memory.
 * Source: Gu et al. 2020, "HiPPO", Appendix D (LagT); the reference code's transition('lagt').
 */
#include "ssm/family_hippo.h"

const struct mb_kernel mb_kernel_ssm_hippo_lagt = {
    .name = "ssm.hippo.lagt",
    .mechanism = "lagt",
    .summary = "HiPPO-LagT online projection (e^{-(t-s)} measure), dense discretised recurrence (disc=...)",
    MB_HIPPO_LTI_KERNEL(MB_HIPPO_LAGT),
};
