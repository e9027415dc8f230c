/* Probes for claims that need more than timing rows (see probes.h). Double precision throughout. */
#include "analysis/probes.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gau/family.h"
#include "ssm/family_hippo.h"

static const struct {
    const char *name, *x_axis;
} probe_axes[] = {
    {"performer_mse", "rank"}, {"recall", "n"}, {"spectrum", "d"}, {"gau_params", "d"}, {"legs_timescale", "scale"},
};
#define N_PROBES ((int)(sizeof probe_axes / sizeof probe_axes[0]))

const char *mb_probe_x_axis(const char *name) {
    for (int i = 0; i < N_PROBES; i++)
        if (!strcmp(name, probe_axes[i].name)) return probe_axes[i].x_axis;
    return NULL;
}

void mb_probe_names(char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_PROBES && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", probe_axes[i].name);
        if (w > 0) used += (size_t)w;
    }
}

void mb_probe_series_free(struct mb_probe_series *s) {
    for (int i = 0; i < s->count; i++) free(s->samples[i]);
    memset(s, 0, sizeof *s);
}

static double param_num(const struct mb_point *p, const char *key, double def) {
    char buf[64];
    return mb_param(p, key, buf, sizeof buf) ? atof(buf) : def;
}

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
/* W (m x d): iid N(0, 1) rows, or orthogonal blocks of d rows with chi_d norms. */
static int draw_features(gsl_rng *r, double *W, int m, int d, int orthogonal, double *tmp, double *tau) {
    if (!orthogonal) {
        gaussian_fill(r, W, (size_t)m * d);
        return 0;
    }
    for (int row = 0; row < m; row += d) {
        gaussian_fill(r, tmp, (size_t)d * d);
        if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, d, d, tmp, d, tau)) return -1;
        if (LAPACKE_dorgqr(LAPACK_ROW_MAJOR, d, d, d, tmp, d, tau)) return -1;
        for (int i = 0; i < d && row + i < m; i++) {
            double norm = sqrt(gsl_ran_chisq(r, d));
            for (int c = 0; c < d; c++) W[(size_t)(row + i) * d + c] = tmp[(size_t)i * d + c] * norm;
        }
    }
    return 0;
}

static int probe_performer(const struct mb_point *base, const double *xs, int nx, uint64_t seed,
                           struct mb_probe_series *out, char *err, size_t errlen) {
    char buf[32];
    const char *features = mb_param(base, "features", buf, sizeof buf);
    int orthogonal = !features || !strcmp(features, "orthogonal");
    if (features && strcmp(features, "orthogonal") && strcmp(features, "iid"))
        return mb_errorf(err, errlen, "performer_mse: features=%s (allowed: iid, orthogonal)", features);
    int d = base->d > 0 ? (int)base->d : 16, trials = (int)param_num(base, "trials", 64), P = (int)param_num(base, "pairs", 64);
    int mmax = 0;
    for (int i = 0; i < nx; i++) mmax = xs[i] > mmax ? (int)xs[i] : mmax;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double *q = malloc(sizeof(double) * P * d), *k = malloc(sizeof(double) * P * d), *truth = malloc(sizeof(double) * P);
    double *W = malloc(sizeof(double) * ((size_t)mmax + d) * d), *tmp = malloc(sizeof(double) * d * d), *tau = malloc(sizeof(double) * d);
    if (!r || !q || !k || !truth || !W || !tmp || !tau) return mb_errorf(err, errlen, "out of memory");
    gsl_rng_set(r, seed);
    gaussian_fill(r, q, (size_t)P * d);
    gaussian_fill(r, k, (size_t)P * d);
    const double s = param_num(base, "scale", 0.5) * pow(d, -0.25);
    for (int i = 0; i < P * d; i++) q[i] *= s, k[i] *= s; /* x' = x / d^(1/4): q'.k' = q.k / sqrt(d) */
    for (int p = 0; p < P; p++) truth[p] = exp(dot(q + p * d, k + p * d, d));
    int status = 0;
    for (int xi = 0; xi < nx && !status; xi++) {
        int m = (int)xs[xi];
        out->x[out->count] = m;
        out->samples[out->count] = malloc(sizeof(double) * trials);
        out->ns[out->count] = trials;
        gsl_rng_set(r, seed * 1000003 + (uint64_t)m);
        for (int t = 0; t < trials && !status; t++) {
            if (draw_features(r, W, m, d, orthogonal, tmp, tau)) status = mb_errorf(err, errlen, "LAPACK QR failed");
            double mse = 0;
            for (int p = 0; p < P; p++) {
                const double *qp = q + p * d, *kp = k + p * d;
                double hq = dot(qp, qp, d) / 2, hk = dot(kp, kp, d) / 2, est = 0;
                for (int f = 0; f < m; f++) est += exp(dot(W + (size_t)f * d, qp, d) - hq + dot(W + (size_t)f * d, kp, d) - hk);
                est /= m;
                double e = (est - truth[p]) / truth[p];
                mse += e * e;
            }
            out->samples[out->count][t] = mse / P;
        }
        /* the MSE is an expectation: the mean over the trials (their median would be biased low, more so at small m) */
        out->y[out->count] = gsl_stats_mean(out->samples[out->count], 1, (size_t)trials);
        out->mean = 1;
        out->count++;
    }
    gsl_rng_free(r);
    free(q), free(k), free(truth), free(W), free(tmp), free(tau);
    return status;
}

/* ------------------------------------------------------------------ recall */
static int probe_recall(const struct mb_point *base, const double *xs, int nx, uint64_t seed,
                        struct mb_probe_series *out, char *err, size_t errlen) {
    char buf[32];
    const char *kind = mb_param(base, "kernel", buf, sizeof buf);
    if (!kind || (strcmp(kind, "softmax") && strcmp(kind, "linear")))
        return mb_errorf(err, errlen, "recall: kernel=%s (allowed: softmax, linear)", kind ? kind : "(missing)");
    int softmax = !strcmp(kind, "softmax");
    char fbuf[32];
    const char *features = mb_param(base, "features", fbuf, sizeof fbuf);
    if (features && strcmp(features, "identity") && strcmp(features, "elu"))
        return mb_errorf(err, errlen, "recall: features=%s (allowed: identity, elu)", features);
    int elu = features && !strcmp(features, "elu");
    int d = base->d > 0 ? (int)base->d : 64, trials = (int)param_num(base, "trials", 5);
    double scale = param_num(base, "scale", 4 * sqrt(d));
    int nmax = 0;
    for (int i = 0; i < nx; i++) nmax = xs[i] > nmax ? (int)xs[i] : nmax;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double *K = malloc(sizeof(double) * nmax * d), *V = malloc(sizeof(double) * nmax * d);
    double *S = malloc(sizeof(double) * d * d), *o = malloc(sizeof(double) * d), *w = malloc(sizeof(double) * nmax);
    if (!r || !K || !V || !S || !o || !w) return mb_errorf(err, errlen, "out of memory");
    for (int xi = 0; xi < nx; xi++) {
        int N = (int)xs[xi];
        out->x[out->count] = N;
        out->samples[out->count] = malloc(sizeof(double) * trials);
        out->ns[out->count] = trials;
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
            out->samples[out->count][t] = (double)correct / N;
        }
        double *sorted = malloc(sizeof(double) * trials);
        memcpy(sorted, out->samples[out->count], sizeof(double) * trials);
        gsl_sort(sorted, 1, (size_t)trials);
        out->y[out->count] = gsl_stats_median_from_sorted_data(sorted, 1, (size_t)trials);
        free(sorted);
        out->count++;
    }
    gsl_rng_free(r);
    free(K), free(V), free(S), free(o), free(w);
    return 0;
}

/* ------------------------------------------------------------------ spectrum */
static int probe_spectrum(const struct mb_point *base, const double *xs, int nx, uint64_t seed,
                          struct mb_probe_series *out, char *err, size_t errlen) {
    char buf[32];
    const char *kind = mb_param(base, "matrix", buf, sizeof buf);
    if (!kind || (strcmp(kind, "softmax") && strcmp(kind, "linear")))
        return mb_errorf(err, errlen, "spectrum: matrix=%s (allowed: linear, softmax)", kind ? kind : "(missing)");
    int softmax = !strcmp(kind, "softmax");
    int n = base->n > 0 ? (int)base->n : 256;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double *A = malloc(sizeof(double) * n * n), *sv = malloc(sizeof(double) * n);
    if (!r || !A || !sv) return mb_errorf(err, errlen, "out of memory");
    int status = 0;
    for (int xi = 0; xi < nx && !status; xi++) {
        int d = (int)xs[xi];
        double *Q = malloc(sizeof(double) * n * d), *K = malloc(sizeof(double) * n * d);
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
    gsl_rng_free(r);
    free(A), free(sv);
    return status;
}

/* ------------------------------------------------------------------ gau_params */
static int probe_gau_params(const struct mb_point *base, const double *xs, int nx, uint64_t seed,
                            struct mb_probe_series *out, char *err, size_t errlen) {
    (void)seed;
    char buf[32];
    const char *mech = mb_param(base, "mechanism", buf, sizeof buf);
    if (mech && strcmp(mech, "gau") && strcmp(mech, "flash"))
        return mb_errorf(err, errlen, "gau_params: mechanism=%s (allowed: gau, flash)", mech);
    if (!mech) mech = "gau";
    for (int xi = 0; xi < nx; xi++) {
        struct mb_point p = *base; /* rank = s (0 = 128), params e=E (default 2d) */
        p.d = (int64_t)xs[xi];
        if (mb_params_parse(mb_kernel_find("gau.gau"), base->params, MB_PARAMS_LENIENT, &p, err, errlen)) return -1;
        double mha = mb_gau_param_count("mha_ffn", &p);
        out->x[out->count] = xs[xi];
        out->y[out->count] = 2 * mb_gau_param_count(mech, &p) / mha;
        out->ns[out->count] = 0;
        out->samples[out->count] = NULL;
        out->count++;
    }
    return 0;
}

/* ------------------------------------------------------------------ legs_timescale */
/* f(t) = sum_{m=1..8} a_m sin(2 pi m t + phi_m), a_m ~ U(-1, 1)/m (the ssm.hippo family's signal), sampled at
   t = (j + 0.5)/len, j < len. */
static void timescale_signal(gsl_rng *r, double *f, int64_t len) {
    double amp[8], phase[8];
    for (int m = 0; m < 8; m++) {
        amp[m] = (2.0 * gsl_rng_uniform(r) - 1.0) / (m + 1.0);
        phase[m] = 2.0 * M_PI * gsl_rng_uniform(r);
    }
    for (int64_t j = 0; j < len; j++) {
        const double t = ((double)j + 0.5) / (double)len;
        double s = 0;
        for (int m = 0; m < 8; m++) s += amp[m] * sin(2.0 * M_PI * (m + 1.0) * t + phase[m]);
        f[j] = s;
    }
}

/* Final coefficients (N) after the len samples of f. LegS: the step-free recurrence (no dt). LegT: the LTI
   recurrence with Ad, Bd of step dt and window theta = 1. */
static int timescale_run(int legs, enum mb_hippo_disc disc, int64_t N, const double *f, int64_t len, const double *Ad,
                         const double *Bd, double *c, double *tmp) {
    if (legs) {
        for (int64_t k = 0; k < len; k++) mb_legs_step_d(N, disc, k, f[k], c, tmp);
        return 0;
    }
    memset(c, 0, sizeof(double) * N);
    for (int64_t k = 0; k < len; k++) {
        for (int64_t a = 0; a < N; a++) {
            double acc = Bd[a] * f[k];
            for (int64_t b = 0; b < N; b++) acc += Ad[a * N + b] * c[b];
            tmp[a] = acc;
        }
        memcpy(c, tmp, sizeof(double) * N);
    }
    return 0;
}

static int probe_legs_timescale(const struct mb_point *base, const double *xs, int nx, uint64_t seed,
                                struct mb_probe_series *out, char *err, size_t errlen) {
    char buf[32], dbuf[32];
    const char *measure = mb_param(base, "measure", buf, sizeof buf);
    if (measure && strcmp(measure, "legs") && strcmp(measure, "legt"))
        return mb_errorf(err, errlen, "legs_timescale: measure=%s (allowed: legs, legt)", measure);
    int legs = !measure || !strcmp(measure, "legs");
    const char *dname = mb_param(base, "disc", dbuf, sizeof dbuf);
    enum mb_hippo_disc disc = MB_DISC_BILINEAR;
    if (dname && !strcmp(dname, "euler")) disc = MB_DISC_EULER;
    else if (dname && !strcmp(dname, "backward")) disc = MB_DISC_BACKWARD;
    else if (dname && strcmp(dname, "bilinear"))
        return mb_errorf(err, errlen, "legs_timescale: disc=%s (allowed: bilinear, euler, backward)", dname);
    const int64_t L = base->n > 0 ? base->n : 1024, N = base->rank > 0 ? base->rank : 32;
    const int trials = (int)param_num(base, "trials", 8);
    if (trials < 1) return mb_errorf(err, errlen, "legs_timescale: trials=%d (need >= 1)", trials);
    double smax = 1;
    for (int i = 0; i < nx; i++) smax = fmax(smax, xs[i]);
    if (smax * (double)L > 1e8) return mb_errorf(err, errlen, "legs_timescale: s * n = %g steps (at most 1e8)", smax * L);
    const int64_t Lmax = (int64_t)smax * L;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double *f = malloc(sizeof(double) * Lmax), *c1 = malloc(sizeof(double) * N), *cs = malloc(sizeof(double) * N);
    double *tmp = malloc(sizeof(double) * N), *A = NULL, *B = NULL, *Ad = NULL, *Bd = NULL;
    if (!legs) { /* LegT, window theta = 1 time unit, fixed step dt = 1/n: the window is the whole unstretched signal */
        A = malloc(sizeof(double) * N * N), B = malloc(sizeof(double) * N);
        Ad = malloc(sizeof(double) * N * N), Bd = malloc(sizeof(double) * N);
    }
    int status = 0;
    if (!r || !f || !c1 || !cs || !tmp || (!legs && (!A || !B || !Ad || !Bd))) status = mb_errorf(err, errlen, "out of memory");
    if (!status && !legs) {
        mb_hippo_matrix(MB_HIPPO_LEGT, N, 1.0, A, B);
        if (mb_hippo_discretize(N, A, B, 1.0 / (double)L, disc, Ad, Bd))
            status = mb_errorf(err, errlen, "legs_timescale: LegT discretisation failed");
    }
    for (int xi = 0; xi < nx && !status; xi++) {
        const int64_t s = (int64_t)xs[xi];
        double *sm = malloc(sizeof(double) * trials);
        if (!sm) {
            status = mb_errorf(err, errlen, "out of memory");
            break;
        }
        for (int t = 0; t < trials; t++) {
            gsl_rng_set(r, seed * 1000003 + (uint64_t)t * 7919 + 1);
            timescale_signal(r, f, L); /* f(t) on [0, 1], L steps */
            timescale_run(legs, disc, N, f, L, Ad, Bd, c1, tmp);
            gsl_rng_set(r, seed * 1000003 + (uint64_t)t * 7919 + 1);
            timescale_signal(r, f, s * L); /* f(t / s) on [0, s]: the same function over s times as many steps */
            timescale_run(legs, disc, N, f, s * L, Ad, Bd, cs, tmp);
            double num = 0, den = 0;
            for (int64_t n = 0; n < N; n++) num += (cs[n] - c1[n]) * (cs[n] - c1[n]), den += c1[n] * c1[n];
            sm[t] = den > 0 ? sqrt(num / den) : sqrt(num);
        }
        out->x[out->count] = (double)s;
        out->samples[out->count] = sm;
        out->ns[out->count] = trials;
        double *sorted = malloc(sizeof(double) * trials);
        if (!sorted) {
            out->count++;
            status = mb_errorf(err, errlen, "out of memory");
            break;
        }
        memcpy(sorted, sm, sizeof(double) * trials);
        gsl_sort(sorted, 1, (size_t)trials);
        out->y[out->count] = gsl_stats_median_from_sorted_data(sorted, 1, (size_t)trials);
        free(sorted);
        out->count++;
    }
    if (r) gsl_rng_free(r);
    free(f), free(c1), free(cs), free(tmp), free(A), free(B), free(Ad), free(Bd);
    return status;
}

int mb_probe_run(const char *name, const struct mb_point *base, const double *xs, int nx, uint64_t seed,
                 struct mb_probe_series *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (nx > MB_PROBE_MAX_POINTS) return mb_errorf(err, errlen, "probe %s: at most %d points", name, MB_PROBE_MAX_POINTS);
    for (int i = 0; i < nx; i++)
        if (!(xs[i] >= 1)) return mb_errorf(err, errlen, "probe %s: x = %g (need >= 1)", name, xs[i]);
    int rc;
    if (!strcmp(name, "performer_mse")) rc = probe_performer(base, xs, nx, seed, out, err, errlen);
    else if (!strcmp(name, "recall")) rc = probe_recall(base, xs, nx, seed, out, err, errlen);
    else if (!strcmp(name, "spectrum")) rc = probe_spectrum(base, xs, nx, seed, out, err, errlen);
    else if (!strcmp(name, "gau_params")) rc = probe_gau_params(base, xs, nx, seed, out, err, errlen);
    else if (!strcmp(name, "legs_timescale")) rc = probe_legs_timescale(base, xs, nx, seed, out, err, errlen);
    else return mb_errorf(err, errlen, "unknown probe '%s' (allowed: performer_mse, recall, spectrum, gau_params, "
                                       "legs_timescale)", name);
    if (rc) mb_probe_series_free(out);
    return rc;
}
