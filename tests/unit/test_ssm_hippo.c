/* ssm.hippo: matrices (LegS N = 4 as printed in MECHANISMS.md; FouT's modes), the matrix exponential, the
 * discretisations, the O(N) LegS products against the dense ones, legs_fast == legs, LMU == scaled LegT, and the
 * reconstruction error falling as N grows. Every kernel against its float64 oracle: test_ssm_kernels.c. */
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/runner.h"
#include "ssm/family_hippo.h"

static struct mb_point hippo_point(const struct mb_kernel *k, int64_t batch, int64_t n, int64_t N, int threads,
                                   const char *params) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = batch;
    p.n = n;
    p.rank = N;
    p.threads = threads;
    snprintf(p.params, sizeof p.params, "%s", params ? params : "");
    mb_point_complete(k, &p, 0);
    return p;
}

/* Runs k at p (seed 7); returns a malloc'd copy of c, and the errors vs the own oracle / the signal. */
static float *run_kernel(const struct mb_kernel *k, const struct mb_point *p, struct mb_errors *own,
                         struct mb_errors *exact, float corrupt) {
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, p, 7, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s: %s", k->name, err);
    const int64_t count = mb_tensor_numel(&w.outputs[0]);
    w.outputs[0].data[count - 1] += corrupt;
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    if (own) cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, own, err, sizeof err), 0, "%s", err);
    if (exact) cr_assert_eq(k->family->check(k, &w, "signal", &co, exact, err, sizeof err), 0, "%s", err);
    float *copy = malloc((size_t)count * sizeof(float));
    memcpy(copy, w.outputs[0].data, (size_t)count * sizeof(float));
    mb_workload_free(&w);
    return copy;
}

static const char *const discs[] = {"", "disc=euler", "disc=backward", "disc=zoh"};

static double rel_diff(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

Test(ssm_hippo, legs_matrix_n4_matches_mechanisms) {
    double A[16], B[4];
    mb_hippo_matrix(MB_HIPPO_LEGS, 4, 1.0, A, B);
    const double s3 = sqrt(3), s5 = sqrt(5), s7 = sqrt(7), s15 = sqrt(15), s21 = sqrt(21), s35 = sqrt(35);
    const double want[16] = {-1, 0, 0, 0, -s3, -2, 0, 0, -s5, -s15, -3, 0, -s7, -s21, -s35, -4};
    for (int i = 0; i < 16; i++) cr_assert_float_eq(A[i], want[i], 1e-14, "A[%d] = %g, want %g", i, A[i], want[i]);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(B[i], sqrt(2.0 * i + 1), 1e-14);
}

Test(ssm_hippo, legt_lmu_lagt_fourier_conventions) {
    double A[25], B[5];
    mb_hippo_matrix(MB_HIPPO_LEGT, 3, 2.0, A, B); /* theta = 2 */
    cr_assert_float_eq(A[0], -0.5, 1e-14);                       /* n = k = 0 */
    cr_assert_float_eq(A[0 * 3 + 1], 0.5 * sqrt(3.0), 1e-14);    /* k > n, (-1)^(n-k) = -1 */
    cr_assert_float_eq(A[2 * 3 + 0], -0.5 * sqrt(5.0), 1e-14);   /* k < n */
    cr_assert_float_eq(B[2], sqrt(5.0) / 2, 1e-14);
    mb_hippo_matrix(MB_HIPPO_LMU, 3, 1.0, A, B);
    cr_assert_float_eq(A[1 * 3 + 2], 3.0, 1e-14);
    cr_assert_float_eq(B[2], 5.0, 1e-14);
    mb_hippo_matrix(MB_HIPPO_LAGT, 3, 1.0, A, B);
    cr_assert_float_eq(A[0], -0.5, 1e-14);
    cr_assert_float_eq(A[1 * 3 + 0], -1.0, 1e-14);
    cr_assert_float_eq(A[0 * 3 + 1], 0.0, 1e-14);
    cr_assert_float_eq(B[1], 1.0, 1e-14);
    mb_hippo_matrix(MB_HIPPO_FOURIER, 5, 1.0, A, B); /* 1, cos1, sin1, cos2, sin2: B = 2 e, A = -(2 e e^T + Omega) */
    cr_assert_float_eq(B[0], 2.0, 1e-14);
    cr_assert_float_eq(B[1], 2 * sqrt(2.0), 1e-14);
    cr_assert_float_eq(B[2], 0.0, 1e-14);
    cr_assert_float_eq(A[0], -2.0, 1e-12);                 /* - 2 e_0 e_0 */
    cr_assert_float_eq(A[1 * 5 + 2], 2 * M_PI, 1e-12);     /* cos_1 <- + 2 pi c_sin1 */
    cr_assert_float_eq(A[2 * 5 + 1], -2 * M_PI, 1e-12);    /* sin_1 <- - 2 pi c_cos1 */
    cr_assert_float_eq(A[3 * 5 + 4], 4 * M_PI, 1e-12);
    cr_assert_float_eq(A[1 * 5 + 3], -4.0, 1e-12);         /* - 2 e_cos1 e_cos2 */
    mb_hippo_matrix(MB_HIPPO_FOURIER, 4, 2.0, A, B); /* even N, theta = 2: 1, cos1, sin1 and a dummy slot */
    cr_assert_float_eq(B[1], sqrt(2.0), 1e-14);
    cr_assert_float_eq(A[1 * 4 + 2], M_PI, 1e-12);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(A[3 * 4 + i], 0.0, "dummy row");
        cr_assert_eq(A[i * 4 + 3], 0.0, "dummy column");
    }
    cr_assert_eq(B[3], 0.0);
}

Test(ssm_hippo, fourier_modes_all_decay_and_an_even_n_keeps_its_dummy_at_zero) {
    /* every eigenvalue of FouT's A but the dummy's has a negative real part, for odd and even N */
    for (int N = 1; N <= 33; N++) {
        double *A = malloc(sizeof(double) * N * N), *B = malloc(sizeof(double) * N);
        double *wr = malloc(sizeof(double) * N), *wi = malloc(sizeof(double) * N);
        mb_hippo_matrix(MB_HIPPO_FOURIER, N, 1.0, A, B);
        cr_assert_eq(LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', N, A, N, wr, wi, NULL, N, NULL, N), 0);
        int zero = 0;
        for (int i = 0; i < N; i++) {
            if (fabs(wr[i]) < 1e-12 && fabs(wi[i]) < 1e-12) zero++;
            else cr_assert_lt(wr[i], -0.1, "N=%d: eigenvalue %g%+gi does not decay", N, wr[i], wi[i]);
        }
        cr_assert_eq(zero, N % 2 ? 0 : 1, "N=%d: %d zero eigenvalues", N, zero);
        free(A), free(B), free(wr), free(wi);
    }
    /* the kernel's dummy coefficient stays exactly 0 */
    const struct mb_kernel *k = mb_kernel_find("ssm.hippo.fourier");
    for (int d = 0; d < 4; d++) {
        struct mb_point p = hippo_point(k, 2, 300, 8, 1, discs[d]);
        float *c = run_kernel(k, &p, NULL, NULL, 0);
        cr_assert_eq(c[7], 0.0f, "%s", discs[d]);
        cr_assert_eq(c[15], 0.0f, "%s", discs[d]);
        free(c);
    }
}

Test(ssm_hippo, expm_rotation_diagonal_and_inverse) {
    const double t = 7.3; /* large norm: scaling and squaring is exercised */
    double A[4] = {0, -t, t, 0}, E[4];
    cr_assert_eq(mb_expm(2, A, E), 0);
    cr_assert_float_eq(E[0], cos(t), 1e-12);
    cr_assert_float_eq(E[1], -sin(t), 1e-12);
    cr_assert_float_eq(E[2], sin(t), 1e-12);
    double D[9] = {-30, 0, 0, 0, 0.5, 0, 0, 0, 2}, F[9];
    cr_assert_eq(mb_expm(3, D, F), 0);
    cr_assert(fabs(F[0] - exp(-30)) < 1e-20 && fabs(F[4] / exp(0.5) - 1) < 1e-13 && fabs(F[8] / exp(2) - 1) < 1e-13);
    /* exp(A) exp(-A) = I for the LegS matrix N = 16 scaled by 0.1 */
    enum { N = 16 };
    double L[N * N], Bv[N], Ln[N * N], E1[N * N], E2[N * N];
    mb_hippo_matrix(MB_HIPPO_LEGS, N, 1.0, L, Bv);
    for (int i = 0; i < N * N; i++) L[i] *= 0.1, Ln[i] = -L[i];
    cr_assert_eq(mb_expm(N, L, E1), 0);
    cr_assert_eq(mb_expm(N, Ln, E2), 0);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < N; k++) s += E1[i * N + k] * E2[k * N + j];
            cr_assert(fabs(s - (i == j)) < 1e-9, "(%d,%d): %g", i, j, s);
        }
}

Test(ssm_hippo, discretisations_agree_for_small_steps_and_zoh_is_exact_for_scalars) {
    enum { N = 8 };
    double A[N * N], B[N], Ad[4][N * N], Bd[4][N];
    mb_hippo_matrix(MB_HIPPO_LEGT, N, 1.0, A, B);
    const double dt = 1e-4;
    for (int d = 0; d < 4; d++) cr_assert_eq(mb_hippo_discretize(N, A, B, dt, (enum mb_hippo_disc)d, Ad[d], Bd[d]), 0);
    for (int d = 1; d < 4; d++)
        for (int i = 0; i < N * N; i++)
            cr_assert(fabs(Ad[d][i] - Ad[MB_DISC_ZOH][i]) < 1e-5, "disc %d vs zoh at %d", d, i);
    /* bilinear is second order: much closer to zoh than euler */
    double eb = 0, ee = 0;
    for (int i = 0; i < N * N; i++) {
        eb = fmax(eb, fabs(Ad[MB_DISC_BILINEAR][i] - Ad[MB_DISC_ZOH][i]));
        ee = fmax(ee, fabs(Ad[MB_DISC_EULER][i] - Ad[MB_DISC_ZOH][i]));
    }
    cr_assert_lt(eb * 100, ee);
    /* scalar x' = -2 x + 3 u: zoh Ad = e^{-2 dt}, Bd = 3 (1 - e^{-2 dt}) / 2 */
    double a = -2, b = 3, ad, bd;
    cr_assert_eq(mb_hippo_discretize(1, &a, &b, 0.7, MB_DISC_ZOH, &ad, &bd), 0);
    cr_assert_float_eq(ad, exp(-1.4), 1e-14);
    cr_assert_float_eq(bd, 1.5 * (1 - exp(-1.4)), 1e-14);
}

Test(ssm_hippo, fast_legs_products_equal_the_dense_ones) {
    const int sizes[] = {1, 5, 64, 257};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int N = sizes[s];
        double *A = malloc(sizeof(double) * N * N), *B = malloc(sizeof(double) * N), *x = malloc(sizeof(double) * N);
        double *y = malloc(sizeof(double) * N), *z = malloc(sizeof(double) * N), *M = malloc(sizeof(double) * N * N);
        lapack_int *ipiv = malloc(sizeof(lapack_int) * N);
        mb_hippo_matrix(MB_HIPPO_LEGS, N, 1.0, A, B);
        for (int i = 0; i < N; i++) x[i] = sin(1.0 + 3.7 * i);
        mb_legs_matvec_d(N, x, y);
        for (int i = 0; i < N; i++) {
            double want = 0;
            for (int j = 0; j < N; j++) want += A[i * N + j] * x[j];
            cr_assert(fabs(y[i] - want) <= 1e-12 * (1 + fabs(want)), "N=%d matvec row %d: %g vs %g", N, i, y[i], want);
        }
        const double a = 0.37;
        mb_legs_solve_d(N, a, x, y);
        for (int i = 0; i < N * N; i++) M[i] = (i / N == i % N) - a * A[i];
        memcpy(z, x, sizeof(double) * N);
        cr_assert_eq(LAPACKE_dgesv(LAPACK_ROW_MAJOR, N, 1, M, N, ipiv, z, 1), 0);
        for (int i = 0; i < N; i++)
            cr_assert(fabs(y[i] - z[i]) <= 1e-10 * (1 + fabs(z[i])), "N=%d solve row %d: %g vs %g", N, i, y[i], z[i]);
        free(A), free(B), free(x), free(y), free(z), free(M), free(ipiv);
    }
}

Test(ssm_hippo, legs_fast_equals_legs_dense) {
    const struct mb_kernel *dense = mb_kernel_find("ssm.hippo.legs"), *fast = mb_kernel_find("ssm.hippo.legs_fast");
    const int64_t shapes[][3] = {{1, 1, 3}, {2, 17, 9}, {1, 4096, 64}, {3, 999, 128}};
    for (size_t s = 0; s < 4; s++)
        for (size_t d = 0; d < 3; d++) {
            if (d == 1 && shapes[s][2] > 32) continue; /* forward Euler diverges for LegS at large N: tested below */
            struct mb_point p = hippo_point(dense, shapes[s][0], shapes[s][1], shapes[s][2], 2, discs[d]);
            float *a = run_kernel(dense, &p, NULL, NULL, 0), *b = run_kernel(fast, &p, NULL, NULL, 0);
            const double r = rel_diff(a, b, shapes[s][0] * shapes[s][2]);
            cr_assert_lt(r, 2e-5, "n=%lld N=%lld %s: legs vs legs_fast rel %g", (long long)shapes[s][1],
                         (long long)shapes[s][2], discs[d], r);
            free(a), free(b);
        }
}

Test(ssm_hippo, forward_euler_legs_blows_up_at_large_n) {
    /* I + A/k has eigenvalues 1 - (n+1)/k: |.| > 1 for k < (n+1)/2, so the first steps amplify by ~prod (N/k) */
    const struct mb_kernel *fast = mb_kernel_find("ssm.hippo.legs_fast");
    struct mb_point p = hippo_point(fast, 1, 4096, 64, 1, "disc=euler");
    float *c = run_kernel(fast, &p, NULL, NULL, 0);
    double big = 0;
    for (int n = 0; n < 64; n++) big = fmax(big, isfinite(c[n]) ? fabs(c[n]) : INFINITY);
    cr_assert_gt(big, 1e6, "forward Euler stayed bounded (%g)", big);
    free(c);
    p = hippo_point(fast, 1, 4096, 64, 1, "disc=bilinear");
    c = run_kernel(fast, &p, NULL, NULL, 0);
    for (int n = 0; n < 64; n++) cr_assert(isfinite(c[n]) && fabs(c[n]) < 10);
    free(c);
}

Test(ssm_hippo, lmu_state_is_scaled_legt) {
    const struct mb_kernel *legt = mb_kernel_find("ssm.hippo.legt"), *lmu = mb_kernel_find("ssm.hippo.lmu");
    struct mb_point p = hippo_point(legt, 2, 500, 12, 1, "theta=0.5;disc=zoh");
    float *c = run_kernel(legt, &p, NULL, NULL, 0), *d = run_kernel(lmu, &p, NULL, NULL, 0);
    for (int b = 0; b < 2; b++)
        for (int n = 0; n < 12; n++) {
            const double want = sqrt(2.0 * n + 1) * c[b * 12 + n];
            cr_assert(fabs(d[b * 12 + n] - want) < 1e-4 * (1 + fabs(want)), "b=%d n=%d: %g vs %g", b, n,
                      d[b * 12 + n], want);
        }
    free(c), free(d);
}

Test(ssm_hippo, reconstruction_error_falls_as_n_grows) {
    const char *kernels[] = {"ssm.hippo.legs", "ssm.hippo.legs_fast", "ssm.hippo.legt", "ssm.hippo.fourier"};
    for (int k = 0; k < 4; k++) {
        const struct mb_kernel *kern = mb_kernel_find(kernels[k]);
        double last = INFINITY;
        for (int64_t N = 4; N <= 32; N *= 2) {
            struct mb_point p = hippo_point(kern, 2, 4096, N, 2, NULL);
            struct mb_errors own, exact;
            free(run_kernel(kern, &p, &own, &exact, 0));
            cr_log_info("%s N=%lld: reconstruction rel_l2 %g", kernels[k], (long long)N, exact.rel_l2);
            cr_assert_lt(exact.rel_l2, last, "%s N=%lld: error %g did not fall (previous %g)", kernels[k],
                         (long long)N, exact.rel_l2, last);
            last = exact.rel_l2;
        }
        cr_assert_lt(last, 0.1, "%s: N = 32 still reconstructs badly (%g)", kernels[k], last);
    }
}

Test(ssm_hippo, supports_rejects_bad_parameters) {
    const struct mb_kernel *legs = mb_kernel_find("ssm.hippo.legs"), *legt = mb_kernel_find("ssm.hippo.legt");
    char why[160];
    struct mb_point p = hippo_point(legs, 1, 10, 4, 1, "disc=zoh");
    cr_assert_eq(mb_kernel_supports(legs, &p, why, sizeof why), 1);
    cr_assert(strstr(why, "zoh"));
    cr_assert_eq(mb_params_parse(legt, "disc=rk4", 0, &p, why, sizeof why), -1);
    cr_assert(strstr(why, "bilinear"));
    cr_assert_eq(mb_params_parse(legt, "theta=-1", 0, &p, why, sizeof why), -1);
    cr_assert(strstr(why, "theta=-1"), "%s", why);
}
