/* basics.perceptron family: workload (input, target -> weight, bias, counts), the seeded separable data, the
 * double-precision replay of the perceptron rule (the oracle of both kernels) and the shared models. See
 * family_perceptron.h for the rule.
 *
 * Why float and double take identical decisions on the family's data. Every x_i is a multiple of 1/8 in [-1, 1] and
 * lr = 2^k, so every weight is a multiple of lr/8, every product w_i x_i a multiple of lr/64, the bias a multiple of
 * lr. A float holds every multiple of lr/64 of magnitude below 2^24 lr/64 = 2^18 lr exactly, so while every partial
 * sum of the score, bounded by S = sum_i |w_i x_i| + |b|, stays below 2^18 lr, the float score (in any summation
 * order, FMA or not) is the exact score, and the float update is exact: the float run IS the exact run, decision for
 * decision. A perceptron keeps S small: on a mistake |w'|^2 grows by at most R'^2 (R' = max |(x, 1)|), so after M
 * updates S <= sqrt(M) R'^2 (M < 2^36 / (d + 1)^2 suffices). The oracle replays the rule in double, measures S, and
 * refuses to judge (an error, not a verdict) when S left the exact range.
 */
#include "basics/family_perceptron.h"
#include "basics/family.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { INPUT, TARGET };
enum { WEIGHT, BIAS, COUNTS };

static const struct mb_axis_rule perceptron_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 24}, {MB_AXIS_d, 64, 1, 1 << 16},
};

static const struct mb_param_decl perceptron_params[] = {
    {"gamma", MB_PARAM_REAL, 0.05, 1e-4, 0.5, NULL, "margin of the data: every |u.x + offset| >= gamma (|u| = 1)"},
    {"offset", MB_PARAM_REAL, 0, -1, 1, NULL, "offset c of the hidden hyperplane u.x + c (0: through the origin)"},
    {"lr", MB_PARAM_REAL, 1, 1.0 / 1024, 1024, NULL, "learning rate, a power of two (float run exact)"},
    {"max_epochs", MB_PARAM_INT, 1000, 1, 1000000, NULL, "cap on the passes over the n examples"},
};

void mb_perceptron_bind(struct mb_perceptron *pc, const struct mb_workload *w, int bias) {
    const struct mb_point *p = &w->point;
    pc->n = p->n;
    pc->d = p->d;
    pc->max_epochs = mb_param_int(p, "max_epochs");
    pc->lr = (float)mb_param_real(p, "lr");
    pc->bias = bias;
    pc->x = w->inputs[INPUT].data;
    pc->y = w->inputs[TARGET].data;
    pc->w = w->outputs[WEIGHT].data;
    pc->b = w->outputs[BIAS].data;
    pc->counts = w->outputs[COUNTS].data;
}

double mb_perceptron_epoch_flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 2.0 * (double)p->n * (double)p->d; /* the scores; updates are rare once the rule has nearly converged */
}

double mb_perceptron_epoch_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 4.0 * ((double)p->n * ((double)p->d + 1) + (double)p->d + 1 + MB_PERCEPTRON_COUNTS);
}

/* ------------------------------------------------------------------------------------------ data */
void mb_perceptron_data(uint64_t seed, int64_t n, int64_t d, double gamma, double offset, float *x, float *y, double *u) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) mb_contract_violation("basics.perceptron: cannot allocate a random number generator");
    gsl_rng_set(r, seed * 1000003 + 1);
    double norm = 0;
    for (int64_t i = 0; i < d; i++) u[i] = gsl_ran_gaussian_ziggurat(r, 1.0), norm += u[i] * u[i];
    norm = norm > 0 ? sqrt(norm) : 1;
    for (int64_t i = 0; i < d; i++) u[i] /= norm;
    gsl_rng_set(r, seed * 1000003 + 2);
    for (int64_t e = 0; e < n; e++) {
        float *xe = x + e * d;
        double s;
        do { /* accepted with probability > 1/3 for gamma <= 0.5, |offset| <= 1 (u.x ~ N(0, 3/8) for large d) */
            s = offset;
            for (int64_t i = 0; i < d; i++) {
                xe[i] = (float)((int)gsl_rng_uniform_int(r, 17) - 8) / 8.0f;
                s += u[i] * xe[i];
            }
        } while (fabs(s) < gamma);
        y[e] = s > 0 ? 1.0f : 0.0f;
    }
    gsl_rng_free(r);
}

/* ------------------------------------------------------------------------------------------ oracle */
void mb_perceptron_replay(const struct mb_perceptron *pc, double *w, double *b, double counts[3], double *max_score) {
    const double lr = pc->lr;
    memset(w, 0, (size_t)pc->d * sizeof *w);
    *b = 0;
    *max_score = 0;
    double mistakes = 0, epochs = 0, converged = 0;
    while (epochs < (double)pc->max_epochs && !converged) {
        int64_t errors = 0;
        for (int64_t e = 0; e < pc->n; e++) {
            const float *x = pc->x + e * pc->d;
            double s = *b, bound = fabs(*b), w_max = 0;
            for (int64_t i = 0; i < pc->d; i++) {
                s += w[i] * x[i];
                bound += fabs(w[i] * x[i]);
                w_max = fmax(w_max, fabs(w[i]));
            }
            /* the partial sums, and the weights themselves (multiples of lr/8: exact below 2^21 lr) */
            *max_score = fmax(*max_score, fmax(bound, w_max / 8));
            const double y = pc->y[e] > 0.5f ? 1 : 0, y_hat = s > 0 ? 1 : 0;
            if (y == y_hat) continue;
            errors++;
            for (int64_t i = 0; i < pc->d; i++) w[i] += lr * (y - y_hat) * x[i];
            if (pc->bias) *b += lr * (y - y_hat);
        }
        mistakes += (double)errors;
        epochs++;
        converged = errors == 0;
    }
    counts[MB_PERCEPTRON_MISTAKES] = mistakes;
    counts[MB_PERCEPTRON_EPOCHS] = epochs;
    counts[MB_PERCEPTRON_CONVERGED] = converged;
}

static int perceptron_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism,
                            const struct mb_check_opts *opts MB_UNUSED, struct mb_errors *out, char *err, size_t errlen) {
    const int bias = !strcmp(mechanism, "perceptron.bias");
    if (!bias && strcmp(mechanism, "perceptron.nobias"))
        return mb_errorf(err, errlen, "basics.perceptron: unknown mechanism '%s' (perceptron.bias, perceptron.nobias)",
                         mechanism);
    struct mb_perceptron pc;
    mb_perceptron_bind(&pc, w, bias);
    double *want = malloc((size_t)(pc.d + 1) * sizeof *want), counts[MB_PERCEPTRON_COUNTS], max_score;
    if (!want) return mb_errorf(err, errlen, "out of memory");
    mb_perceptron_replay(&pc, want, &want[pc.d], counts, &max_score);
    if (max_score >= ldexp((double)pc.lr, 18)) {
        free(want);
        return mb_errorf(err, errlen, "basics.perceptron: a score reached %.4g lr, beyond float's exact range (2^18 lr); "
                                      "float and double may decide differently", max_score / pc.lr);
    }
    /* weight and bias as one vector, the counts as another: the worse error of the two */
    struct mb_errors wb, c;
    mb_errors_reset(&wb);
    mb_errors_reset(&c);
    mb_errors_add(&wb, pc.w, want, pc.d);
    mb_errors_add(&wb, pc.b, &want[pc.d], 1);
    mb_errors_add(&c, pc.counts, counts, MB_PERCEPTRON_COUNTS);
    mb_errors_finish(&wb);
    mb_errors_finish(&c);
    mb_errors_reset(out);
    mb_basics_errors_worst(out, &wb);
    mb_basics_errors_worst(out, &c);
    free(want);
    return 0;
}

static const struct mb_mechanism perceptron_mechanisms[] = {
    {"perceptron.bias", "y_hat = [w.x + b > 0]; mistake: w += lr (y - y_hat) x, b += lr (y - y_hat)", 1e-6,
     (void (*)(void))mb_perceptron_replay},
    {"perceptron.nobias", "y_hat = [w.x > 0]; mistake: w += lr (y - y_hat) x", 1e-6,
     (void (*)(void))mb_perceptron_replay},
};

/* ------------------------------------------------------------------------------------------ workload */
static int perceptron_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    if ((double)p->n * (double)p->d > (double)(INT64_C(1) << 32))
        return mb_errorf(err, errlen, "n*d = %.3g elements is too large (max 2^32)", (double)p->n * (double)p->d);
    int exponent;
    const double lr = mb_param_real(p, "lr");
    if (frexp(lr, &exponent) != 0.5)
        return mb_errorf(err, errlen, "lr = %g is not a power of two (allowed: 2^-10 .. 2^10, e.g. 0.25, 1, 2)", lr);
    mb_tensor_set(&w->inputs[INPUT], "input", "n,d", 2, p->n, p->d, 0, 0);
    mb_tensor_set(&w->inputs[TARGET], "target", "n", 1, p->n, 0, 0, 0);
    w->n_inputs = 2;
    mb_tensor_set(&w->outputs[WEIGHT], "weight", "d", 1, p->d, 0, 0, 0);
    mb_tensor_set(&w->outputs[BIAS], "bias", "1", 1, 1, 0, 0, 0);
    mb_tensor_set(&w->outputs[COUNTS], "counts", "mistakes,epochs,converged", 1, MB_PERCEPTRON_COUNTS, 0, 0, 0);
    w->n_outputs = 3;
    return 0;
}

static void perceptron_fill(struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    double *u = malloc((size_t)p->d * sizeof *u);
    if (!u) mb_contract_violation("basics.perceptron: out of memory for the hidden normal (d = %lld)", (long long)p->d);
    mb_perceptron_data(w->seed, p->n, p->d, mb_param_real(p, "gamma"), mb_param_real(p, "offset"),
                       w->inputs[INPUT].data, w->inputs[TARGET].data, u);
    free(u);
}

static int perceptron_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[INPUT], *y = &w->inputs[TARGET];
    if (x->ndim != 2) return mb_errorf(err, errlen, "'input' has %d dimensions; basics.perceptron expects (n, d)", x->ndim);
    if (y->ndim != 1 || y->shape[0] != x->shape[0])
        return mb_errorf(err, errlen, "'target' must be (n = %lld) labels 0/1", (long long)x->shape[0]);
    for (int64_t e = 0; e < y->shape[0]; e++)
        if (y->data[e] != 0.0f && y->data[e] != 1.0f)
            return mb_errorf(err, errlen, "'target'[%lld] = %g (allowed: 0 or 1)", (long long)e, (double)y->data[e]);
    w->point.n = x->shape[0];
    w->point.d = x->shape[1];
    return perceptron_layout(w, err, errlen);
}

const struct mb_family mb_family_basics_perceptron = {
    .name = "basics.perceptron",
    .summary = "input (n, d), target (n) in {0, 1} -> weight (d), bias, counts (mistakes, epochs, converged): the "
               "perceptron rule with and without a bias, trained to convergence or max_epochs",
    .axes = perceptron_axes,
    .n_axes = (int)(sizeof perceptron_axes / sizeof perceptron_axes[0]),
    .params = perceptron_params,
    .n_params = (int)(sizeof perceptron_params / sizeof perceptron_params[0]),
    .probes = mb_perceptron_probes,
    .n_probes = (int)(sizeof mb_perceptron_probes / sizeof mb_perceptron_probes[0]),
    .mechanisms = perceptron_mechanisms,
    .n_mechanisms = (int)(sizeof perceptron_mechanisms / sizeof perceptron_mechanisms[0]),
    .layout = perceptron_layout,
    .fill = perceptron_fill,
    .point_from_inputs = perceptron_point_from_inputs,
    .check = perceptron_check,
};
