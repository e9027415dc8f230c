/* ssm.s4 and ssm.s4d: the sampled check at large L, recurrence == FFT convolution == NPLR, Vandermonde == diagonal
 * recurrence, the blocked Kbar against naive powers, the NPLR fact for LegS and the numerical instability of
 * diagonalising LegS directly. Every kernel against the float64 convolution oracle: test_ssm_kernels.c. */
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/runner.h"
#include "ssm/family_hippo.h"
#include "ssm/family_s4.h"

static struct mb_point s4_point(const struct mb_kernel *k, int64_t batch, int64_t D, int64_t L, int64_t N,
                                int threads, const char *params) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = batch;
    p.d = D;
    p.n = L;
    p.rank = N;
    p.threads = threads;
    snprintf(p.params, sizeof p.params, "%s", params ? params : "");
    mb_point_complete(k, &p, 0);
    return p;
}

static float *run_kernel(const struct mb_kernel *k, const struct mb_point *p, struct mb_errors *own, float corrupt,
                         int64_t sample_rows) {
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, p, 5, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s: %s", k->name, err);
    const int64_t count = mb_tensor_numel(&w.outputs[0]);
    w.outputs[0].data[count - 1] += corrupt;
    struct mb_check_opts co = {.sample_rows = sample_rows, .seed = 3};
    if (own) cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, own, err, sizeof err), 0, "%s", err);
    float *copy = malloc((size_t)count * sizeof(float));
    memcpy(copy, w.outputs[0].data, (size_t)count * sizeof(float));
    mb_workload_free(&w);
    return copy;
}

static double rel_diff(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

Test(ssm_s4, sampled_check_at_large_l) {
    const struct mb_kernel *k = mb_kernel_find("ssm.s4.fft");
    struct mb_point p = s4_point(k, 1, 3, 20000, 32, 2, NULL);
    struct mb_errors own;
    free(run_kernel(k, &p, &own, 0, 64));
    cr_assert_gt(own.checked, 0);
    cr_assert_lt(own.checked, 3 * 20000);
    cr_assert_lt(own.rel_l2, 1e-4);
    free(run_kernel(k, &p, &own, 1.0f, 64)); /* last element of the last channel: always sampled */
    cr_assert_gt(own.max_abs, 0.99);
}

Test(ssm_s4, recurrence_equals_fft_convolution_equals_nplr) {
    const struct mb_kernel *rec = mb_kernel_find("ssm.s4.recurrent"), *fft = mb_kernel_find("ssm.s4.fft");
    const struct mb_kernel *nplr = mb_kernel_find("ssm.s4.nplr");
    const int64_t Ls[] = {1, 7, 100, 1000}, Ns[] = {4, 16, 64};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++) {
            struct mb_point p = s4_point(rec, 2, 3, Ls[a], Ns[b], 2, NULL);
            float *x = run_kernel(rec, &p, NULL, 0, 0), *y = run_kernel(fft, &p, NULL, 0, 0);
            float *z = run_kernel(nplr, &p, NULL, 0, 0);
            const double r = rel_diff(x, y, 2 * 3 * Ls[a]), q = rel_diff(z, y, 2 * 3 * Ls[a]);
            cr_assert_lt(r, 1e-5, "L=%lld N=%lld: recurrent vs fft rel %g", (long long)Ls[a], (long long)Ns[b], r);
            cr_assert_lt(q, 1e-5, "L=%lld N=%lld: nplr vs fft rel %g", (long long)Ls[a], (long long)Ns[b], q);
            free(x), free(y), free(z);
        }
}

Test(ssm_s4, nplr_at_large_state_sizes) {
    /* N = 510, 512: sizes at which an unpadded LAPACKE_zheev crashed inside OpenBLAS's zgemv */
    const struct mb_kernel *nplr = mb_kernel_find("ssm.s4.nplr");
    for (int64_t N = 510; N <= 512; N += 2) {
        struct mb_point p = s4_point(nplr, 1, 1, 300, N, 1, NULL);
        struct mb_errors own;
        free(run_kernel(nplr, &p, &own, 0, 0));
        cr_assert_lt(own.rel_l2, 1e-4, "N=%lld: %g", (long long)N, own.rel_l2);
    }
}

Test(ssm_s4, s4d_vandermonde_equals_recurrent) {
    const struct mb_kernel *v = mb_kernel_find("ssm.s4d.vandermonde"), *r = mb_kernel_find("ssm.s4d.recurrent");
    const int64_t Ls[] = {1, 7, 100, 1000, 5000}, Ns[] = {1, 16, 64};
    const char *params[] = {"init=lin", "init=real"};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++) {
                struct mb_point p = s4_point(v, 2, 2, Ls[a], Ns[b], 2, params[c]);
                float *x = run_kernel(v, &p, NULL, 0, 0), *y = run_kernel(r, &p, NULL, 0, 0);
                const double d = rel_diff(x, y, 2 * 2 * Ls[a]);
                cr_assert_lt(d, 5e-5, "L=%lld N=%lld %s: vandermonde vs recurrent rel %g", (long long)Ls[a],
                             (long long)Ns[b], params[c], d);
                free(x), free(y);
            }
}

Test(ssm_s4, blocked_kernel_equals_naive_powers) {
    enum { N = 12 };
    double A[N * N], B[N], Ad[N * N], Bd[N];
    float C[N];
    mb_hippo_matrix(MB_HIPPO_LEGS, N, 1.0, A, B);
    cr_assert_eq(mb_hippo_discretize(N, A, B, 0.05, MB_DISC_BILINEAR, Ad, Bd), 0);
    for (int i = 0; i < N; i++) C[i] = (float)cos(0.3 + i);
    const int64_t Ls[] = {1, 2, 511, 513, 1500};
    for (int a = 0; a < 5; a++) {
        const int64_t L = Ls[a];
        double *K = malloc(sizeof(double) * L), x[N], y[N];
        cr_assert_eq(mb_s4_kernel_d(N, Ad, Bd, C, L, K), 0);
        memcpy(x, Bd, sizeof x);
        for (int64_t j = 0; j < L; j++) {
            double want = 0;
            for (int i = 0; i < N; i++) want += C[i] * x[i];
            cr_assert(fabs(K[j] - want) <= 1e-12 * (1 + fabs(want)), "L=%lld j=%lld: %g vs %g", (long long)L,
                      (long long)j, K[j], want);
            for (int i = 0; i < N; i++) {
                y[i] = 0;
                for (int k = 0; k < N; k++) y[i] += Ad[i * N + k] * x[k];
            }
            memcpy(x, y, sizeof x);
        }
        free(K);
    }
}

Test(ssm_s4, s4d_rejects_an_unknown_init) {
    const struct mb_kernel *k = mb_kernel_find("ssm.s4d.vandermonde");
    struct mb_point p = s4_point(k, 1, 1, 8, 4, 1, "");
    char why[160] = "";
    cr_assert_eq(mb_params_parse(k, "init=legs", 0, &p, why, sizeof why), -1);
    cr_assert(strstr(why, "init=legs") && strstr(why, "real"), "%s", why);
    p = s4_point(k, 1, 1, 8, 4, 1, "init=real");
    cr_assert_eq(mb_kernel_supports(k, &p, why, sizeof why), 0);
}

Test(ssm_s4, nplr_legs_plus_low_rank_is_skew_symmetric) {
    const int Ns[] = {1, 4, 16, 64};
    for (int s = 0; s < 4; s++) {
        const int N = Ns[s];
        double *A = malloc(sizeof(double) * N * N), *B = malloc(sizeof(double) * N);
        mb_hippo_matrix(MB_HIPPO_LEGS, N, 1.0, A, B);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                const double vi = sqrt(2.0 * i + 1), vj = sqrt(2.0 * j + 1);
                const double S = A[i * N + j] + 0.5 * vi * vj + 0.5 * (i == j);
                const double St = A[j * N + i] + 0.5 * vi * vj + 0.5 * (i == j);
                cr_assert(fabs(S + St) < 1e-12, "N=%d (%d,%d): S + S^T = %g", N, i, j, S + St);
            }
        free(A), free(B);
    }
}

/* Diagonalise LegS with LAPACKE_dgeev: the eigenvector matrix V becomes exponentially ill-conditioned, so
 * V diag(lambda) V^-1 stops reproducing A. */
static void diag_stats(int N, double *cond, double *recon) {
    double *A = malloc(sizeof(double) * N * N), *B = malloc(sizeof(double) * N), *M = malloc(sizeof(double) * N * N);
    double *wr = malloc(sizeof(double) * N), *wi = malloc(sizeof(double) * N), *V = malloc(sizeof(double) * N * N);
    double *Vi = malloc(sizeof(double) * N * N), *s = malloc(sizeof(double) * N), *U = malloc(sizeof(double) * N * N);
    double *VT = malloc(sizeof(double) * N * N), *sup = malloc(sizeof(double) * N);
    lapack_int *ipiv = malloc(sizeof(lapack_int) * N);
    mb_hippo_matrix(MB_HIPPO_LEGS, N, 1.0, A, B);
    memcpy(M, A, sizeof(double) * N * N);
    cr_assert_eq(LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'V', N, M, N, wr, wi, NULL, N, V, N), 0);
    for (int i = 0; i < N; i++) cr_assert(fabs(wi[i]) < 1e-9 * (1 + fabs(wr[i]))); /* eigenvalues -(n+1), real */
    memcpy(M, V, sizeof(double) * N * N);
    cr_assert_eq(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', N, N, M, N, s, U, N, VT, N, sup), 0);
    *cond = s[0] / s[N - 1];
    /* Vi = V^-1; recon = || V diag(w) V^-1 - A ||_F / ||A||_F */
    memcpy(M, V, sizeof(double) * N * N);
    for (int i = 0; i < N * N; i++) Vi[i] = (i / N == i % N);
    cr_assert_eq(LAPACKE_dgesv(LAPACK_ROW_MAJOR, N, N, M, N, ipiv, Vi, N), 0);
    double num = 0, den = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double r = 0;
            for (int k = 0; k < N; k++) r += V[i * N + k] * wr[k] * Vi[k * N + j];
            num += (r - A[i * N + j]) * (r - A[i * N + j]);
            den += A[i * N + j] * A[i * N + j];
        }
    *recon = sqrt(num / den);
    free(A), free(B), free(M), free(wr), free(wi), free(V), free(Vi), free(s), free(U), free(VT), free(sup), free(ipiv);
}

Test(ssm_s4, diagonalising_legs_is_numerically_unstable) {
    const int Ns[] = {8, 16, 32, 64};
    double cond[4], recon[4];
    for (int i = 0; i < 4; i++) {
        diag_stats(Ns[i], &cond[i], &recon[i]);
        cr_log_info("LegS N=%d: cond(V) = %.3g, ||V L V^-1 - A|| / ||A|| = %.3g", Ns[i], cond[i], recon[i]);
    }
    for (int i = 1; i < 4; i++)
        cr_assert_gt(cond[i], 10 * cond[i - 1], "N=%d: cond %g vs %g", Ns[i], cond[i], cond[i - 1]);
    cr_assert_gt(cond[3], 1e6 * cond[0], "cond(V) must grow by orders of magnitude: %g -> %g", cond[0], cond[3]);
    cr_assert_lt(recon[0], 1e-10);
    cr_assert_gt(recon[3], 1e3 * recon[0], "reconstruction error must grow: %g -> %g", recon[0], recon[3]);
}
