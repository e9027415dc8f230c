/* The effective receptive field (Luo, Li, Urtasun & Zemel 2016, "Understanding the Effective Receptive Field in
 * Deep Convolutional Neural Networks", NIPS; Sec. 2.2-2.4, Fig. 1): the input gradient of the centre output of L
 * stacked 3x3 convolutions with random weights.
 *
 *   x_0: C x N x N, N = 2 L + 1 (ReLU: N(0, 1) inputs; linear: the gradient does not depend on x)
 *   pre_l = conv3x3_valid(x_{l-1}, W_l), W_l ~ N(0, 2 / (9 C)), C x C x 3 x 3, no bias;  x_l = ReLU(pre_l) for
 *   l < L (ReLU stacks) or x_l = pre_l (linear stacks and the last layer). The output is 1 x 1: the centre unit of
 *   the same stack with zero padding on any larger image (its cone never reaches the padding).
 *   g_L = e_0 (channel 0 of the output);  g_{l-1}[ci, y + a, x + b] += W_l[co, ci, a, b] (g_l * relu'(pre_l))[co, y, x]
 *   map(y, x) = mean over trials of sum_c g_0[c, y, x]^2 / sum_{c, y, x} g_0^2 (each trial normalised first: its
 *   overall gain is a product of L random factors, and an unnormalised mean would be one trial's map).
 * For zero-mean weights E[g] = 0 and Var[g] is the L-fold convolution of the 3x3 box of variances (Luo Sec. 2.3):
 * a Gaussian with variance 2 L / 3 per axis (the box's per-axis variance is 2/3), so the width grows like
 * sqrt(L) while the theoretical field grows like 2 L + 1. That is the mean; one draw's map is close to it only when
 * many channel paths average (C = 8: width / sqrt(L) = 0.82 +- 0.03 measured against sqrt(2/3) = 0.816; with C = 1
 * each draw is the convolution of L single random kernels, a modulated blob, 1.1 sqrt(L) at L = 64). Cost: about (4/3) L^3 9 C^2 multiply-adds per pass
 * (forward and backward), 0.8 GFLOP per trial at L = 64, C = 8. */
#include "vision/rf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A standard normal draw (Box-Muller on splitmix64). */
static double normal(uint64_t *state) {
    double u1 = ((double)(mb_splitmix64(state) >> 11) + 0.5) * 0x1.0p-53;
    double u2 = (double)(mb_splitmix64(state) >> 11) * 0x1.0p-53;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

double mb_rf_map_width(const double *map, int side) {
    const double c = (side - 1) / 2.0;
    double sum = 0, second = 0;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            const double m = map[y * side + x];
            sum += m;
            second += m * ((x - c) * (x - c) + (y - c) * (y - c));
        }
    return sum > 0 ? sqrt(second / sum / 2) : NAN;
}

/* y (C x (s - 2)^2) = conv3x3_valid(x (C x s^2), w (C x C x 9)) */
static void conv_valid(const double *x, const double *w, int C, int s, double *y) {
    const int t = s - 2;
    memset(y, 0, sizeof *y * (size_t)(C * t * t));
    for (int co = 0; co < C; co++)
        for (int ci = 0; ci < C; ci++)
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    const double wv = w[(co * C + ci) * 9 + a * 3 + b];
                    for (int oy = 0; oy < t; oy++) {
                        const double *xr = &x[(ci * s + oy + a) * s + b];
                        double *yr = &y[(co * t + oy) * t];
                        for (int ox = 0; ox < t; ox++) yr[ox] += wv * xr[ox];
                    }
                }
}

/* gx (C x s^2) = the adjoint of conv_valid applied to gy (C x (s - 2)^2) */
static void conv_valid_adjoint(const double *gy, const double *w, int C, int s, double *gx) {
    const int t = s - 2;
    memset(gx, 0, sizeof *gx * (size_t)(C * s * s));
    for (int co = 0; co < C; co++)
        for (int ci = 0; ci < C; ci++)
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    const double wv = w[(co * C + ci) * 9 + a * 3 + b];
                    for (int oy = 0; oy < t; oy++) {
                        double *xr = &gx[(ci * s + oy + a) * s + b];
                        const double *yr = &gy[(co * t + oy) * t];
                        for (int ox = 0; ox < t; ox++) xr[ox] += wv * yr[ox];
                    }
                }
}

void mb_rf_erf_free(struct mb_rf_erf *e) {
    free(e->map);
    free(e->trial_widths);
    e->map = e->trial_widths = NULL;
}

int mb_rf_erf(int depth, int channels, int relu, int trials, uint64_t seed, struct mb_rf_erf *out, char *err,
              size_t errlen) {
    memset(out, 0, sizeof *out);
    if (depth < 1 || depth > 256 || channels < 1 || channels > 64 || trials < 1 || trials > 1000)
        return mb_errorf(err, errlen, "erf: depth %d, channels %d, trials %d (allowed: depth 1..256, channels 1..64, "
                         "trials 1..1000)", depth, channels, trials);
    const int L = depth, C = channels, N = 2 * L + 1;
    out->depth = L, out->side = N, out->trials = trials;
    /* acts[l]: C x (N - 2l)^2, l = 0..L (acts[0] the input; for l >= 1 the pre-activations) */
    double **acts = calloc((size_t)L + 1, sizeof *acts), *w = malloc(sizeof(double) * (size_t)(L * C * C * 9));
    double *g = malloc(sizeof(double) * (size_t)(C * N * N)), *g2 = malloc(sizeof(double) * (size_t)(C * N * N));
    double *trial_map = malloc(sizeof(double) * (size_t)(N * N));
    out->map = calloc((size_t)(N * N), sizeof *out->map);
    out->trial_widths = malloc(sizeof(double) * (size_t)trials);
    int rc = (!acts || !w || !g || !g2 || !trial_map || !out->map || !out->trial_widths) ? -1 : 0;
    for (int l = 0; !rc && l <= L; l++)
        if (!(acts[l] = malloc(sizeof(double) * (size_t)(C * (N - 2 * l) * (N - 2 * l))))) rc = -1;
    if (rc) rc = mb_errorf(err, errlen, "erf: out of memory (depth %d, channels %d)", L, C);
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + (uint64_t)(L * 131 + C * 7 + relu);
    const double std = sqrt(2.0 / (9.0 * C));
    for (int trial = 0; !rc && trial < trials; trial++) {
        for (int e = 0; e < L * C * C * 9; e++) w[e] = std * normal(&state);
        for (int e = 0; e < C * N * N; e++) acts[0][e] = relu ? normal(&state) : 0;
        if (relu) /* forward, keeping the pre-activations for the masks; the ReLU applied on the fly */
            for (int l = 1; l <= L; l++) {
                const int s = N - 2 * (l - 1), size = C * s * s;
                double *x = g; /* scratch: the ReLU of the previous pre-activation */
                for (int e = 0; e < size; e++) x[e] = l == 1 ? acts[0][e] : fmax(acts[l - 1][e], 0);
                conv_valid(x, &w[(size_t)(l - 1) * C * C * 9], C, s, acts[l]);
            }
        /* backward from channel 0 of the 1 x 1 output */
        double *gy = g, *gx = g2;
        for (int c = 0; c < C; c++) gy[c] = c == 0;
        for (int l = L; l >= 1; l--) {
            const int s = N - 2 * (l - 1), t = s - 2;
            if (relu && l < L)
                for (int e = 0; e < C * t * t; e++)
                    if (acts[l][e] <= 0) gy[e] = 0;
            conv_valid_adjoint(gy, &w[(size_t)(l - 1) * C * C * 9], C, s, gx);
            double *swap = gy;
            gy = gx, gx = swap;
        }
        double sum = 0;
        for (int e = 0; e < N * N; e++) {
            double v = 0;
            for (int c = 0; c < C; c++) v += gy[c * N * N + e] * gy[c * N * N + e];
            sum += trial_map[e] = v;
        }
        for (int e = 0; sum > 0 && e < N * N; e++) out->map[e] += trial_map[e] / sum / trials;
        out->trial_widths[trial] = mb_rf_map_width(trial_map, N);
    }
    double total = 0;
    for (int e = 0; !rc && e < N * N; e++) total += out->map[e];
    if (!rc && !(total > 0)) rc = mb_errorf(err, errlen, "erf: the gradient vanished in every trial (depth %d)", L);
    for (int e = 0; !rc && e < N * N; e++) out->map[e] /= total;
    if (!rc) out->width = mb_rf_map_width(out->map, N);
    for (int l = 0; acts && l <= L; l++) free(acts[l]);
    free(acts), free(w), free(g), free(g2), free(trial_map);
    if (rc) mb_rf_erf_free(out);
    return rc;
}
