/* basics.perceptron family (family_perceptron.c): Rosenblatt's perceptron trained to convergence.
 *
 *   input (n, d) examples x_i, target (n) labels y_i in {0, 1}
 *   y_hat = [w.x + b > 0];  on a mistake (y_hat != y): w += lr (y - y_hat) x,  b += lr (y - y_hat)  (bias variant;
 *   the no-bias variant keeps b = 0). Epochs of the n examples in order until one epoch makes no mistake or
 *   max_epochs have run.
 *   -> weight (d), bias (1), counts (3): mistakes (updates over all epochs), epochs run, converged (0 or 1).
 * Source: Rosenblatt 1958; the rule as in the seed article "深度学习偏置的作用" and Novikoff 1962 (convergence).
 *
 * Data (the fill): a hidden hyperplane u.x + c = 0 (u ~ N(0, I_d) normalised, c = the param `offset`); x_i has
 * coordinates k/8, k uniform in -8..8 (a grid of dyadic numbers), resampled until |u.x + c| >= gamma; y = [u.x + c > 0].
 * Float and double take identical decisions on these data (exactness argument in family_perceptron.c).
 * Axes: n examples, d dimension. Params: gamma, offset, lr (a power of two), max_epochs. */
#ifndef MB_BASICS_PERCEPTRON_H
#define MB_BASICS_PERCEPTRON_H

#include "core/mechbench.h"

extern const struct mb_family mb_family_basics_perceptron;
extern const struct mb_probe mb_perceptron_probes[2];

enum { MB_PERCEPTRON_MISTAKES, MB_PERCEPTRON_EPOCHS, MB_PERCEPTRON_CONVERGED, MB_PERCEPTRON_COUNTS };

/* One training problem and where its results go (float, as the kernels see it). */
struct mb_perceptron {
    int64_t n, d, max_epochs;
    float lr;
    int bias;                 /* learn b (1) or keep b = 0 (0) */
    const float *x, *y;       /* input (n, d), target (n) in {0, 1} */
    float *w, *b, *counts;    /* weight (d), bias (1), counts (3) */
};
/* Bind the workload's tensors and the point's params; bias from the kernel's variant. */
void mb_perceptron_bind(struct mb_perceptron *pc, const struct mb_workload *w, int bias);
/* The variant data of the two kernels (basics.perceptron.bias, basics.perceptron.nobias). */
struct mb_perceptron_variant {
    int bias;
};

/* The training loop in float (perceptron.c): the kernels' run and the probes' trainer. w, b, counts overwritten. */
void mb_perceptron_train(const struct mb_perceptron *pc);

/* The same rule in double, replayed on the float inputs: w (d), *b, counts (3); *max_score = max over decisions of
   sum_i |w_i x_i| + |b| (the largest partial sum a float evaluation can meet), for the exactness check. */
void mb_perceptron_replay(const struct mb_perceptron *pc, double *w, double *b, double counts[3], double *max_score);

/* Seeded separable data on the 1/8 grid (the family's fill): x (n, d), y (n); u (d) receives the hidden unit normal.
   REQUIRES 0 < gamma <= 0.5, |offset| <= 1 (so a point is accepted with probability > 1/3). */
void mb_perceptron_data(uint64_t seed, int64_t n, int64_t d, double gamma, double offset, float *x, float *y, double *u);

/* Models shared by the kernels: one epoch (the epochs a run takes depend on the data; counts[1] reports them). */
double mb_perceptron_epoch_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_perceptron_epoch_bytes(const struct mb_kernel *k, const struct mb_point *p);

#endif
