/* ssm.hippo.legt: HiPPO-LegT, translated Legendre: the uniform measure on the sliding window [t - theta, t].
 *
 *   c'(t) = A c(t) + B f(t),  A_nk = -(1/theta) sqrt((2n+1)(2k+1)) (1 if k < n else (-1)^(n-k)),
 *                             B_n = sqrt(2n+1)/theta          (theta=, default 1: the whole signal)
 *   c_n(t) = (1/theta) int_{t-theta}^t f(s) sqrt(2n+1) P_n(2 (s - t + theta)/theta - 1) ds  (the HiPPO paper's
 *   scaling; S4's repository halves A and B), so f(t - theta + x theta) ~ sum_n c_n sqrt(2n+1) P_n(2x - 1).
 * Discrete: c_{k+1} = Ad c_k + Bd f_k, (Ad, Bd) by disc=bilinear|zoh|euler|backward with step dt = eps (0: 1/L),
 * computed in float64 in setup (family_hippo.h); the timed run is the dense recurrence, one N x N matrix-vector
 * product per step in axpy form. f (batch, L) -> c (batch, N); O(L N^2) per signal, O(N^2) memory.
 * Source: Gu et al. 2020, "HiPPO", Appendix D (LegT); kexue.fm 10114.
 */
#include "ssm/family_hippo.h"

const struct mb_kernel mb_kernel_ssm_hippo_legt = {
    .name = "ssm.hippo.legt",
    .mechanism = "legt",
    .summary = "HiPPO-LegT online projection (window theta), dense discretised recurrence (disc=...)",
    MB_HIPPO_LTI_KERNEL(MB_HIPPO_LEGT),
};
