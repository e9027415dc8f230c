/* The peft.svd family's probes: the truncated SVD of peft.svd.delta (run as the benchmark runs it, float32) against
 * the Eckart-Young theorem, and LoRA's rank sufficiency on a synthetic low-rank update. Errors in double.
 *
 *   svd_tail          x = rank r, reads d (d_in, default 64) and n (d_out, 0 = d). params which=measured|predicted|
 *                     ratio, decay (0.9), trials (5). delta: the family's seeded matrix of spectrum s_i = decay^i
 *                     (a fresh one per trial); measured = ||delta - out_r||_F / ||delta||_F with out_r the kernel's
 *                     rank-r reconstruction; predicted = sqrt(sum_{i>=r} s_i^2) / sqrt(sum_i s_i^2) (0-based s_i:
 *                     the singular values past the r kept), s_i from LAPACKE dgesdd (double) of the same float delta;
 *                     ratio = measured / predicted (Eckart-Young: exactly 1). Value: median over the trials.
 *   rank_sufficiency  x = rank r, reads d (d_in, default 256) and n (d_out, 0 = d). params k (8), noise (1e-3),
 *                     which=error|gain, trials (5). Target update T = B0 A0 + N: B0 (d_out x k), A0 (k x d_in) ~ N(0, 1),
 *                     N ~ N(0, 1) scaled to ||N||_F = noise ||B0 A0||_F. The rank-r fit B A (B = U_r S_r, A = Vh_r:
 *                     peft.svd.delta, the least-squares optimum by Eckart-Young) has error(r) = ||T - B A||_F / ||T||_F;
 *                     gain(r) = error(r - 1) / error(r) (error(0) = 1). Expected (Hu et al. 2021, LoRA, Sec. 7: the
 *                     update has a low intrinsic rank, a small r suffices): error falls steeply until r = k, then sits
 *                     at the noise floor, error(r >= k) <= ||N||_F / ||T||_F ~ noise (T's own B0 A0 is a rank-k
 *                     candidate). Value: median over the trials.
 */
#include "peft/family_svd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ||delta - out||_F / ||delta||_F of peft.svd.delta's rank-r reconstruction of delta (rows x cols). */
static int kernel_residual(const float *delta, int64_t rows, int64_t cols, int64_t r, double *rel, char *err,
                           size_t errlen) {
    const struct mb_kernel *k = &mb_kernel_peft_svd_delta;
    struct mb_workload w;
    memset(&w, 0, sizeof w);
    w.family = k->family;
    w.point.n = rows, w.point.d = cols, w.point.rank = r;
    mb_point_complete(k, &w.point, MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(rank));
    if (k->family->layout(&w, err, errlen) || mb_workload_alloc(&w, err, errlen)) return -1;
    memcpy(w.inputs[MB_SVD_DELTA].data, delta, (size_t)(rows * cols) * sizeof(float));
    void *state = NULL;
    if (mb_kernel_setup(k, &state, &w, err, errlen)) {
        mb_workload_free(&w);
        return -1;
    }
    k->run(state);
    k->teardown(state);
    const float *out = w.outputs[MB_SVD_OUT].data;
    double num = 0, den = 0;
    for (int64_t i = 0; i < rows * cols; i++) {
        num += ((double)delta[i] - out[i]) * ((double)delta[i] - out[i]);
        den += (double)delta[i] * delta[i];
    }
    mb_workload_free(&w);
    *rel = sqrt(num / den);
    return isfinite(*rel) ? 0 : mb_errorf(err, errlen, "peft.svd.delta gave a non-finite output at r = %lld", (long long)r);
}

/* One samples array per x (trials values each), then the medians. */
static int alloc_samples(struct mb_probe_series *out, const double *xs, int nx, int trials, char *err, size_t errlen) {
    for (int i = 0; i < nx; i++) {
        out->x[i] = xs[i];
        out->samples[i] = calloc((size_t)trials, sizeof(double));
        out->ns[i] = trials;
        out->count = i + 1;
        if (!out->samples[i]) return mb_errorf(err, errlen, "out of memory");
    }
    return 0;
}

static int finish_medians(struct mb_probe_series *out, char *err, size_t errlen) {
    for (int i = 0; i < out->count; i++)
        if (mb_probe_median(out, i)) return mb_errorf(err, errlen, "out of memory");
    return 0;
}

/* The sizes a probe reads: d_in = d (default def), d_out = n (0 = d_in); r in xs within 1..min. */
static int probe_shape(const char *name, const struct mb_point *base, int64_t def, const double *xs, int nx,
                       int64_t *rows, int64_t *cols, char *err, size_t errlen) {
    *cols = base->d > 0 ? base->d : def;
    *rows = base->n > 0 ? base->n : *cols;
    const int64_t k = *rows < *cols ? *rows : *cols;
    if (nx > MB_PROBE_MAX_POINTS) return mb_errorf(err, errlen, "%s: %d ranks (at most %d)", name, nx, MB_PROBE_MAX_POINTS);
    for (int i = 0; i < nx; i++)
        if (xs[i] < 1 || xs[i] > (double)k || xs[i] != floor(xs[i]))
            return mb_errorf(err, errlen, "%s: rank %g (allowed: integers 1..min(d_out, d_in) = %lld)", name, xs[i],
                             (long long)k);
    return 0;
}

/* ------------------------------------------------------------------ svd_tail */
enum { TAIL_MEASURED, TAIL_PREDICTED, TAIL_RATIO };

static const struct mb_param_decl svd_tail_params[] = {
    {"which", MB_PARAM_ENUM, TAIL_MEASURED, 0, 0, "measured|predicted|ratio",
     "the kernel's relative error, the Eckart-Young prediction, or their ratio"},
    {"decay", MB_PARAM_REAL, 0.9, 1e-3, 1, NULL, "the spectrum of delta: s_i = decay^i"},
    {"trials", MB_PARAM_INT, 5, 1, 1000, NULL, "fresh random matrices"},
};

static int probe_svd_tail(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs, int nx,
                          uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    int64_t rows, cols;
    if (probe_shape("svd_tail", base, 64, xs, nx, &rows, &cols, err, errlen)) return -1;
    const int which = mb_param_enum(base, "which"), trials = (int)mb_param_int(base, "trials");
    const int64_t k = rows < cols ? rows : cols;
    double *delta = malloc((size_t)(rows * cols) * sizeof(double)), *s = malloc((size_t)k * sizeof(double));
    float *deltaf = malloc((size_t)(rows * cols) * sizeof(float));
    int status = !delta || !s || !deltaf ? mb_errorf(err, errlen, "out of memory") : 0;
    if (!status) status = alloc_samples(out, xs, nx, trials, err, errlen);
    for (int t = 0; t < trials && !status; t++) {
        if (mb_svd_spectrum_matrix(rows, cols, mb_param_real(base, "decay"), seed + (uint64_t)t, 1, delta)) {
            status = mb_errorf(err, errlen, "svd_tail: building delta failed (LAPACK QR)");
            break;
        }
        for (int64_t i = 0; i < rows * cols; i++) deltaf[i] = (float)delta[i];
        if (mb_svd_double(deltaf, rows, cols, s, NULL, NULL)) {
            status = mb_errorf(err, errlen, "svd_tail: LAPACKE_dgesdd failed");
            break;
        }
        double total = 0;
        for (int64_t i = 0; i < k; i++) total += s[i] * s[i];
        for (int xi = 0; xi < nx && !status; xi++) {
            const int64_t r = (int64_t)xs[xi];
            double tail = 0, measured = 0;
            for (int64_t i = k - 1; i >= r; i--) tail += s[i] * s[i]; /* smallest first */
            const double predicted = sqrt(tail / total);
            if (which != TAIL_PREDICTED) status = kernel_residual(deltaf, rows, cols, r, &measured, err, errlen);
            out->samples[xi][t] = which == TAIL_MEASURED ? measured : which == TAIL_PREDICTED ? predicted : measured / predicted;
        }
    }
    free(delta), free(s), free(deltaf);
    return status ? status : finish_medians(out, err, errlen);
}

/* ------------------------------------------------------------------ rank_sufficiency */
static const struct mb_param_decl rank_sufficiency_params[] = {
    {"k", MB_PARAM_INT, 8, 1, 4096, NULL, "rank of the target update B0 A0"},
    {"noise", MB_PARAM_REAL, 1e-3, 0, 1, NULL, "||N||_F / ||B0 A0||_F, the full-rank noise added to the target"},
    {"which", MB_PARAM_ENUM, 0, 0, 0, "error|gain", "error(r) = ||T - B A||_F / ||T||_F, or error(r-1) / error(r)"},
    {"trials", MB_PARAM_INT, 5, 1, 1000, NULL, "fresh random targets"},
};

/* target (rows x cols) = B0 A0 + N, N scaled to noise ||B0 A0||_F; seeded by seed (streams 1..3). */
static int low_rank_target(int64_t rows, int64_t cols, int64_t k, double noise, uint64_t seed, float *target) {
    struct mb_tensor b = {.ndim = 2, .shape = {rows, k}}, a = {.ndim = 2, .shape = {k, cols}};
    struct mb_tensor n = {.ndim = 2, .shape = {rows, cols}};
    b.data = mb_alloc((size_t)(rows * k) * sizeof(float));
    a.data = mb_alloc((size_t)(k * cols) * sizeof(float));
    n.data = mb_alloc((size_t)(rows * cols) * sizeof(float));
    double *t = malloc((size_t)(rows * cols) * sizeof(double));
    const int rc = !b.data || !a.data || !n.data || !t ? -1 : 0;
    if (!rc) {
        mb_fill_normal(&b, seed, 1, 0.0, 1.0);
        mb_fill_normal(&a, seed, 2, 0.0, 1.0);
        mb_fill_normal(&n, seed, 3, 0.0, 1.0);
        double signal = 0, noise_sq = 0;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                double v = 0;
                for (int64_t q = 0; q < k; q++) v += (double)b.data[i * k + q] * a.data[q * cols + j];
                t[i * cols + j] = v;
                signal += v * v;
                noise_sq += (double)n.data[i * cols + j] * n.data[i * cols + j];
            }
        const double scale = noise_sq > 0 ? noise * sqrt(signal / noise_sq) : 0;
        for (int64_t i = 0; i < rows * cols; i++) target[i] = (float)(t[i] + scale * n.data[i]);
    }
    mb_free(b.data), mb_free(a.data), mb_free(n.data), free(t);
    return rc;
}

static int probe_rank_sufficiency(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                                  int nx, uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    int64_t rows, cols;
    if (probe_shape("rank_sufficiency", base, 256, xs, nx, &rows, &cols, err, errlen)) return -1;
    const int64_t k = mb_param_int(base, "k");
    const int gain = mb_param_enum(base, "which") == 1, trials = (int)mb_param_int(base, "trials");
    if (k > (rows < cols ? rows : cols))
        return mb_errorf(err, errlen, "rank_sufficiency: k = %lld exceeds min(d_out, d_in) = %lld", (long long)k,
                         (long long)(rows < cols ? rows : cols));
    float *target = malloc((size_t)(rows * cols) * sizeof(float));
    int status = !target ? mb_errorf(err, errlen, "out of memory") : 0;
    if (!status) status = alloc_samples(out, xs, nx, trials, err, errlen);
    for (int t = 0; t < trials && !status; t++) {
        if (low_rank_target(rows, cols, k, mb_param_real(base, "noise"), seed + (uint64_t)t, target)) {
            status = mb_errorf(err, errlen, "out of memory");
            break;
        }
        for (int xi = 0; xi < nx && !status; xi++) {
            const int64_t r = (int64_t)xs[xi];
            double error = 0, before = 1;
            status = kernel_residual(target, rows, cols, r, &error, err, errlen);
            if (!status && gain && r > 1) status = kernel_residual(target, rows, cols, r - 1, &before, err, errlen);
            out->samples[xi][t] = gain ? before / error : error;
        }
    }
    free(target);
    return status ? status : finish_medians(out, err, errlen);
}

#define PARAMS(list) .params = list, .n_params = (int)(sizeof list / sizeof list[0])

const struct mb_probe mb_peft_svd_probes[2] = {
    {.name = "svd_tail", .x_axis = "rank", .run = probe_svd_tail, PARAMS(svd_tail_params),
     .summary = "||delta - delta_r||_F / ||delta||_F of peft.svd.delta vs r, the Eckart-Young prediction "
                "sqrt(sum_{i>r} s_i^2) / ||delta||_F, or their ratio"},
    {.name = "rank_sufficiency", .x_axis = "rank", .run = probe_rank_sufficiency, PARAMS(rank_sufficiency_params),
     .summary = "relative error of the rank-r fit B A (truncated SVD) of a rank-k update plus noise vs r (LoRA Sec. 7)"},
};
