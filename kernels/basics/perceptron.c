/* basics.perceptron.bias, basics.perceptron.nobias: the perceptron rule trained to convergence (one implementation,
 * two kernels by variant).
 *
 *   y_hat = [w.x + b > 0];  mistake: w += lr (y - y_hat) x,  b += lr (y - y_hat)   (nobias: b stays 0)
 * Epochs over the n examples in order, from w = 0, b = 0, until an epoch without a mistake or max_epochs.
 * Per example one d-long dot product (vectorised: `omp simd` reduction, 16 floats per AVX-512 lane group) and, on a
 * mistake, one axpy. The examples are sequential by nature (every update changes the next score): one thread.
 * O(epochs n d) time, no workspace. Source: Rosenblatt 1958; Novikoff 1962 (at most (R/gamma)^2 mistakes).
 */
#include "basics/family_perceptron.h"

#include <stdlib.h>
#include <string.h>

void mb_perceptron_train(const struct mb_perceptron *pc) {
    const int64_t d = pc->d;
    float *restrict w = pc->w;
    const float lr = pc->lr;
    memset(w, 0, (size_t)d * sizeof *w);
    float b = 0;
    int64_t mistakes = 0, epochs = 0, errors = 1;
    while (epochs < pc->max_epochs && errors) {
        errors = 0;
        for (int64_t e = 0; e < pc->n; e++) {
            const float *restrict x = pc->x + e * d;
            float s = 0;
#pragma omp simd reduction(+ : s)
            for (int64_t i = 0; i < d; i++) s += w[i] * x[i];
            const int y = pc->y[e] > 0.5f, y_hat = s + b > 0;
            if (y == y_hat) continue;
            const float step = y ? lr : -lr; /* lr (y - y_hat) */
#pragma omp simd
            for (int64_t i = 0; i < d; i++) w[i] += step * x[i];
            if (pc->bias) b += step;
            errors++;
        }
        mistakes += errors;
        epochs++;
    }
    *pc->b = b;
    pc->counts[MB_PERCEPTRON_MISTAKES] = (float)mistakes;
    pc->counts[MB_PERCEPTRON_EPOCHS] = (float)epochs;
    pc->counts[MB_PERCEPTRON_CONVERGED] = errors == 0 ? 1.0f : 0.0f;
}

static int setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_perceptron_variant *v = k->variant;
    struct mb_perceptron *pc = malloc(sizeof *pc);
    if (!pc) return mb_errorf(err, errlen, "out of memory");
    mb_perceptron_bind(pc, w, v->bias);
    *state = pc;
    return 0;
}

static void run(void *state) { mb_perceptron_train(state); }

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p MB_UNUSED) { return 0; }

#define PERCEPTRON_KERNEL                                                                                             \
    .family = &mb_family_basics_perceptron, .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d),                                  \
    .complexity = "O(epochs n d) time, O(1) workspace; models count one epoch (counts[1] gives the epochs run)",      \
    MB_KERNEL_SOURCE, .setup = setup, .run = run, .teardown = free, .flops = mb_perceptron_epoch_flops,              \
    .bytes = mb_perceptron_epoch_bytes, .workspace_bytes = workspace

const struct mb_kernel mb_kernel_basics_perceptron_bias = {
    .name = "basics.perceptron.bias",
    .mechanism = "perceptron.bias",
    .summary = "perceptron with a learned bias b: y_hat = [w.x + b > 0], trained to convergence (simd dot products)",
    .variant = &(const struct mb_perceptron_variant){.bias = 1},
    PERCEPTRON_KERNEL,
};

const struct mb_kernel mb_kernel_basics_perceptron_nobias = {
    .name = "basics.perceptron.nobias",
    .mechanism = "perceptron.nobias",
    .summary = "perceptron without a bias: y_hat = [w.x > 0] (the decision boundary passes through the origin)",
    .variant = &(const struct mb_perceptron_variant){.bias = 0},
    PERCEPTRON_KERNEL,
};
