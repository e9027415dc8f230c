/* ssm.hippo.fourier: HiPPO-FouT, translated Fourier: the uniform measure on the sliding window [t - theta, t].
 *
 *   c'(t) = A c(t) + B f(t),  A = -(2 e e^T + Omega)/theta,  B = 2 e/theta
 *   basis of the window, x = (s - t + theta)/theta in [0, 1]: phi = 1, sqrt2 cos 2 pi x, sqrt2 sin 2 pi x,
 *   sqrt2 cos 4 pi x, ...; e = phi(0) = phi(1); Omega the derivative on the basis (cos_k' = -2 pi k sin_k,
 *   sin_k' = 2 pi k cos_k); reconstruction f(t - theta + x theta) ~ sum_n c_n phi_n(x).
 *   The factor 2: c_n = (1/theta) int f phi_n changes by e (f(t) - f(t - theta))/theta at the window's ends, and the
 *   value leaving the window is read off the coefficients; a Fourier series at the edge converges to the average of
 *   the two ends, e.c ~ (f(t) + f(t - theta))/2, so f(t - theta) ~ 2 e.c - f(t). An even N's last slot (an unpaired
 *   cosine) is a dummy that stays 0 (family_hippo.h).
 * Discrete: c_{k+1} = Ad c_k + Bd f_k, (Ad, Bd) by disc=bilinear|zoh|euler|backward with step dt = eps (0: 1/L),
 * float64 in setup (family_hippo.h); the timed run is the dense recurrence. f (batch, L) -> c (batch, N);
 * O(L N^2) per signal, O(N^2) memory.
 * Source: Gu et al. 2020, "HiPPO", Appendix D (FouT); the reference code's transition('fourier') (HazyResearch
 * state-spaces, src/models/hippo/hippo.py); kexue.fm 10114.
 */
#include "ssm/family_hippo.h"

const struct mb_kernel mb_kernel_ssm_hippo_fourier = {
    .name = "ssm.hippo.fourier",
    .mechanism = "fourier",
    .summary = "HiPPO-FouT online projection (window theta), dense discretised recurrence (disc=...)",
    MB_HIPPO_LTI_KERNEL(MB_HIPPO_FOURIER),
};
