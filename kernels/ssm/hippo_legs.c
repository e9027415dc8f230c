/* ssm.hippo.legs: HiPPO-LegS online projection, dense O(N^2) step (Gu et al. 2020, "HiPPO", eq. (3)-(4) and
 * Appendix D.3; kexue.fm 10137).
 *
 *   continuous  c'(t) = A c(t) / t + B f(t) / t,   A_nk = -sqrt((2n+1)(2k+1)) (k < n), -(n+1) (k = n), B_n = sqrt(2n+1)
 *   step-free bilinear (default):  c_{k+1} = (I - A/(2(k+1)))^-1 [(I + A/(2k)) c_k + B f_k / k],  k >= 1
 *   disc=euler:     c_{k+1} = (I + A/k) c_k + B f_k / k
 *   disc=backward:  c_{k+1} = (I - A/(k+1))^-1 (c_k + B f_k / (k+1)),   c_1 = f_0 e_0 in every form
 * Shapes: f (batch, L) -> c (batch, N) at t = L: f(t x) ~ sum_n c_n sqrt(2n+1) P_n(2x - 1), x in [0, 1].
 * This is the dense form: per step a dense (lower-triangular) matrix-vector product with the stored A and a dense
 * forward substitution with (I - a A), both in column (axpy) form on the stored transpose (vector FMAs, no
 * horizontal sums on the dependency chain), each O(N^2). Cost O(L N^2) per signal; OpenMP over the batch.
 * Compare ssm.hippo.legs_fast (O(N) products, same recurrence).
 */
#include "ssm/family_hippo.h"

#include <math.h>
#include <stdlib.h>

struct legs_dense {
    struct mb_hippo h;
    float *A;  /* (N, N) float copy of the LegS matrix */
    float *At; /* (N, N) its transpose: column i contiguous, for the axpy-form forward substitution */
    float *B;  /* (N) */
};

static void teardown(void *state) {
    struct legs_dense *s = state;
    mb_free(s->A);
    mb_free(s->At);
    mb_free(s->B);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct legs_dense *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_hippo_bind(&s->h, w);
    const int64_t N = s->h.N;
    double *A = malloc((size_t)(N * N) * sizeof(double)), *B = malloc((size_t)N * sizeof(double));
    s->A = mb_alloc((size_t)(N * N) * sizeof(float));
    s->At = mb_alloc((size_t)(N * N) * sizeof(float));
    s->B = mb_alloc((size_t)N * sizeof(float));
    if (!A || !B || !s->A || !s->At || !s->B) {
        free(A);
        free(B);
        teardown(s);
        return mb_errorf(err, errlen, "out of memory");
    }
    mb_hippo_matrix(MB_HIPPO_LEGS, N, 1.0, A, B);
    for (int64_t i = 0; i < N * N; i++) s->A[i] = (float)A[i], s->At[(i % N) * N + i / N] = (float)A[i];
    for (int64_t i = 0; i < N; i++) s->B[i] = (float)B[i];
    free(A);
    free(B);
    *state = s;
    return 0;
}

#define MAXN 1024

static void run(void *state) {
    const struct legs_dense *s = state;
    const struct mb_hippo *h = &s->h;
    const int64_t N = h->N, L = h->n;
    const enum mb_hippo_disc disc = h->disc;
    const float *restrict At = s->At, *restrict B = s->B;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < h->batch; b++) {
        float x[MAXN] __attribute__((aligned(64))), r[MAXN] __attribute__((aligned(64)));
        const float *f = h->f + b * L;
        for (int64_t i = 0; i < N; i++) x[i] = i == 0 ? f[0] : 0.0f; /* c_1 = f_0 e_0 */
        for (int64_t k = 1; k < L; k++) {
            const float u = f[k], ik = 1.0f / (float)k;
            /* r = (I + h1 A) x + B u g ;  then x = (I - a A)^-1 r  (a = 0: no solve) */
            float h1, g, a;
            if (disc == MB_DISC_EULER) h1 = ik, g = ik, a = 0.0f;
            else if (disc == MB_DISC_BACKWARD) h1 = 0.0f, g = 1.0f / (float)(k + 1), a = 1.0f / (float)(k + 1);
            else h1 = 0.5f * ik, g = ik, a = 0.5f / (float)(k + 1);
            for (int64_t i = 0; i < N; i++) r[i] = x[i] + B[i] * u * g;
            for (int64_t j = 0; j < N; j++) { /* r += h1 A x, column (axpy) form over the lower triangle */
                const float hxj = h1 * x[j];
                const float *restrict col = At + j * N;
#pragma omp simd
                for (int64_t i = j; i < N; i++) r[i] += hxj * col[i];
            }
            if (a == 0.0f) {
                for (int64_t i = 0; i < N; i++) x[i] = r[i];
                continue;
            }
            /* forward substitution (I - a A) x = r, A lower triangular, column (axpy) form: no horizontal sums on
             * the dependency chain, each column update is a vector FMA over the rows below */
            for (int64_t i = 0; i < N; i++) {
                const float xi = r[i] / (1.0f - a * At[i * N + i]), axi = a * xi;
                const float *restrict col = At + i * N;
                x[i] = xi;
#pragma omp simd
                for (int64_t j = i + 1; j < N; j++) r[j] += axi * col[j];
            }
        }
        for (int64_t i = 0; i < N; i++) h->c[b * N + i] = x[i];
    }
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return 2.0 * (double)p->batch * (double)p->n * ((double)p->rank * (p->rank + 1) + 3.0 * p->rank);
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return 4.0 * (2.0 * (double)p->rank * p->rank + p->rank); }

const struct mb_kernel mb_kernel_ssm_hippo_legs = {
    .name = "ssm.hippo.legs",
    .mechanism = "legs",
    .summary = "HiPPO-LegS online projection, step-free bilinear (disc=euler|backward), dense O(N^2) step",
    .complexity = "O(L N^2) time, O(N^2) memory",
    MB_HIPPO_KERNEL(MB_HIPPO_LEGS, 0),
    MB_SSM_OPS(setup, run, teardown, flops, mb_hippo_bytes, workspace),
};
