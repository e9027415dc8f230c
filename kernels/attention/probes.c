/* The attention family's probes (claims that need more than timings), double precision throughout.
 *
 *   performer_mse  x = rank (m random features), reads d (16). params features=orthogonal|iid, trials=T (64),
 *                  pairs=P (64), scale=s (0.5). Relative MSE of the FAVOR+ positive-feature estimate of the
 *                  softmax kernel exp(q.k/sqrt(d)) over P fixed pairs q, k ~ N(0, s^2 I_d); one sample per trial,
 *                  each trial a fresh feature draw W from attention.performer's own sampler
 *                  (mb_lowrank_performer_features: orthogonal blocks by LAPACK QR with chi_d norms, or iid rows);
 *                  value = mean over the trials. s = 0.5 keeps the estimator's relative variance moderate
 *                  (e^|q'+k'|^2 - 1 ~ 6); at s = 1 its lognormal tail makes 64 trials unreliable.
 *                  phi(x) = exp(W x' - |x'|^2/2)/sqrt(m), x' = x/d^(1/4).
 *   recall         x = n (N stored key/value pairs), reads d (64). params kernel=softmax|linear,
 *                  features=identity|elu (linear), trials=T (5), scale=S (0 = 4 sqrt(d)). Keys, values: random unit
 *                  vectors in d dims. Query with each stored key; a retrieval is exact when the output's nearest
 *                  stored value (max dot product) is the stored one. softmax: out = sum_j softmax_j(S k_i.k_j) v_j
 *                  (S = 4 sqrt(d) = 32 at d = 64: sharp enough that the self match dominates any N tested); linear:
 *                  the d x d state S = sum_j k_j v_j^T, out = k_i^T S (identity feature map; features=elu:
 *                  phi = elu + 1 on keys and queries, the normaliser phi(q).z is a positive scalar and does not
 *                  change the argmax). Value: fraction retrieved (median over trials).
 *   spectrum       x = d, reads n (256). params matrix=linear|softmax. Q, K ~ N(0, 1), n x d; linear:
 *                  A = phi(Q) phi(K)^T with phi = elu + 1; softmax: A = softmax_row(Q K^T / sqrt(d)). Singular
 *                  values by LAPACKE dgesdd; value = numerical rank (s_i > 1e-10 s_0) / d.
 */
#include "attention/family.h"
#include "attention/family_lowrank.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_statistics_double.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void gaussian_fill(gsl_rng *r, double *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = gsl_ran_gaussian(r, 1);
}

static void unit_rows(gsl_rng *r, double *x, int rows, int d) {
    for (int i = 0; i < rows; i++) {
        double s = 0;
        for (int c = 0; c < d; c++) {
            x[i * d + c] = gsl_ran_gaussian(r, 1);
            s += x[i * d + c] * x[i * d + c];
        }
        s = 1 / sqrt(s);
        for (int c = 0; c < d; c++) x[i * d + c] *= s;
    }
}

static double dot(const double *a, const double *b, int d) {
    double s = 0;
    for (int c = 0; c < d; c++) s += a[c] * b[c];
    return s;
}

/* ------------------------------------------------------------------ performer_mse */
static const struct mb_param_decl performer_mse_params[] = {
    {"features", MB_PARAM_ENUM, 0, 0, 0, "orthogonal|iid", "attention.performer's feature draw"},
    {"trials", MB_PARAM_INT, 64, 1, 100000, NULL, "fresh feature draws per m"},
    {"pairs", MB_PARAM_INT, 64, 1, 100000, NULL, "fixed (q, k) pairs the MSE averages over"},
    {"scale", MB_PARAM_REAL, 0.5, 1e-3, 10, NULL, "std of the q, k entries"},
};

static int probe_performer(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                           int nx, uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const int orthogonal = mb_param_enum(base, "features") == 0;
    const int d = base->d > 0 ? (int)base->d : 16, trials = (int)mb_param_int(base, "trials");
    const int P = (int)mb_param_int(base, "pairs");
    int mmax = 0;
    for (int i = 0; i < nx; i++) mmax = xs[i] > mmax ? (int)xs[i] : mmax;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double *q = malloc(sizeof(double) * P * d), *k = malloc(sizeof(double) * P * d), *truth = malloc(sizeof(double) * P);
    double *W = malloc(sizeof(double) * (size_t)mmax * d);
    int status = 0;
    if (!r || !q || !k || !truth || !W) status = mb_errorf(err, errlen, "performer_mse: out of memory");
    if (!status) {
        gsl_rng_set(r, seed);
        gaussian_fill(r, q, (size_t)P * d);
        gaussian_fill(r, k, (size_t)P * d);
        const double s = mb_param_real(base, "scale") * pow(d, -0.25);
        for (int i = 0; i < P * d; i++) q[i] *= s, k[i] *= s; /* x' = x / d^(1/4): q'.k' = q.k / sqrt(d) */
        for (int p = 0; p < P; p++) truth[p] = exp(dot(q + p * d, k + p * d, d));
    }
    for (int xi = 0; xi < nx && !status; xi++) {
        const int m = (int)xs[xi], i = out->count++;
        out->x[i] = m;
        out->samples[i] = malloc(sizeof(double) * trials);
        out->ns[i] = trials;
        if (!out->samples[i]) status = mb_errorf(err, errlen, "performer_mse: out of memory");
        for (int t = 0; t < trials && !status; t++) {
            /* the kernel's sampler; a fresh draw per (m, trial) */
            if (mb_lowrank_performer_features(seed * 1000003 + (uint64_t)m * 7919 + (uint64_t)t, d, m, orthogonal, W)) {
                status = mb_errorf(err, errlen, "performer_mse: LAPACK QR failed");
                break;
            }
            double mse = 0;
            for (int p = 0; p < P; p++) {
                const double *qp = q + p * d, *kp = k + p * d;
                double hq = dot(qp, qp, d) / 2, hk = dot(kp, kp, d) / 2, est = 0;
                for (int f = 0; f < m; f++) est += exp(dot(W + (size_t)f * d, qp, d) - hq + dot(W + (size_t)f * d, kp, d) - hk);
                est /= m;
                double e = (est - truth[p]) / truth[p];
                mse += e * e;
            }
            out->samples[i][t] = mse / P;
        }
        /* the MSE is an expectation: the mean over the trials (their median would be biased low, more so at small m) */
        if (!status) out->y[i] = gsl_stats_mean(out->samples[i], 1, (size_t)trials);
        out->mean = 1;
    }
    if (r) gsl_rng_free(r);
    free(q), free(k), free(truth), free(W);
    return status;
}

/* ------------------------------------------------------------------ recall */
static const struct mb_param_decl recall_params[] = {
    {"kernel", MB_PARAM_ENUM, 0, 0, 0, "softmax|linear", "softmax attention or a d x d linear state"},
    {"features", MB_PARAM_ENUM, 0, 0, 0, "identity|elu", "the linear state's feature map"},
    {"trials", MB_PARAM_INT, 5, 1, 100000, NULL, "independent draws of the stored pairs"},
    {"scale", MB_PARAM_REAL, 0, 0, 1e6, NULL, "softmax sharpness S (0 = 4 sqrt(d))"},
};

static int probe_recall(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs, int nx,
                        uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const int softmax = mb_param_enum(base, "kernel") == 0, elu = mb_param_enum(base, "features") == 1;
    const int d = base->d > 0 ? (int)base->d : 64, trials = (int)mb_param_int(base, "trials");
    const double scale = mb_param_real(base, "scale") > 0 ? mb_param_real(base, "scale") : 4 * sqrt(d);
    int nmax = 0;
    for (int i = 0; i < nx; i++) nmax = xs[i] > nmax ? (int)xs[i] : nmax;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double *K = malloc(sizeof(double) * nmax * d), *V = malloc(sizeof(double) * nmax * d);
    double *S = malloc(sizeof(double) * d * d), *o = malloc(sizeof(double) * d), *w = malloc(sizeof(double) * nmax);
    int status = 0;
    if (!r || !K || !V || !S || !o || !w) status = mb_errorf(err, errlen, "recall: out of memory");
    for (int xi = 0; xi < nx && !status; xi++) {
        const int N = (int)xs[xi], i_x = out->count++;
        out->x[i_x] = N;
        out->samples[i_x] = malloc(sizeof(double) * trials);
        out->ns[i_x] = trials;
        if (!out->samples[i_x]) {
            status = mb_errorf(err, errlen, "recall: out of memory");
            break;
        }
        for (int t = 0; t < trials; t++) {
            gsl_rng_set(r, seed * 7919 + (uint64_t)N * 31 + (uint64_t)t);
            unit_rows(r, K, N, d);
            unit_rows(r, V, N, d);
            if (!softmax && elu) /* phi(k) = elu(k) + 1 on the stored keys (and so on the queries, which are keys) */
                for (int i = 0; i < N * d; i++) K[i] = K[i] > 0 ? K[i] + 1 : exp(K[i]);
            if (!softmax) { /* S = sum_j phi(k_j) v_j^T */
                memset(S, 0, sizeof(double) * d * d);
                for (int j = 0; j < N; j++)
                    for (int a = 0; a < d; a++)
                        for (int b = 0; b < d; b++) S[a * d + b] += K[j * d + a] * V[j * d + b];
            }
            int correct = 0;
            for (int i = 0; i < N; i++) {
                const double *ki = K + (size_t)i * d;
                memset(o, 0, sizeof(double) * d);
                if (softmax) {
                    double mx = -INFINITY, sum = 0;
                    for (int j = 0; j < N; j++) w[j] = scale * dot(ki, K + (size_t)j * d, d), mx = fmax(mx, w[j]);
                    for (int j = 0; j < N; j++) w[j] = exp(w[j] - mx), sum += w[j];
                    for (int j = 0; j < N; j++)
                        for (int c = 0; c < d; c++) o[c] += w[j] / sum * V[(size_t)j * d + c];
                } else {
                    for (int a = 0; a < d; a++)
                        for (int b = 0; b < d; b++) o[b] += ki[a] * S[a * d + b];
                }
                int best = 0;
                double bv = -INFINITY;
                for (int j = 0; j < N; j++) {
                    double v = dot(o, V + (size_t)j * d, d);
                    if (v > bv) bv = v, best = j;
                }
                correct += best == i;
            }
            out->samples[i_x][t] = (double)correct / N;
        }
        if (mb_probe_median(out, i_x)) status = mb_errorf(err, errlen, "recall: out of memory");
    }
    if (r) gsl_rng_free(r);
    free(K), free(V), free(S), free(o), free(w);
    return status;
}

/* ------------------------------------------------------------------ spectrum */
static const struct mb_param_decl spectrum_params[] = {
    {"matrix", MB_PARAM_ENUM, 0, 0, 0, "linear|softmax", "phi(Q) phi(K)^T with phi = elu + 1, or softmax(Q K^T/sqrt(d))"},
};

static int probe_spectrum(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs, int nx,
                          uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const int softmax = mb_param_enum(base, "matrix") == 1;
    int n = base->n > 0 ? (int)base->n : 256;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double *A = malloc(sizeof(double) * n * n), *sv = malloc(sizeof(double) * n);
    int status = 0;
    if (!r || !A || !sv) status = mb_errorf(err, errlen, "spectrum: out of memory");
    for (int xi = 0; xi < nx && !status; xi++) {
        int d = (int)xs[xi];
        double *Q = malloc(sizeof(double) * n * d), *K = malloc(sizeof(double) * n * d);
        if (!Q || !K) {
            free(Q), free(K);
            status = mb_errorf(err, errlen, "spectrum: out of memory");
            break;
        }
        gsl_rng_set(r, seed + (uint64_t)d);
        gaussian_fill(r, Q, (size_t)n * d);
        gaussian_fill(r, K, (size_t)n * d);
        if (!softmax)
            for (int i = 0; i < n * d; i++) { /* elu + 1 */
                Q[i] = Q[i] > 0 ? Q[i] + 1 : exp(Q[i]);
                K[i] = K[i] > 0 ? K[i] + 1 : exp(K[i]);
            }
        for (int i = 0; i < n; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < n; j++) {
                A[i * n + j] = dot(Q + i * d, K + j * d, d) / (softmax ? sqrt(d) : 1);
                mx = fmax(mx, A[i * n + j]);
            }
            if (softmax) {
                for (int j = 0; j < n; j++) A[i * n + j] = exp(A[i * n + j] - mx), sum += A[i * n + j];
                for (int j = 0; j < n; j++) A[i * n + j] /= sum;
            }
        }
        if (LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', n, n, A, n, sv, NULL, n, NULL, n))
            status = mb_errorf(err, errlen, "LAPACKE_dgesdd failed (n = %d, d = %d)", n, d);
        int rank = 0;
        for (int i = 0; i < n; i++) rank += sv[i] > 1e-10 * sv[0];
        out->x[out->count] = d;
        out->y[out->count] = (double)rank / d;
        out->ns[out->count] = 0;
        out->samples[out->count] = NULL;
        out->count++;
        free(Q), free(K);
    }
    if (r) gsl_rng_free(r);
    free(A), free(sv);
    return status;
}

/* ------------------------------------------------------------------ the table */
#define PARAMS(a) .params = a, .n_params = (int)(sizeof a / sizeof a[0])
const struct mb_probe mb_attention_probes[3] = {
    {.name = "performer_mse", .x_axis = "rank", .run = probe_performer, PARAMS(performer_mse_params),
     .summary = "relative MSE of the FAVOR+ estimate of exp(q.k/sqrt(d)) vs m (attention.performer's feature draw)"},
    {.name = "recall", .x_axis = "n", .run = probe_recall, PARAMS(recall_params),
     .summary = "associative recall: fraction of N stored pairs retrieved by softmax or a d x d linear state"},
    {.name = "spectrum", .x_axis = "d", .run = probe_spectrum, PARAMS(spectrum_params),
     .summary = "numerical rank / d of phi(Q) phi(K)^T or softmax(QK^T/sqrt(d)) (n x n, LAPACKE dgesdd)"},
};
