/* ssm.hippo.lmu: the Legendre Memory Unit, LegT with the state scaled by sqrt(2n+1) (d_n = sqrt(2n+1) c_n of LegT).
 *
 *   c'(t) = A c(t) + B f(t),  A_nk = -(1/theta)(2n+1) (1 if k < n else (-1)^(n-k)),  B_n = (2n+1)/theta
 *   (MECHANISMS.md's form; the reference code's is D A D, D = diag((-1)^n): a similar matrix, the state of the
 *   window read backwards). Reconstruction f(t - theta + x theta) ~ sum_n c_n P_n(2x - 1).
 * Discrete: c_{k+1} = Ad c_k + Bd f_k, (Ad, Bd) by disc=bilinear|zoh|euler|backward with step dt = eps (0: 1/L),
 * float64 in setup (family_hippo.h); the timed run is the dense recurrence. f (batch, L) -> c (batch, N);
 * O(L N^2) per signal, O(N^2) memory.
 * Source: Voelker, Kajic & Eliasmith 2019, "Legendre Memory Units", eq. (1)-(2); Gu et al. 2020, "HiPPO", Appendix D (LMU).
 */
#include "ssm/family_hippo.h"

const struct mb_kernel mb_kernel_ssm_hippo_lmu = {
    .name = "ssm.hippo.lmu",
    .mechanism = "lmu",
    .summary = "HiPPO-LMU online projection (LegT scaling), dense discretised recurrence (disc=...)",
    MB_HIPPO_LTI_KERNEL(MB_HIPPO_LMU),
};
