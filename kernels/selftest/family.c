/* selftest family: a known, adjustable amount of arithmetic for testing the harness itself (compare, budgets,
 * timing), not a mechanism of the articles.
 *
 *   y_i = f^work(x_i),  f(v) = a v + b,  a = 0.999, b = 0.001   (closed form: a^w x + b (1 - a^w) / (1 - a))
 *   x (n) -> y (n); 2 n work FLOPs; the work of one run is exactly proportional to the declared parameter `work`.
 * The double-precision oracle is the closed form. Rounding errors are damped by a each step, so the float
 * chain stays within ~eps / (1 - a) = 1000 eps (~6e-5) of it at any work: tolerance 2e-4. */
#include "selftest/family.h"

#include "core/check.h"

#include <math.h>

static const struct mb_axis_rule selftest_axes[] = {{MB_AXIS_n, 4096, 1, 1 << 26}};

static const struct mb_param_decl selftest_params[] = {
    {"work", MB_PARAM_INT, 64, 1, 1 << 20, NULL, "affine steps per element: the run's work is proportional to it"},
};

double mb_selftest_flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 2.0 * (double)p->n * (double)mb_param_int(p, "work");
}

double mb_selftest_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) { return 8.0 * (double)p->n; }

static int selftest_layout(struct mb_workload *w, char *err MB_UNUSED, size_t errlen MB_UNUSED) {
    mb_tensor_set(&w->inputs[0], "x", "n", 1, w->point.n, 0, 0, 0);
    mb_tensor_set(&w->outputs[0], "y", "n", 1, w->point.n, 0, 0, 0);
    w->n_inputs = w->n_outputs = 1;
    return 0;
}

static void selftest_fill(struct mb_workload *w) { mb_fill_normal(&w->inputs[0], w->seed, 1, 0.0, 1.0); }

static int selftest_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    if (w->inputs[0].ndim != 1) return mb_errorf(err, errlen, "'x' must have 1 dimension (n)");
    w->point.n = w->inputs[0].shape[0];
    selftest_layout(w, err, errlen);
    return 0;
}

struct oracle_ctx {
    const float *x;
    int64_t work;
};

static void row_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct oracle_ctx *c = ctx;
    const double aw = pow(MB_SELFTEST_A, (double)c->work);
    want[0] = aw * c->x[row] + MB_SELFTEST_B * (1.0 - aw) / (1.0 - MB_SELFTEST_A);
}

static const struct mb_mechanism selftest_mechanisms[] = {
    {"affine_chain", "y_i = f^work(x_i), f(v) = 0.999 v + 0.001", 2e-4, (void (*)(void))row_oracle},
};

static int selftest_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w,
                          const char *mechanism MB_UNUSED, const struct mb_check_opts *opts, struct mb_errors *out,
                          char *err, size_t errlen) {
    const struct oracle_ctx ctx = {w->inputs[0].data, mb_param_int(&w->point, "work")};
    const struct mb_row_check c = {.width = 1, .got = w->outputs[0].data, .oracle = row_oracle, .ctx = &ctx};
    return mb_check_sampled(&c, 1, w->point.n, 0, opts, out, err, errlen);
}

const struct mb_family mb_family_selftest = {
    .name = "selftest",
    .summary = "harness self-test: x (n) -> y (n) with a fixed, declared amount of arithmetic (not a mechanism)",
    .axes = selftest_axes,
    .n_axes = (int)(sizeof selftest_axes / sizeof selftest_axes[0]),
    .params = selftest_params,
    .n_params = (int)(sizeof selftest_params / sizeof selftest_params[0]),
    .mechanisms = selftest_mechanisms,
    .n_mechanisms = (int)(sizeof selftest_mechanisms / sizeof selftest_mechanisms[0]),
    .layout = selftest_layout,
    .fill = selftest_fill,
    .point_from_inputs = selftest_point_from_inputs,
    .check = selftest_check,
};
