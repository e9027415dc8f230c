/* ssm.hippo.legs_fast: HiPPO-LegS with the O(N) structured products (kexue.fm 10137; Gu et al. 2020, Appendix E).
 *
 * Same recurrence as ssm.hippo.legs (step-free bilinear by default; disc=euler|backward), but A is never stored:
 *   (A x)_n = -sqrt(2n+1) S_n - (n+1) x_n,  S_n = sum_{k<n} sqrt(2k+1) x_k      (a running prefix sum)
 *   (I - a A) y = r  <=>  y_n = (r_n - a sqrt(2n+1) T_n) / (1 + a (n+1)),  T_n = sum_{k<n} sqrt(2k+1) y_k
 * Per step: one serial prefix sum (one FMA per element), vector work, and the solve rewritten as the linear
 * recurrence T_{n+1} = (1 - a s_n^2 / (1 + a(n+1))) T_n + s_n r_n / (1 + a(n+1)) (one serial FMA per element; the
 * divisions are vectorised off the chain): O(N) per step, O(L N) per signal, O(N) memory. OpenMP over the batch.
 * Shapes: f (batch, L) -> c (batch, N).
 */
#include "ssm/family_hippo.h"

#include <math.h>
#include <stdlib.h>

struct legs_fast {
    struct mb_hippo h;
    float *sq; /* (N) sqrt(2n+1) */
};

static void teardown(void *state) {
    struct legs_fast *s = state;
    mb_free(s->sq);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct legs_fast *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_hippo_bind(&s->h, w);
    s->sq = mb_alloc((size_t)s->h.N * sizeof(float));
    if (!s->sq) {
        teardown(s);
        return mb_errorf(err, errlen, "out of memory");
    }
    for (int64_t n = 0; n < s->h.N; n++) s->sq[n] = (float)sqrt(2.0 * n + 1.0);
    *state = s;
    return 0;
}

static void run(void *state) {
    const struct legs_fast *s = state;
    const struct mb_hippo *h = &s->h;
    const int64_t N = h->N, L = h->n;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < h->batch; b++) {
        float *x = h->c + b * N; /* the state lives in the output row */
        float scratch[4 * 1024] __attribute__((aligned(64)));
        const float *f = h->f + b * L;
        for (int64_t k = 0; k < L; k++) mb_legs_step_fast_f(N, s->sq, h->disc, k, f[k], x, scratch);
    }
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return 14.0 * (double)p->batch * (double)p->n * (double)p->rank; }

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return 4.0 * (double)p->rank; }

const struct mb_kernel mb_kernel_ssm_hippo_legs_fast = {
    .name = "ssm.hippo.legs_fast",
    .mechanism = "legs",
    .summary = "HiPPO-LegS online projection with O(N) structured A products (prefix sums), step-free bilinear",
    .complexity = "O(L N) time, O(N) memory",
    MB_HIPPO_KERNEL(MB_HIPPO_LEGS, 0),
    MB_SSM_OPS(setup, run, teardown, flops, mb_hippo_bytes, workspace),
};
