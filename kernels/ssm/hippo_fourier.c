/* ssm.hippo.fourier: HiPPO-FouT online projection, LTI recurrence with a dense discretised transition.
 *
 *   continuous  c'(t) = A c(t) + B f(t)
 *               translated Fourier, uniform measure on the window [t - theta, t]
 *               (A, B as in family_hippo.h / MECHANISMS.md section C)
 *   discrete    c_{k+1} = Ad c_k + Bd f_k,  Ad, Bd from disc=bilinear (default) | zoh | euler | backward with step
 *               dt = eps (0: 1/L, the signal spans one time unit); computed in float64 in setup (LAPACKE solves,
 *               Pade scaling-and-squaring exp for zoh), stored as float32 (transposed).
 * Shapes: f (batch, L) -> c (batch, N).  Cost: one dense N x N matrix-vector product per step (axpy form: N vector
 * FMAs over the columns), O(L N^2) per signal, O(N^2) memory; OpenMP over the batch.
 * Source: Gu et al. 2020 "HiPPO", Appendix D; kexue.fm 10114.
 */
#include "ssm/family_hippo.h"

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) { return mb_hippo_supports(p, 0, why, len); }

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    return mb_hippo_lti_setup(state, w, MB_HIPPO_FOURIER, err, errlen);
}

const struct mb_kernel mb_kernel_ssm_hippo_fourier = {
    .name = "ssm.hippo.fourier",
    .family = &mb_family_ssm_hippo,
    .mechanism = "fourier",
    .approximates = "signal",
    .summary = "HiPPO-FouT online projection (window theta), dense discretised recurrence (disc=...)",
    .complexity = "O(L N^2) time, O(N^2) memory",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(rank) | MB_AXIS_BIT(eps),
    .rank_meaning = "N: state size (basis coefficients)",
    MB_KERNEL_SOURCE,
    .supports = supports,
    .setup = setup,
    .run = mb_hippo_lti_run,
    .teardown = mb_hippo_lti_teardown,
    .flops = mb_hippo_lti_flops,
    .bytes = mb_hippo_bytes,
    .workspace_bytes = mb_hippo_lti_workspace,
};
