/* The basics families' probes (claims about the role of the bias).
 *
 *   perceptron_boolean  x = n, read as the epoch cap (passes over the four patterns). params function=NAME|all|
 *                  separable (all), bias=0|1 (1). The 16 Boolean functions f of two 0/1 inputs, each trained by
 *                  the float perceptron (mb_perceptron_train, lr 1, from w = 0, b = 0) on the patterns (0,0), (0,1),
 *                  (1,0), (1,1) in that order; f is learned when the final w, b classify all four correctly.
 *                  value = how many of the selected functions are learned (exact, no trials). Expected:
 *                  with a bias, the 14 linearly separable ones (all but xor and xnor): each has a strict margin on
 *                  the augmented patterns (x, 1), so Novikoff's theorem bounds the mistakes; xor and xnor have no
 *                  separating line, so no w, b classifies all four. Without a bias, exactly 6:
 *                    - y_hat(0,0) = [w.0 > 0] = 0 for every w, so the 8 functions with f(0,0) = 1 (true, nor,
 *                      nand, xnor, not_a, not_b, a_implies_b, b_implies_a) are never learned;
 *                    - with f(0,0) = 0 the rule must give f(0,1) = [w2 > 0], f(1,0) = [w1 > 0], f(1,1) = [w1 + w2 > 0].
 *                      and needs w1 <= 0, w2 <= 0 and w1 + w2 > 0: impossible. xor needs w1 > 0, w2 > 0 and
 *                      w1 + w2 <= 0: impossible. The other six are strictly separated on the three nonzero patterns
 *                      (false: w = (-1, -1); or: (1, 1); a: (2, -1); b: (-1, 2); a_and_not_b: (1, -2); not_a_and_b:
 *                      (-2, 1)), and (0,0) is never a mistake, so Novikoff applies: they are learned.
 *                  Names by truth table (f(0,0) f(0,1) f(1,0) f(1,1)): false 0000, nor 1000, not_a_and_b 0100,
 *                  not_a 1100, a_and_not_b 0010, not_b 1010, xor 0110, nand 1110, and 0001, xnor 1001, b 0101,
 *                  a_implies_b 1101, a 0011, b_implies_a 1011, or 0111, true 1111.
 *   perceptron_novikoff x = d. params bias=0|1 (1), gamma (0.1), offset (0; must be 0 without a bias), trials (20),
 *                  reads n (examples, default 200). Per trial: the family's seeded separable data (seed + trial),
 *                  trained to convergence (cap 10^6 epochs) by the float perceptron; ratio = mistakes / (R/gamma)^2.
 *                  With a bias the examples are augmented x' = (x, 1) and the reference separator is the data's
 *                  hidden hyperplane u' = (u, c) / |(u, c)|: R = max_i |x_i'| = max_i sqrt(|x_i|^2 + 1),
 *                  gamma = min_i (2 y_i - 1) u'.x_i' (measured on the data, >= the requested margin / |(u, c)|).
 *                  Without a bias: R = max_i |x_i|, gamma = min_i (2 y_i - 1) u.x_i. Novikoff (1962): the number of
 *                  updates is at most (R/gamma)^2 for ANY unit separator with margin gamma, so every ratio <= 1.
 *                  value = the largest ratio over the trials (the samples hold every trial's ratio).
 *   conv_bias_effect    x = channels (C_in). params norm=batch|layer (batch), stride (1), padding (1), trials (3);
 *                  reads n (C_out), batch, height, width, ksize (the family's defaults when 0). Runs
 *                  basics.conv_bn.im2col on the same seeded inputs with use_bias=1 and use_bias=0;
 *                  value = median over trials of ||out_bias - out_nobias|| / ||out_nobias|| (rel L2, float).
 *                  batch: the bias only shifts each channel's batch mean, so the outputs agree to float rounding
 *                  (a few float ulps: the rounding of z + b and of the shifted mean, about 1e-7 relative).
 *                  layer: the per-channel biases differ across the channels normalised together; the relative
 *                  change is about std(b) / std(z) = 1/sqrt(C_in k^2) with nn.Conv2d's initialisation (0.19 at
 *                  C_in = 3, k = 3; 0.06 at C_in = 32).
 */
#include "basics/family_conv_bn.h"
#include "basics/family_perceptron.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ perceptron_boolean */
/* The enum's values in truth-table order: value v has f(x1, x2) = bit (2 x1 + x2) of v. */
#define BOOLEAN_FUNCTIONS                                                                                             \
    "false|nor|not_a_and_b|not_a|a_and_not_b|not_b|xor|nand|and|xnor|b|a_implies_b|a|b_implies_a|or|true"
enum { FUNCTION_ALL = 16, FUNCTION_SEPARABLE = 17, FUNCTION_XOR = 6, FUNCTION_XNOR = 9 };

static const struct mb_param_decl boolean_params[] = {
    {"function", MB_PARAM_ENUM, FUNCTION_ALL, 0, 0, BOOLEAN_FUNCTIONS "|all|separable",
     "one of the 16 functions of two 0/1 inputs, all 16, or the 14 linearly separable ones"},
    {"bias", MB_PARAM_BOOL, 1, 0, 1, NULL, "the perceptron learns a bias b"},
};

/* Does the float perceptron learn truth table `table` within `epochs` epochs? */
static int boolean_learned(int table, int bias, int64_t epochs) {
    float x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, y[4], w[2], b, counts[MB_PERCEPTRON_COUNTS];
    for (int i = 0; i < 4; i++) y[i] = (float)((table >> i) & 1);
    const struct mb_perceptron pc = {.n = 4, .d = 2, .max_epochs = epochs, .lr = 1, .bias = bias, .x = x, .y = y,
                                     .w = w, .b = &b, .counts = counts};
    mb_perceptron_train(&pc);
    for (int i = 0; i < 4; i++)
        if ((w[0] * x[2 * i] + w[1] * x[2 * i + 1] + b > 0) != (y[i] > 0.5f)) return 0;
    return 1;
}

static int probe_boolean(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs, int nx,
                         uint64_t seed MB_UNUSED, struct mb_probe_series *out, char *err MB_UNUSED,
                         size_t errlen MB_UNUSED) {
    const int function = mb_param_enum(base, "function"), bias = mb_param_bool(base, "bias");
    for (int xi = 0; xi < nx; xi++) {
        int learned = 0;
        for (int table = 0; table < 16; table++) {
            const int chosen = function == FUNCTION_ALL ||
                               (function == FUNCTION_SEPARABLE && table != FUNCTION_XOR && table != FUNCTION_XNOR) ||
                               function == table;
            if (chosen) learned += boolean_learned(table, bias, (int64_t)xs[xi]);
        }
        out->x[out->count] = xs[xi];
        out->y[out->count] = learned;
        out->ns[out->count] = 0;
        out->samples[out->count] = NULL;
        out->count++;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ perceptron_novikoff */
static const struct mb_param_decl novikoff_params[] = {
    {"bias", MB_PARAM_BOOL, 1, 0, 1, NULL, "the perceptron learns a bias (examples augmented with a constant 1)"},
    {"gamma", MB_PARAM_REAL, 0.1, 1e-3, 0.5, NULL, "requested margin of the data (|u.x + offset| >= gamma)"},
    {"offset", MB_PARAM_REAL, 0, -1, 1, NULL, "offset c of the hidden hyperplane (0 without a bias)"},
    {"trials", MB_PARAM_INT, 20, 1, 10000, NULL, "data sets per d"},
};

/* mistakes / (R/gamma)^2 of one trained data set (R, gamma measured on the data against the hidden separator). */
static double novikoff_ratio(const struct mb_perceptron *pc, const double *u, double offset) {
    const double c = pc->bias ? offset : 0, norm = sqrt(1 + c * c * (pc->bias ? 1 : 0));
    double r2 = 0, gamma = INFINITY;
    for (int64_t e = 0; e < pc->n; e++) {
        const float *x = pc->x + e * pc->d;
        double sq = pc->bias ? 1 : 0, s = c;
        for (int64_t i = 0; i < pc->d; i++) sq += (double)x[i] * x[i], s += u[i] * x[i];
        r2 = fmax(r2, sq);
        gamma = fmin(gamma, (pc->y[e] > 0.5f ? s : -s) / norm);
    }
    const double bound = r2 / (gamma * gamma);
    return pc->counts[MB_PERCEPTRON_MISTAKES] / bound;
}

static int probe_novikoff(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs, int nx,
                          uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const int bias = mb_param_bool(base, "bias"), trials = (int)mb_param_int(base, "trials");
    const double gamma = mb_param_real(base, "gamma"), offset = mb_param_real(base, "offset");
    const int64_t n = base->n > 0 ? base->n : 200;
    if (!bias && offset != 0)
        return mb_errorf(err, errlen, "perceptron_novikoff: offset = %g needs bias=1 (without a bias the data must be "
                         "separable through the origin: offset=0)", offset);
    int64_t d_max = 1;
    for (int xi = 0; xi < nx; xi++) d_max = xs[xi] > d_max ? (int64_t)xs[xi] : d_max;
    float *x = malloc((size_t)(n * d_max) * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    float *w = malloc((size_t)d_max * sizeof *w), b, counts[MB_PERCEPTRON_COUNTS];
    double *u = malloc((size_t)d_max * sizeof *u);
    int status = !x || !y || !w || !u ? mb_errorf(err, errlen, "out of memory") : 0;
    for (int xi = 0; xi < nx && !status; xi++) {
        const int64_t d = (int64_t)xs[xi];
        double *ratios = malloc((size_t)trials * sizeof *ratios), worst = 0;
        if (!ratios) {
            status = mb_errorf(err, errlen, "out of memory");
            break;
        }
        for (int t = 0; t < trials; t++) {
            mb_perceptron_data(seed + (uint64_t)t * 7919 + (uint64_t)d, n, d, gamma, offset, x, y, u);
            const struct mb_perceptron pc = {.n = n, .d = d, .max_epochs = 1000000, .lr = 1, .bias = bias, .x = x,
                                             .y = y, .w = w, .b = &b, .counts = counts};
            mb_perceptron_train(&pc);
            ratios[t] = novikoff_ratio(&pc, u, offset);
            worst = fmax(worst, ratios[t]);
        }
        out->x[out->count] = (double)d;
        out->y[out->count] = worst;
        out->samples[out->count] = ratios;
        out->ns[out->count] = trials;
        out->count++;
    }
    free(x), free(y), free(w), free(u);
    return status;
}

const struct mb_probe mb_perceptron_probes[2] = {
    {.name = "perceptron_boolean", .x_axis = "n", .run = probe_boolean, .params = boolean_params,
     .n_params = (int)(sizeof boolean_params / sizeof boolean_params[0]),
     .summary = "how many of the 16 Boolean functions of two 0/1 inputs the perceptron (with or without a bias) "
                "classifies without error after x = n epochs"},
    {.name = "perceptron_novikoff", .x_axis = "d", .run = probe_novikoff, .params = novikoff_params,
     .n_params = (int)(sizeof novikoff_params / sizeof novikoff_params[0]),
     .summary = "max over trials of perceptron mistakes / Novikoff's bound (R/gamma)^2 on seeded separable data"},
};

/* ------------------------------------------------------------------------------------------ conv_bias_effect */
static const struct mb_param_decl bias_effect_params[] = {
    {"norm", MB_PARAM_ENUM, MB_NORM_BATCH, 0, 0, "batch|layer", "the normalisation after the convolution"},
    {"stride", MB_PARAM_INT, 1, 1, 64, NULL, "convolution stride"},
    {"padding", MB_PARAM_INT, 1, 0, 64, NULL, "zero padding"},
    {"trials", MB_PARAM_INT, 3, 1, 1000, NULL, "seeded input sets per C_in"},
};

/* The kernel's out (malloc'd into *out, count *count) on the family's inputs for point p with use_bias. */
static int conv_out(const struct mb_point *base, const char *norm, int use_bias, uint64_t seed, float **out,
                    int64_t *count, char *err, size_t errlen) {
    const struct mb_kernel *k = &mb_kernel_basics_conv_bn_im2col;
    struct mb_point p = *base;
    char params[MB_PARAMS_LEN];
    snprintf(params, sizeof params, "norm=%s;use_bias=%d;stride=%lld;padding=%lld", norm, use_bias,
             (long long)mb_param_int(base, "stride"), (long long)mb_param_int(base, "padding"));
    if (mb_params_parse(k, params, 0, &p, err, errlen)) return -1;
    mb_point_complete(k, &p, 0);
    if (mb_family_validate(k->family, &p, err, errlen)) return -1;
    struct mb_workload w;
    if (mb_workload_create(&w, k->family, &p, seed, err, errlen)) return -1;
    void *state = NULL;
    if (mb_kernel_setup(k, &state, &w, err, errlen)) return mb_workload_free(&w), -1;
    k->run(state);
    k->teardown(state);
    *count = mb_tensor_numel(&w.outputs[0]);
    *out = malloc((size_t)*count * sizeof **out);
    if (*out) memcpy(*out, w.outputs[0].data, (size_t)*count * sizeof **out);
    mb_workload_free(&w);
    return *out ? 0 : mb_errorf(err, errlen, "out of memory");
}

static int probe_bias_effect(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                             int nx, uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const char *norm = mb_param_enum(base, "norm") == MB_NORM_BATCH ? "batch" : "layer";
    const int trials = (int)mb_param_int(base, "trials");
    for (int xi = 0; xi < nx; xi++) {
        struct mb_point p = *base;
        p.channels = (int64_t)xs[xi];
        double *rel = malloc((size_t)trials * sizeof *rel);
        if (!rel) return mb_errorf(err, errlen, "out of memory");
        for (int t = 0; t < trials; t++) {
            float *with = NULL, *without = NULL;
            int64_t count_with = 0, count_without = 0;
            const uint64_t s = seed + (uint64_t)t * 7919;
            if (conv_out(&p, norm, 1, s, &with, &count_with, err, errlen) ||
                conv_out(&p, norm, 0, s, &without, &count_without, err, errlen)) {
                free(with), free(without), free(rel);
                return -1;
            }
            double diff = 0, ref = 0;
            for (int64_t i = 0; i < count_with; i++) {
                diff += ((double)with[i] - without[i]) * ((double)with[i] - without[i]);
                ref += (double)without[i] * without[i];
            }
            rel[t] = ref > 0 ? sqrt(diff / ref) : sqrt(diff);
            free(with), free(without);
        }
        out->x[out->count] = xs[xi];
        out->samples[out->count] = rel;
        out->ns[out->count] = trials;
        if (mb_probe_median(out, out->count++)) return mb_errorf(err, errlen, "out of memory");
    }
    return 0;
}

const struct mb_probe mb_conv_bn_probes[1] = {
    {.name = "conv_bias_effect", .x_axis = "channels", .run = probe_bias_effect, .params = bias_effect_params,
     .n_params = (int)(sizeof bias_effect_params / sizeof bias_effect_params[0]),
     .summary = "rel L2 difference of norm(conv(x) + b) and norm(conv(x)): BatchNorm removes the bias, LayerNorm "
                "over channels does not"},
};
