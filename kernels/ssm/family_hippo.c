/* ssm.hippo family: HiPPO matrices, discretisations, matrix exponential, O(N) LegS products, workload, oracles
 * and the reconstruction check. See family_hippo.h for the conventions. */
#include "ssm/family_hippo.h"

#include "core/check.h"

#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sf_laguerre.h>
#include <gsl/gsl_sf_legendre.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ matrices */
void mb_hippo_matrix(enum mb_hippo_measure m, int64_t N, double theta, double *A, double *B) {
    memset(A, 0, (size_t)(N * N) * sizeof(double));
    for (int64_t n = 0; n < N; n++) {
        const double sn = sqrt(2.0 * n + 1.0);
        for (int64_t k = 0; k < N; k++) {
            const double sk = sqrt(2.0 * k + 1.0), sign = ((n - k) % 2 == 0) ? 1.0 : -1.0;
            double a = 0;
            switch (m) {
            case MB_HIPPO_LEGS: a = k < n ? -sn * sk : (k == n ? -(n + 1.0) : 0.0); break;
            case MB_HIPPO_LEGT: a = -(sn * sk / theta) * (k < n ? 1.0 : sign); break;
            case MB_HIPPO_LMU: a = -((2.0 * n + 1.0) / theta) * (k < n ? 1.0 : sign); break;
            case MB_HIPPO_LAGT: a = (k == n ? 0.5 : 0.0) - (k <= n ? 1.0 : 0.0); break;
            case MB_HIPPO_FOURIER: break;
            }
            A[n * N + k] = a;
        }
        switch (m) {
        case MB_HIPPO_LEGS: B[n] = sn; break;
        case MB_HIPPO_LEGT: B[n] = sn / theta; break;
        case MB_HIPPO_LMU: B[n] = (2.0 * n + 1.0) / theta; break;
        case MB_HIPPO_LAGT: B[n] = 1.0; break;
        case MB_HIPPO_FOURIER: B[n] = 0; break;
        }
    }
    if (m == MB_HIPPO_FOURIER) {
        /* basis order 1, cos_1, sin_1, cos_2, sin_2, ...: index 2k-1 = cos_k, 2k = sin_k; e (in B) = the basis at
           x = 0, zero on the sines and on an even N's dummy last slot (mb_hippo_fourier_used) */
        const int64_t used = mb_hippo_fourier_used(N);
        for (int64_t n = 0; n < N; n++) B[n] = n == 0 ? 1.0 : (n < used && n % 2 == 1 ? sqrt(2.0) : 0.0);
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < N; k++) A[n * N + k] = -2.0 * B[n] * B[k] / theta;
        for (int64_t n = 1; n + 1 < used; n += 2) {
            const double w = 2.0 * M_PI * (double)((n + 1) / 2) / theta;
            A[n * N + n + 1] += w;  /* cos_k' = ... + 2 pi k c_sin_k / theta */
            A[(n + 1) * N + n] -= w; /* sin_k' = ... - 2 pi k c_cos_k / theta */
        }
        for (int64_t n = 0; n < N; n++) B[n] *= 2.0 / theta;
    }
}

/* ------------------------------------------------------------------------------------------ expm */
static void gemm(int64_t n, const double *X, const double *Y, double *Z) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0, X, (int)n, Y, (int)n, 0.0,
                Z, (int)n);
}

int mb_expm(int64_t n, const double *A, double *E) {
    static const double b[14] = {64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
                                 1187353796428800.0,  129060195264000.0,   10559470521600.0,
                                 670442572800.0,      33522128640.0,       1323241920.0,
                                 40840800.0,          960960.0,            16380.0,
                                 182.0,               1.0};
    const double theta13 = 5.371920351148152;
    const size_t nn = (size_t)(n * n);
    double norm = 0;
    for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += fabs(A[i * n + j]);
        norm = s > norm ? s : norm;
    }
    int s = 0;
    if (norm > theta13) s = (int)ceil(log2(norm / theta13));
    const double scale = ldexp(1.0, -s);
    double *buf = calloc(8 * nn, sizeof(double));
    lapack_int *ipiv = malloc((size_t)n * sizeof(lapack_int));
    if (!buf || !ipiv) {
        free(buf);
        free(ipiv);
        return -1;
    }
    double *As = buf, *A2 = buf + nn, *A4 = buf + 2 * nn, *A6 = buf + 3 * nn, *T = buf + 4 * nn, *U = buf + 5 * nn,
           *V = buf + 6 * nn, *W = buf + 7 * nn;
    for (size_t i = 0; i < nn; i++) As[i] = A[i] * scale;
    gemm(n, As, As, A2);
    gemm(n, A2, A2, A4);
    gemm(n, A4, A2, A6);
    for (size_t i = 0; i < nn; i++) T[i] = b[13] * A6[i] + b[11] * A4[i] + b[9] * A2[i];
    gemm(n, A6, T, W);
    for (size_t i = 0; i < nn; i++) W[i] += b[7] * A6[i] + b[5] * A4[i] + b[3] * A2[i];
    for (int64_t i = 0; i < n; i++) W[i * n + i] += b[1];
    gemm(n, As, W, U);
    for (size_t i = 0; i < nn; i++) T[i] = b[12] * A6[i] + b[10] * A4[i] + b[8] * A2[i];
    gemm(n, A6, T, V);
    for (size_t i = 0; i < nn; i++) V[i] += b[6] * A6[i] + b[4] * A4[i] + b[2] * A2[i];
    for (int64_t i = 0; i < n; i++) V[i * n + i] += b[0];
    /* (V - U) E = (V + U) */
    for (size_t i = 0; i < nn; i++) {
        const double v = V[i], u = U[i];
        T[i] = v - u;
        E[i] = v + u;
    }
    int rc = LAPACKE_dgesv(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, T, (lapack_int)n, ipiv, E, (lapack_int)n);
    for (int i = 0; rc == 0 && i < s; i++) {
        gemm(n, E, E, W);
        memcpy(E, W, nn * sizeof(double));
    }
    free(buf);
    free(ipiv);
    return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------ discretisation */
int mb_hippo_discretize(int64_t N, const double *A, const double *B, double dt, enum mb_hippo_disc disc, double *Ad,
                        double *Bd) {
    const int64_t M = N + 1;
    if (disc == MB_DISC_EULER) {
        for (int64_t i = 0; i < N; i++) {
            for (int64_t j = 0; j < N; j++) Ad[i * N + j] = (i == j) + dt * A[i * N + j];
            Bd[i] = dt * B[i];
        }
        return 0;
    }
    double *L = malloc((size_t)(M * M) * sizeof(double)), *R = malloc((size_t)(N * M) * sizeof(double));
    lapack_int *ipiv = malloc((size_t)M * sizeof(lapack_int));
    int rc = -1;
    if (!L || !R || !ipiv) goto out;
    if (disc == MB_DISC_ZOH) {
        double *E = malloc((size_t)(M * M) * sizeof(double));
        if (!E) goto out;
        memset(L, 0, (size_t)(M * M) * sizeof(double));
        for (int64_t i = 0; i < N; i++) {
            for (int64_t j = 0; j < N; j++) L[i * M + j] = dt * A[i * N + j];
            L[i * M + N] = dt * B[i];
        }
        rc = mb_expm(M, L, E);
        for (int64_t i = 0; rc == 0 && i < N; i++) {
            for (int64_t j = 0; j < N; j++) Ad[i * N + j] = E[i * M + j];
            Bd[i] = E[i * M + N];
        }
        free(E);
        goto out;
    }
    /* bilinear: (I - dt A/2) [Ad | Bd] = [I + dt A/2 | dt B];  backward: (I - dt A) [Ad | Bd] = [I | dt B] */
    const double a = disc == MB_DISC_BILINEAR ? 0.5 * dt : dt, r = disc == MB_DISC_BILINEAR ? 0.5 * dt : 0.0;
    for (int64_t i = 0; i < N; i++) {
        for (int64_t j = 0; j < N; j++) {
            L[i * N + j] = (i == j) - a * A[i * N + j];
            R[i * M + j] = (i == j) + r * A[i * N + j];
        }
        R[i * M + N] = dt * B[i];
    }
    rc = LAPACKE_dgesv(LAPACK_ROW_MAJOR, (lapack_int)N, (lapack_int)M, L, (lapack_int)N, ipiv, R, (lapack_int)M);
    for (int64_t i = 0; rc == 0 && i < N; i++) {
        for (int64_t j = 0; j < N; j++) Ad[i * N + j] = R[i * M + j];
        Bd[i] = R[i * M + N];
    }
    rc = rc == 0 ? 0 : -1;
out:
    free(L);
    free(R);
    free(ipiv);
    return rc;
}

/* ------------------------------------------------------------------------------------------ O(N) LegS */
void mb_legs_matvec_d(int64_t N, const double *x, double *y) {
    double S = 0;
    for (int64_t n = 0; n < N; n++) {
        const double sq = sqrt(2.0 * n + 1.0), xn = x[n];
        y[n] = -(sq * S + (n + 1.0) * xn);
        S += sq * xn;
    }
}

void mb_legs_solve_d(int64_t N, double a, const double *b, double *y) {
    double S = 0;
    for (int64_t n = 0; n < N; n++) {
        const double sq = sqrt(2.0 * n + 1.0);
        y[n] = (b[n] - a * sq * S) / (1.0 + a * (n + 1.0));
        S += sq * y[n];
    }
}

void mb_legs_step_d(int64_t N, enum mb_hippo_disc disc, int64_t k, double u, double *x, double *tmp) {
    if (k == 0) {
        for (int64_t n = 0; n < N; n++) x[n] = n == 0 ? u : 0.0;
        return;
    }
    const double kk = (double)k;
    switch (disc) {
    case MB_DISC_EULER:
        mb_legs_matvec_d(N, x, tmp);
        for (int64_t n = 0; n < N; n++) x[n] += (tmp[n] + sqrt(2.0 * n + 1.0) * u) / kk;
        break;
    case MB_DISC_BACKWARD:
        for (int64_t n = 0; n < N; n++) tmp[n] = x[n] + sqrt(2.0 * n + 1.0) * u / (kk + 1.0);
        mb_legs_solve_d(N, 1.0 / (kk + 1.0), tmp, x);
        break;
    default: /* bilinear step-free form */
        mb_legs_matvec_d(N, x, tmp);
        for (int64_t n = 0; n < N; n++) tmp[n] = x[n] + tmp[n] / (2.0 * kk) + sqrt(2.0 * n + 1.0) * u / kk;
        mb_legs_solve_d(N, 1.0 / (2.0 * (kk + 1.0)), tmp, x);
        break;
    }
}

void mb_legs_step_fast_f(int64_t N, const float *sq, enum mb_hippo_disc disc, int64_t k, float u, float *x,
                         float *scratch) {
    if (k == 0) {
        for (int64_t n = 0; n < N; n++) x[n] = n == 0 ? u : 0.0f;
        return;
    }
    /* r = x + h (A x) + B u g, then x = (I - a A)^-1 r (a = 0: x = r); as in the dense kernel */
    float h, g, a;
    if (disc == MB_DISC_EULER) h = 1.0f / (float)k, g = h, a = 0.0f;
    else if (disc == MB_DISC_BACKWARD) h = 0.0f, g = 1.0f / (float)(k + 1), a = g;
    else h = 0.5f / (float)k, g = 1.0f / (float)k, a = 0.5f / (float)(k + 1);
    float *restrict S = scratch, *restrict r = scratch + N, *restrict inv = scratch + 2 * N,
                    *restrict al = scratch + 3 * N;
    /* 1. exclusive prefix S_n = sum_{j<n} sqrt(2j+1) x_j: the only serial chain of the product (one FMA) */
    if (h != 0.0f) {
        float acc = 0;
        for (int64_t n = 0; n < N; n++) {
            S[n] = acc;
            acc += sq[n] * x[n];
        }
    }
    const float ug = u * g;
#pragma omp simd
    for (int64_t n = 0; n < N; n++) {
        const float ax = h != 0.0f ? -(sq[n] * S[n] + (float)(n + 1) * x[n]) : 0.0f;
        r[n] = x[n] + h * ax + sq[n] * ug;
    }
    if (a == 0.0f) {
        for (int64_t n = 0; n < N; n++) x[n] = r[n];
        return;
    }
    /* 2. solve: y_n = (r_n - a sq_n T_n) / (1 + a(n+1)), T_n = sum_{j<n} sq_j y_j, i.e. the linear recurrence
     *    T_{n+1} = (1 - gamma_n) T_n + beta_n, gamma_n = a sq_n^2 / (1 + a(n+1)), beta_n = sq_n r_n / (1 + a(n+1)):
     *    vector coefficients, one FMA per element on the serial chain. True divisions, not a reciprocal times:
     *    the reciprocal's rounding is a bias that accumulates over the L steps (8x the error at L = 65536). */
#pragma omp simd
    for (int64_t n = 0; n < N; n++) {
        inv[n] = 1.0f + a * (float)(n + 1); /* the divisor: true (vector) divisions keep float32 rounding unbiased */
        al[n] = a * sq[n] * sq[n] / inv[n]; /* gamma */
        S[n] = sq[n] * r[n] / inv[n];       /* beta */
    }
    float T = 0;
    for (int64_t n = 0; n < N; n++) {
        const float t = T;
        T = fmaf(1.0f - al[n], T, S[n]);
        S[n] = t; /* exclusive T_n */
    }
#pragma omp simd
    for (int64_t n = 0; n < N; n++) x[n] = (r[n] - a * sq[n] * S[n]) / inv[n];
}

/* ------------------------------------------------------------------------------------------ workload */
static const struct mb_axis_rule hippo_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 24}, {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_rank, 32, 1, 1024},
    {MB_AXIS_eps, 0, 0, 1e3},
};

/* the order of enum mb_hippo_disc */
static const struct mb_param_decl hippo_params[] = {
    {"disc", MB_PARAM_ENUM, 0, 0, 0, "bilinear|zoh|euler|backward",
     "discretisation of c' = A c + B f (LegS: step-free forms; zoh only for the LTI measures)"},
    {"theta", MB_PARAM_REAL, 1, 1e-6, 1e6, NULL, "window length of LegT, LMU and Fourier (time units)"},
};

int mb_hippo_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len) {
    if (mb_hippo_measure_of(k) == MB_HIPPO_LEGS && mb_param_enum(p, "disc") == MB_DISC_ZOH) {
        mb_errorf(why, len, "disc=zoh: LegS is time-varying (a matrix exponential per step); use bilinear");
        return 1;
    }
    return 0;
}

void mb_hippo_bind(struct mb_hippo *h, const struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    h->batch = p->batch;
    h->n = p->n;
    h->N = p->rank;
    h->dt = p->eps > 0 ? p->eps : 1.0 / (double)p->n;
    h->disc = (enum mb_hippo_disc)mb_param_enum(p, "disc");
    h->theta = mb_param_real(p, "theta");
    h->f = w->inputs[0].data;
    h->c = w->outputs[0].data;
}

static int hippo_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    if ((double)p->batch * (double)p->n > (double)(INT64_C(1) << 32))
        return mb_errorf(err, errlen, "batch*n = %.3g samples is too large (max 2^32)", (double)p->batch * p->n);
    w->n_inputs = 1;
    w->inputs[0] = (struct mb_tensor){.name = "f", .ndim = 2, .shape = {p->batch, p->n}, .dims = "batch,n"};
    w->n_outputs = 1;
    w->outputs[0] = (struct mb_tensor){.name = "c", .ndim = 2, .shape = {p->batch, p->rank}, .dims = "batch,rank"};
    return 0;
}

/* f_b(t) = sum_{m=1..8} a_m sin(2 pi m t + phi_m), a_m ~ U(-1, 1)/m, phi_m ~ U(0, 2 pi); sample j at t = (j+0.5)/L */
static void hippo_fill(struct mb_workload *w) {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    const int64_t n = w->point.n;
    for (int64_t b = 0; b < w->point.batch; b++) {
        gsl_rng_set(rng, (unsigned long)(w->seed * 1000003u + (uint64_t)b * 7919u + 1));
        double amp[8], phase[8];
        for (int m = 0; m < 8; m++) {
            amp[m] = (2.0 * gsl_rng_uniform(rng) - 1.0) / (m + 1.0);
            phase[m] = 2.0 * M_PI * gsl_rng_uniform(rng);
        }
        float *f = w->inputs[0].data + b * n;
        for (int64_t j = 0; j < n; j++) {
            const double t = ((double)j + 0.5) / (double)n;
            double s = 0;
            for (int m = 0; m < 8; m++) s += amp[m] * sin(2.0 * M_PI * (m + 1.0) * t + phase[m]);
            f[j] = (float)s;
        }
    }
    gsl_rng_free(rng);
}

static int hippo_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *f = &w->inputs[0];
    if (f->ndim != 2) return mb_errorf(err, errlen, "'f' has %d dimensions; ssm.hippo expects 2: (batch, n)", f->ndim);
    w->point.batch = f->shape[0];
    w->point.n = f->shape[1];
    if (w->point.rank <= 0) w->point.rank = 32;
    w->n_outputs = 1;
    w->outputs[0] = (struct mb_tensor){.name = "c", .ndim = 2, .shape = {w->point.batch, w->point.rank},
                                       .dims = "batch,rank"};
    return 0;
}

/* ------------------------------------------------------------------------------------------ oracles */
/* The check runs on the driver of core/check.h. A row is one signal (batch item):
 *   the measure's own oracle  row b = the final coefficients c (N) of signal b by the float64 recurrence (LegS: the
 *                             step-free step; LTI measures: Ad, Bd discretised once per check, in float64);
 *   "signal"                  row = the samples of signal b's memory window (at most MB_HIPPO_RECON_POINTS, spread
 *                             evenly, first and last included) against their reconstruction from the kernel's c. */
#define MB_HIPPO_RECON_POINTS 2048

struct hippo_rows {
    struct mb_hippo h;
    enum mb_hippo_measure m;
    double *Ad, *Bd;       /* LTI measures: the float64 discretisation (N x N, N) */
    int64_t first, span, points; /* "signal": the window [first, n), span = n - first samples, points compared */
    const int64_t *items;  /* "signal": the signal of each compared row */
};

/* want = c (N) of signal b; tmp: N doubles */
static void measure_row(const void *ctx, int64_t b, double *tmp, double *c) {
    const struct hippo_rows *x = ctx;
    const struct mb_hippo *h = &x->h;
    const int64_t N = h->N, L = h->n;
    const float *f = h->f + b * L;
    if (x->m == MB_HIPPO_LEGS) {
        for (int64_t k = 0; k < L; k++) mb_legs_step_d(N, h->disc, k, f[k], c, tmp);
        return;
    }
    memset(c, 0, (size_t)N * sizeof(double));
    for (int64_t k = 0; k < L; k++) {
        memcpy(tmp, x->Bd, (size_t)N * sizeof(double));
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)N, 1.0, x->Ad, (int)N, c, 1, (double)f[k], tmp, 1);
        memcpy(c, tmp, (size_t)N * sizeof(double));
    }
}

/* sample p of the compared window samples: evenly spread over [first, n), both ends included */
static int64_t window_sample(const struct hippo_rows *x, int64_t p) {
    if (x->points == x->span) return x->first + p;
    return x->first + (int64_t)((double)p * (double)(x->span - 1) / (double)(x->points - 1));
}

/* want = the window samples of the row's signal (the exact "mechanism": f itself) */
static void signal_row(const void *ctx, int64_t r, double *scratch MB_UNUSED, double *want) {
    const struct hippo_rows *x = ctx;
    const float *f = x->h.f + x->items[r] * x->h.n;
    for (int64_t p = 0; p < x->points; p++) want[p] = f[window_sample(x, p)];
}

int64_t mb_hippo_window_first(enum mb_hippo_measure m, const struct mb_hippo *h) {
    if (m == MB_HIPPO_LEGS || m == MB_HIPPO_LAGT) return 0;
    const double first = ceil((double)h->n - 0.5 - h->theta / h->dt);
    return first < 0 ? 0 : (int64_t)first;
}

void mb_hippo_reconstruct(enum mb_hippo_measure m, const struct mb_hippo *h, const double *c, const int64_t *idx,
                          int64_t count, double *out) {
    const int64_t N = h->N, L = h->n;
    double *P = malloc((size_t)N * sizeof(double));
    for (int64_t i = 0; i < count; i++) {
        const double j = (double)idx[i];
        double x, s = (L - j - 0.5) * h->dt, acc = 0; /* x in [0, 1] of the window; s = age in time units */
        if (m == MB_HIPPO_LEGS) x = (j + 0.5) / (double)L;
        else x = 1.0 - s / h->theta;
        if (m == MB_HIPPO_LEGS || m == MB_HIPPO_LEGT || m == MB_HIPPO_LMU) {
            double z = 2.0 * x - 1.0;
            z = z < -1 ? -1 : (z > 1 ? 1 : z);
            gsl_sf_legendre_Pl_array((int)N - 1, z, P);
            for (int64_t n = 0; n < N; n++) acc += c[n] * P[n] * (m == MB_HIPPO_LMU ? 1.0 : sqrt(2.0 * n + 1.0));
        } else if (m == MB_HIPPO_LAGT) {
            const double e = exp(-0.5 * s);
            for (int64_t n = 0; n < N; n++) acc += c[n] * gsl_sf_laguerre_n((int)n, 0.0, s) * e;
        } else {
            acc = c[0];
            for (int64_t n = 1; n < mb_hippo_fourier_used(N); n++) {
                const double k = (double)((n + 1) / 2);
                acc += c[n] * sqrt(2.0) * (n % 2 ? cos(2 * M_PI * k * x) : sin(2 * M_PI * k * x));
            }
        }
        out[i] = acc;
    }
    free(P);
}

/* oracle: the row oracle of the driver (measure_row for the measures, signal_row for "signal") */
static const struct mb_mechanism hippo_mechanisms[] = {
    {"legs", "x_{k+1} = LegS step-free step (disc: bilinear | euler | backward), float64, final c", 1e-4,
     (void (*)(void))measure_row},
    {"legt", "x_{k+1} = Ad x_k + Bd f_k, LegT (window theta), float64 discretisation (disc)", 1e-3,
     (void (*)(void))measure_row},
    {"lmu", "x_{k+1} = Ad x_k + Bd f_k, LMU scaling of LegT, float64", 1e-3, (void (*)(void))measure_row},
    {"lagt", "x_{k+1} = Ad x_k + Bd f_k, LagT (beta = 1), float64", 1e-3, (void (*)(void))measure_row},
    /* FouT's high-frequency modes are barely damped (|eig Ad| ~ 1): float32 rounding accumulates like sqrt(L)
     * (measured rel_l2 1.2e-3 (bilinear, zoh) to 2.5e-3 (backward) at L = 16384, N = 256), hence the looser
     * tolerance */
    {"fourier", "x_{k+1} = Ad x_k + Bd f_k, FouT (window theta), float64", 1e-2, (void (*)(void))measure_row},
    {"signal", "f itself on the memory window, vs the reconstruction from c (Legendre / Laguerre / Fourier basis)",
     1.0, (void (*)(void))signal_row},
};

/* The measure's own oracle: the final coefficients of a sample of signals (all when cheap), bounded by the
 * oracle's cost (4e9 multiply-adds). */
static int check_measure(struct hippo_rows *x, const struct mb_check_opts *opts, struct mb_errors *out, char *err,
                         size_t errlen) {
    const struct mb_hippo *h = &x->h;
    const int64_t N = h->N;
    const double cost = (double)h->n * (x->m == MB_HIPPO_LEGS ? (double)N : (double)N * N);
    int64_t cap = (int64_t)(4e9 / (cost > 1 ? cost : 1));
    struct mb_check_opts o = *opts;
    if (o.sample_rows <= 0 || o.sample_rows > cap) o.sample_rows = cap < 1 ? 1 : cap;
    if (x->m != MB_HIPPO_LEGS) {
        double *A = malloc((size_t)(N * N) * sizeof(double)), *B = malloc((size_t)N * sizeof(double));
        x->Ad = malloc((size_t)(N * N) * sizeof(double));
        x->Bd = malloc((size_t)N * sizeof(double));
        int rc = (A && B && x->Ad && x->Bd) ? 0 : mb_errorf(err, errlen, "out of memory in the hippo oracle");
        if (!rc) mb_hippo_matrix(x->m, N, h->theta, A, B);
        if (!rc && mb_hippo_discretize(N, A, B, h->dt, h->disc, x->Ad, x->Bd))
            rc = mb_errorf(err, errlen, "hippo oracle: discretisation failed (singular system)");
        free(A);
        free(B);
        if (rc) return -1;
    }
    const struct mb_row_check c = {.width = N, .scratch = N, .got = h->c, .oracle = measure_row, .ctx = x};
    return mb_check_sampled(&c, 1, h->batch, 0, &o, out, err, errlen);
}

/* "signal": a sample of at most 64 signals (all when every row is asked for) reconstructed from the kernel's c */
static int check_signal(struct hippo_rows *x, const struct mb_check_opts *opts, struct mb_errors *out, char *err,
                        size_t errlen) {
    const struct mb_hippo *h = &x->h;
    x->first = mb_hippo_window_first(x->m, h);
    x->span = h->n - x->first;
    x->points = x->span < MB_HIPPO_RECON_POINTS ? x->span : MB_HIPPO_RECON_POINTS;
    struct mb_check_opts o = *opts;
    if (o.sample_rows > 64) o.sample_rows = 64;
    int64_t *items = NULL, *rows = NULL;
    const int64_t count = mb_pick_rows(1, h->batch, 0, &o, &items);
    if (count < 0) return mb_errorf(err, errlen, "out of memory picking the oracle rows");
    /* got: the reconstructions of the picked signals, row r of the driver = items[r] */
    float *rec = malloc((size_t)(count * x->points) * sizeof(float));
    rows = malloc((size_t)count * sizeof *rows);
    int failed = !rec || !rows;
#pragma omp parallel if (!failed)
    {
        double *cd = malloc((size_t)(h->N + x->points) * sizeof(double)), *val = cd ? cd + h->N : NULL;
        int64_t *idx = malloc((size_t)x->points * sizeof(int64_t));
        if (!cd || !idx) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t r = 0; r < count; r++) {
            if (!cd || !idx) continue;
            rows[r] = r;
            for (int64_t n = 0; n < h->N; n++) cd[n] = h->c[items[r] * h->N + n];
            for (int64_t p = 0; p < x->points; p++) idx[p] = window_sample(x, p);
            mb_hippo_reconstruct(x->m, h, cd, idx, x->points, val);
            for (int64_t p = 0; p < x->points; p++) rec[r * x->points + p] = (float)val[p];
        }
        free(cd);
        free(idx);
    }
    int rc = -1;
    if (failed) mb_errorf(err, errlen, "out of memory in the hippo reconstruction");
    else {
        x->items = items;
        const struct mb_row_check c = {.width = x->points, .got = rec, .oracle = signal_row, .ctx = x};
        rc = mb_check_rows(&c, rows, count, out, err, errlen);
    }
    free(items);
    free(rows);
    free(rec);
    return rc;
}

static int hippo_check(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism,
                       const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    struct hippo_rows x = {.m = mb_hippo_measure_of(k)};
    mb_hippo_bind(&x.h, w);
    const int signal = !strcmp(mechanism, "signal");
    if (!signal && strcmp(mechanism, k->mechanism))
        return mb_errorf(err, errlen, "ssm.hippo has no oracle for mechanism '%s' of %s", mechanism, k->name);
    const int rc = signal ? check_signal(&x, opts, out, err, errlen) : check_measure(&x, opts, out, err, errlen);
    free(x.Ad);
    free(x.Bd);
    return rc;
}

const struct mb_family mb_family_ssm_hippo = {
    .name = "ssm.hippo",
    .summary = "f (batch, n) signal -> c (batch, rank = N) HiPPO coefficients at the final time",
    MB_SSM_TABLE(axes, hippo_axes),
    MB_SSM_TABLE(params, hippo_params),
    MB_SSM_TABLE(probes, mb_hippo_probes),
    MB_SSM_TABLE(mechanisms, hippo_mechanisms),
    .layout = hippo_layout,
    .fill = hippo_fill,
    .point_from_inputs = hippo_point_from_inputs,
    .check = hippo_check,
};

/* ------------------------------------------------------------------------------------------ LTI kernel helper */
int mb_hippo_lti_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct mb_hippo_lti *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_hippo_bind(&s->h, w);
    const enum mb_hippo_measure m = mb_hippo_measure_of(k);
    const int64_t N = s->h.N;
    double *A = malloc((size_t)(N * N) * sizeof(double)), *B = malloc((size_t)N * sizeof(double));
    double *Ad = malloc((size_t)(N * N) * sizeof(double)), *Bd = malloc((size_t)N * sizeof(double));
    s->Ad = mb_alloc((size_t)(N * N) * sizeof(float));
    s->Bd = mb_alloc((size_t)N * sizeof(float));
    int rc = -1;
    if (!A || !B || !Ad || !Bd || !s->Ad || !s->Bd) {
        mb_errorf(err, errlen, "out of memory");
    } else {
        mb_hippo_matrix(m, N, s->h.theta, A, B);
        if (mb_hippo_discretize(N, A, B, s->h.dt, s->h.disc, Ad, Bd)) {
            mb_errorf(err, errlen, "discretisation failed (singular system)");
        } else {
            for (int64_t i = 0; i < N * N; i++) s->Ad[(i % N) * N + i / N] = (float)Ad[i]; /* transposed */
            for (int64_t i = 0; i < N; i++) s->Bd[i] = (float)Bd[i];
            rc = 0;
        }
    }
    free(A);
    free(B);
    free(Ad);
    free(Bd);
    if (rc) {
        mb_hippo_lti_teardown(s);
        return -1;
    }
    *state = s;
    return 0;
}

#define MB_HIPPO_MAX_STACK 1024 /* rank max: the per-step scratch lives on the stack */

void mb_hippo_lti_run(void *state) {
    const struct mb_hippo_lti *s = state;
    const struct mb_hippo *h = &s->h;
    const int64_t N = h->N, L = h->n;
    const float *restrict Ad = s->Ad, *restrict Bd = s->Bd;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < h->batch; b++) {
        float buf[2 * MB_HIPPO_MAX_STACK] __attribute__((aligned(64)));
        float *x = buf, *y = buf + MB_HIPPO_MAX_STACK;
        const float *f = h->f + b * L;
        for (int64_t i = 0; i < N; i++) x[i] = 0;
        for (int64_t k = 0; k < L; k++) {
            const float u = f[k];
            /* y = Bd u + sum_j x_j Ad[:, j]: column (axpy) form on the stored transpose, vector FMAs only */
#pragma omp simd
            for (int64_t i = 0; i < N; i++) y[i] = Bd[i] * u;
            for (int64_t j = 0; j < N; j++) {
                const float xj = x[j];
                const float *restrict col = Ad + j * N;
#pragma omp simd
                for (int64_t i = 0; i < N; i++) y[i] += xj * col[i];
            }
            float *t = x;
            x = y;
            y = t;
        }
        for (int64_t i = 0; i < N; i++) h->c[b * N + i] = x[i];
    }
}

void mb_hippo_lti_teardown(void *state) {
    struct mb_hippo_lti *s = state;
    mb_free(s->Ad);
    mb_free(s->Bd);
    free(s);
}

double mb_hippo_lti_flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 2.0 * (double)p->batch * (double)p->n * ((double)p->rank * p->rank + p->rank);
}

double mb_hippo_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 4.0 * (double)p->batch * ((double)p->n + (double)p->rank);
}

double mb_hippo_lti_workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) { return 4.0 * ((double)p->rank * p->rank + p->rank); }
