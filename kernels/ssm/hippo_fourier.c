/* ssm.hippo.fourier: HiPPO-FouT, translated Fourier: the uniform measure on the sliding window [t - theta, t].
 *
 *   c'(t) = A c(t) + B f(t),  A = -(e e^T + Omega)/theta,  B = e/theta   (the matrices of family_hippo.h)
 *   basis of the window, x = (s - t + theta)/theta in [0, 1]: 1, sqrt2 cos 2 pi x, sqrt2 sin 2 pi x, sqrt2 cos 4 pi x,
 *   ...; e = the basis at x = 0; reconstruction f(t - theta + x theta) ~ sum_n c_n phi_n(x).
 * Discrete: c_{k+1} = Ad c_k + Bd f_k, (Ad, Bd) by disc=bilinear|zoh|euler|backward with step dt = eps (0: 1/L),
 * float64 in setup (family_hippo.h); the timed run is the dense recurrence. f (batch, L) -> c (batch, N);
 * O(L N^2) per signal, O(N^2) memory.
 * Source: Gu et al. 2020, "HiPPO", Appendix D (FouT); kexue.fm 10114.
 */
#include "ssm/family_hippo.h"

const struct mb_kernel mb_kernel_ssm_hippo_fourier = {
    .name = "ssm.hippo.fourier",
    .mechanism = "fourier",
    .summary = "HiPPO-FouT online projection (window theta), dense discretised recurrence (disc=...)",
    MB_HIPPO_LTI_KERNEL(MB_HIPPO_FOURIER),
};
