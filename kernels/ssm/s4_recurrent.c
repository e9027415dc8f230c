/* ssm.s4.recurrent: S4 as a linear recurrence (Gu et al. 2021, "Efficiently Modeling Long Sequences with
 * Structured State Spaces", eq. (3); kexue.fm 10162).
 *
 *   x_t = Abar x_{t-1} + Bbar u_t,  y_t = C x_t,  x_{-1} = 0        (equals y = Kbar * u, Kbar_j = C Abar^j Bbar)
 *   Abar = (I - dt A/2)^-1 (I + dt A/2), Bbar = dt (I - dt A/2)^-1 B, A = HiPPO-LegS (N x N), per-channel dt, B, C
 * Shapes: u, y (batch, D, L); B, C (D, N); dt (D). Abar, Bbar are solved in float64 in setup (LAPACKE_dgesv; they
 * depend on the parameters only) and stored as float32; the timed run is the scan.
 * Cost: O(L N^2) per channel (one dense matrix-vector product per step), O(D N^2) memory; OpenMP over the
 * batch x D independent channels; each step is N vector FMAs (axpy form on the stored Abar^T).
 */
#include "ssm/family_s4.h"

#include <stdlib.h>

struct s4_rec {
    struct mb_s4 s;
    float *Abar; /* (D, N, N), each transposed: column j of Abar contiguous */
    float *Bbar; /* (D, N) */
};

static void teardown(void *state) {
    struct s4_rec *r = state;
    mb_free(r->Abar);
    mb_free(r->Bbar);
    free(r);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct s4_rec *r = calloc(1, sizeof *r);
    if (!r) return mb_errorf(err, errlen, "out of memory");
    mb_s4_bind(&r->s, w);
    const int64_t N = r->s.N, D = r->s.D;
    r->Abar = mb_alloc((size_t)(D * N * N) * sizeof(float));
    r->Bbar = mb_alloc((size_t)(D * N) * sizeof(float));
    double *Ad = malloc((size_t)(N * N) * sizeof(double)), *Bd = malloc((size_t)N * sizeof(double));
    int rc = (r->Abar && r->Bbar && Ad && Bd) ? 0 : mb_errorf(err, errlen, "out of memory");
    for (int64_t ch = 0; rc == 0 && ch < D; ch++) {
        if (mb_s4_discretize(&r->s, ch, Ad, Bd)) {
            rc = mb_errorf(err, errlen, "channel %lld: singular bilinear discretisation", (long long)ch);
            break;
        }
        for (int64_t i = 0; i < N * N; i++) r->Abar[ch * N * N + (i % N) * N + i / N] = (float)Ad[i]; /* Abar^T */
        for (int64_t i = 0; i < N; i++) r->Bbar[ch * N + i] = (float)Bd[i];
    }
    free(Ad);
    free(Bd);
    if (rc) {
        teardown(r);
        return -1;
    }
    *state = r;
    return 0;
}

#define MAXN 1024

static void run(void *state) {
    const struct s4_rec *r = state;
    const struct mb_s4 *s = &r->s;
    const int64_t N = s->N, L = s->L, D = s->D;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t p = 0; p < s->batch * D; p++) {
        const int64_t ch = p % D;
        const float *restrict Ab = r->Abar + ch * N * N, *restrict Bb = r->Bbar + ch * N, *restrict C = s->C + ch * N;
        const float *u = s->u + p * L;
        float *y = s->y + p * L;
        float buf[2 * MAXN] __attribute__((aligned(64)));
        float *x = buf, *xn = buf + MAXN;
        for (int64_t i = 0; i < N; i++) x[i] = 0;
        for (int64_t t = 0; t < L; t++) {
            const float ut = u[t];
            float yt = 0;
#pragma omp simd
            for (int64_t i = 0; i < N; i++) xn[i] = Bb[i] * ut;
            for (int64_t j = 0; j < N; j++) { /* xn += x_j Abar[:, j]: axpy form, vector FMAs only */
                const float xj = x[j];
                const float *restrict col = Ab + j * N;
#pragma omp simd
                for (int64_t i = 0; i < N; i++) xn[i] += xj * col[i];
            }
#pragma omp simd reduction(+ : yt)
            for (int64_t i = 0; i < N; i++) yt += C[i] * xn[i];
            y[t] = yt;
            float *tmp = x;
            x = xn;
            xn = tmp;
        }
    }
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return 2.0 * (double)p->batch * p->d * p->n * ((double)p->rank * p->rank + 2.0 * p->rank);
}
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_s4_io_bytes(p) + 4.0 * (double)p->d * p->rank * p->rank; }
static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return 4.0 * (double)p->d * ((double)p->rank * p->rank + p->rank); }

const struct mb_kernel mb_kernel_ssm_s4_recurrent = {
    .name = "ssm.s4.recurrent",
    MB_S4_KERNEL,
    .summary = "S4 (LegS, bilinear) as a recurrence: x = Abar x + Bbar u, y = C x, dense N x N step per channel",
    .complexity = "O(L N^2) time per channel, O(D N^2) memory",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
