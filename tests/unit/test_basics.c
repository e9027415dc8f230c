/* basics families: the perceptron (with and without a bias) against its double replay at odd shapes, bit for bit;
 * the Boolean-function table (exactly which of the 16 are learned with and without a bias); Novikoff's bound;
 * conv + BatchNorm2d (training) / LayerNorm over channels against the double oracle at odd shapes (N = 1, H = 1, odd
 * C, k = 1 and 3, stride 2, padding), with and without bias; the bias is redundant before BatchNorm only; wrong
 * outputs (out, running statistics, weights, counts) are caught; bad points are refused in one line. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/probes.h"
#include "core/mechbench.h"
#include "run/runner.h"

/* Lay out, fill and run k at p (axes set by the caller) with params; the workload is the caller's to free. */
static void run_at(const struct mb_kernel *k, struct mb_point p, const char *params, uint64_t seed,
                   struct mb_workload *w) {
    char err[256];
    cr_assert_eq(mb_params_parse(k, params, 0, &p, err, sizeof err), 0, "%s: %s", params, err);
    mb_point_complete(k, &p, 0);
    cr_assert_eq(mb_family_validate(k->family, &p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_workload_create(w, k->family, &p, seed, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, w, err, sizeof err), 0, "%s", err);
}

static struct mb_errors check_all(const struct mb_kernel *k, const struct mb_workload *w) {
    struct mb_errors e;
    char err[256];
    const struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, w, k->mechanism, &co, &e, err, sizeof err), 0, "%s: %s", k->name, err);
    return e;
}

static float *tensor(struct mb_workload *w, const char *name, int output) {
    struct mb_tensor *t = output ? w->outputs : w->inputs;
    const int count = output ? w->n_outputs : w->n_inputs;
    for (int i = 0; i < count; i++)
        if (!strcmp(t[i].name, name)) return t[i].data;
    cr_assert_fail("no %s tensor '%s'", output ? "output" : "input", name);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ perceptron */
struct perceptron_case {
    int64_t n, d;
    const char *params;
};

static const struct perceptron_case perceptron_cases[] = {
    {1, 1, "offset=0"},
    {1, 7, "offset=0.5;lr=0.25"},
    {7, 3, "offset=-0.3;gamma=0.2"},
    {257, 33, "offset=0.5;lr=2;max_epochs=200"}, /* nobias: not separable through the origin, runs to the cap */
    {100, 129, "gamma=0.01;max_epochs=50"},
};

Test(basics_perceptron, both_kernels_equal_the_double_replay_bit_for_bit) {
    const char *names[] = {"basics.perceptron.bias", "basics.perceptron.nobias"};
    for (int kk = 0; kk < 2; kk++) {
        const struct mb_kernel *k = mb_kernel_find(names[kk]);
        cr_assert_not_null(k, "%s", names[kk]);
        for (size_t c = 0; c < sizeof perceptron_cases / sizeof perceptron_cases[0]; c++) {
            const struct perceptron_case *pc = &perceptron_cases[c];
            struct mb_workload w;
            run_at(k, (struct mb_point){.n = pc->n, .d = pc->d, .threads = 1}, pc->params, 11 + c, &w);
            const struct mb_errors e = check_all(k, &w);
            cr_assert_eq(e.checked, pc->d + 1 + 3, "%s case %zu", k->name, c);
            cr_assert_eq(e.max_abs, 0.0, "%s case %zu: max_abs %g", k->name, c, e.max_abs);
            const float *counts = tensor(&w, "counts", 1), *bias = tensor(&w, "bias", 1);
            cr_assert_geq(counts[1], 1);
            if (kk == 1) cr_assert_eq(bias[0], 0.0f, "no-bias kernel moved b");
            /* a converged run classifies every example; its last epoch was clean */
            if (counts[2] == 1.0f) {
                const float *x = tensor(&w, "input", 0), *y = tensor(&w, "target", 0), *wt = tensor(&w, "weight", 1);
                for (int64_t i = 0; i < pc->n; i++) {
                    double s = bias[0];
                    for (int64_t j = 0; j < pc->d; j++) s += (double)wt[j] * x[i * pc->d + j];
                    cr_assert_eq(s > 0, y[i] > 0.5f, "%s case %zu example %lld misclassified", k->name, c, (long long)i);
                }
            }
            /* tamper: one weight off by one grid step, then one count off by one */
            tensor(&w, "weight", 1)[pc->d - 1] += 0.125f;
            cr_assert_gt(check_all(k, &w).rel_l2, 1e-6, "%s case %zu: a wrong weight must be caught", k->name, c);
            tensor(&w, "weight", 1)[pc->d - 1] -= 0.125f;
            tensor(&w, "counts", 1)[0] += 1;
            cr_assert_gt(check_all(k, &w).max_abs, 0.5, "%s case %zu: a wrong count must be caught", k->name, c);
            mb_workload_free(&w);
        }
    }
}

Test(basics_perceptron, bias_variant_converges_off_the_origin_nobias_does_not) {
    /* offset 0.9, d = 1: the data's boundary is x = -0.9/u (not the origin); with one dimension and no bias the
       boundary is x = 0, so points of both classes on one side of 0 cannot be separated */
    struct mb_workload wb, wn;
    const struct mb_point p = {.n = 64, .d = 1, .threads = 1};
    run_at(mb_kernel_find("basics.perceptron.bias"), p, "offset=0.9;gamma=0.05;max_epochs=500", 5, &wb);
    run_at(mb_kernel_find("basics.perceptron.nobias"), p, "offset=0.9;gamma=0.05;max_epochs=500", 5, &wn);
    const float *cb = tensor(&wb, "counts", 1), *cn = tensor(&wn, "counts", 1);
    cr_assert_eq(cb[2], 1.0f, "with a bias: converged (epochs %g)", (double)cb[1]);
    cr_assert_eq(cn[2], 0.0f, "without a bias: cannot converge");
    cr_assert_eq(cn[1], 500.0f, "ran to the cap");
    mb_workload_free(&wb);
    mb_workload_free(&wn);
}

Test(basics_perceptron, learning_rate_scales_the_run_exactly) {
    /* from w = 0, b = 0 every score scales with lr, so the decisions, counts are the same and w, b scale by lr */
    const struct mb_kernel *k = mb_kernel_find("basics.perceptron.bias");
    struct mb_workload a, b;
    const struct mb_point p = {.n = 31, .d = 5, .threads = 1};
    run_at(k, p, "offset=0.4;lr=1", 3, &a);
    run_at(k, p, "offset=0.4;lr=4", 3, &b);
    for (int i = 0; i < 3; i++) cr_assert_eq(tensor(&a, "counts", 1)[i], tensor(&b, "counts", 1)[i]);
    for (int i = 0; i < 5; i++) cr_assert_eq(4 * tensor(&a, "weight", 1)[i], tensor(&b, "weight", 1)[i]);
    cr_assert_eq(4 * tensor(&a, "bias", 1)[0], tensor(&b, "bias", 1)[0]);
    cr_assert_gt(tensor(&a, "counts", 1)[0], 0, "the run made mistakes (not a trivial comparison)");
    mb_workload_free(&a);
    mb_workload_free(&b);
}

Test(basics_perceptron, bad_learning_rate_is_refused) {
    const struct mb_kernel *k = mb_kernel_find("basics.perceptron.bias");
    struct mb_point p = {.n = 4, .d = 2, .threads = 1};
    char err[256];
    cr_assert_eq(mb_params_parse(k, "lr=0.3", 0, &p, err, sizeof err), 0, "%s", err);
    struct mb_workload w = {.family = k->family, .point = p};
    cr_assert_eq(k->family->layout(&w, err, sizeof err), -1);
    cr_assert(strstr(err, "lr = 0.3") && strstr(err, "power of two") && !strchr(err, '\n'), "%s", err);
}

/* The functions in truth-table order (f(0,0) f(0,1) f(1,0) f(1,1) = bits 0..3 of the index). */
static const char *const boolean_names[16] = {"false", "nor", "not_a_and_b", "not_a", "a_and_not_b", "not_b",
                                              "xor", "nand", "and", "xnor", "b", "a_implies_b", "a", "b_implies_a",
                                              "or", "true"};

static double boolean_probe(const char *function, int bias, double epochs) {
    struct mb_point base;
    memset(&base, 0, sizeof base);
    snprintf(base.params, sizeof base.params, "function=%s;bias=%d", function, bias);
    struct mb_probe_series s;
    char err[256];
    cr_assert_eq(mb_probe_run("perceptron_boolean", &base, &epochs, 1, 1, &s, err, sizeof err), 0, "%s", err);
    const double y = s.y[0];
    mb_probe_series_free(&s);
    return y;
}

Test(basics_perceptron, boolean_table_with_and_without_bias) {
    /* with a bias: every function but xor and xnor. Without: f(0,0) must be 0 (y_hat(0,0) = 0 always), which leaves
       false, not_a_and_b, a_and_not_b, xor, and, b, a, or; of those and and xor are not separable through the origin */
    const char *without[] = {"false", "not_a_and_b", "a_and_not_b", "b", "a", "or"};
    for (int f = 0; f < 16; f++) {
        const int with_expected = strcmp(boolean_names[f], "xor") && strcmp(boolean_names[f], "xnor");
        int without_expected = 0;
        for (size_t i = 0; i < sizeof without / sizeof without[0]; i++) without_expected |= !strcmp(without[i], boolean_names[f]);
        cr_assert_eq(without_expected, f % 2 == 0 && f != 6 && f != 8, "%s: the table and the proof disagree", boolean_names[f]);
        cr_assert_eq(boolean_probe(boolean_names[f], 1, 1000), with_expected, "%s with a bias", boolean_names[f]);
        cr_assert_eq(boolean_probe(boolean_names[f], 0, 1000), without_expected, "%s without a bias", boolean_names[f]);
    }
    cr_assert_eq(boolean_probe("all", 1, 1000), 14);
    cr_assert_eq(boolean_probe("separable", 1, 10), 14, "the separable ones need at most 10 epochs");
    cr_assert_eq(boolean_probe("all", 0, 1000), 6);
    /* one epoch is not enough for AND even with a bias: the cap is honoured */
    cr_assert_eq(boolean_probe("and", 1, 1), 0);
}

Test(basics_perceptron, mistakes_within_novikoff_bound) {
    const double ds[] = {1, 3, 17};
    const char *variants[] = {"bias=1;offset=0.5;trials=5", "bias=0;offset=0;trials=5", "bias=1;offset=0;gamma=0.02;trials=3"};
    for (int v = 0; v < 3; v++) {
        struct mb_point base;
        memset(&base, 0, sizeof base);
        base.n = 51;
        snprintf(base.params, sizeof base.params, "%s", variants[v]);
        struct mb_probe_series s;
        char err[256];
        cr_assert_eq(mb_probe_run("perceptron_novikoff", &base, ds, 3, 7, &s, err, sizeof err), 0, "%s", err);
        cr_assert_eq(s.count, 3);
        for (int i = 0; i < s.count; i++) {
            cr_assert_leq(s.y[i], 1.0, "%s d = %g: ratio %g", variants[v], s.x[i], s.y[i]);
            cr_assert_gt(s.y[i], 0.0, "%s d = %g: no mistakes at all", variants[v], s.x[i]);
            for (int t = 0; t < s.ns[i]; t++) cr_assert_leq(s.samples[i][t], s.y[i], "y is the max over the trials");
        }
        mb_probe_series_free(&s);
    }
    struct mb_point base;
    memset(&base, 0, sizeof base);
    snprintf(base.params, sizeof base.params, "bias=0;offset=0.5");
    struct mb_probe_series s;
    char err[256];
    cr_assert_eq(mb_probe_run("perceptron_novikoff", &base, ds, 1, 7, &s, err, sizeof err), -1);
    cr_assert(strstr(err, "offset = 0.5") && strstr(err, "bias=1"), "%s", err);
}

/* ------------------------------------------------------------------------------------------ conv + norm */
struct conv_case {
    int64_t batch, c_in, c_out, h, w, k, stride, pad;
};

static const struct conv_case conv_cases[] = {
    {1, 3, 5, 1, 7, 1, 1, 0},      /* N = 1, H = 1, k = 1: the direct (no im2col) path */
    {1, 3, 5, 1, 9, 3, 2, 1},      /* N = 1, H = 1, k = 3, stride 2, padding 1: H' = 1, W' = 5 */
    {2, 5, 7, 11, 13, 3, 2, 1},    /* odd everything */
    {3, 1, 1, 5, 5, 5, 1, 0},      /* H' = W' = 1, C = 1 (LayerNorm over one channel: out = bn_bias) */
    {1, 7, 3, 9, 300, 3, 1, 1},    /* W' > 256: one output row per band */
    {2, 4, 6, 8, 8, 1, 2, 2},      /* k = 1 with stride and padding: im2col path with zero rows */
};

static struct mb_point conv_point(const struct conv_case *c, int threads, char *params, size_t len, const char *norm,
                                  int use_bias) {
    snprintf(params, len, "norm=%s;use_bias=%d;stride=%lld;padding=%lld", norm, use_bias, (long long)c->stride,
             (long long)c->pad);
    return (struct mb_point){.batch = c->batch, .channels = c->c_in, .n = c->c_out, .height = c->h, .width = c->w,
                             .ksize = c->k, .threads = threads};
}

Test(basics_conv_bn, matches_the_double_oracle_at_odd_shapes) {
    const struct mb_kernel *k = mb_kernel_find("basics.conv_bn.im2col");
    cr_assert_not_null(k);
    const double tol = mb_family_mechanism(k->family, k->mechanism)->tolerance;
    const char *norms[] = {"batch", "layer"};
    for (size_t c = 0; c < sizeof conv_cases / sizeof conv_cases[0]; c++)
        for (int nm = 0; nm < 2; nm++)
            for (int bias = 0; bias <= 1; bias++)
                for (int t = 1; t <= 2; t++) {
                    char params[128];
                    struct mb_workload w;
                    run_at(k, conv_point(&conv_cases[c], t, params, sizeof params, norms[nm], bias), params, 3 + c, &w);
                    const struct mb_errors e = check_all(k, &w);
                    const int64_t outs = mb_tensor_numel(&w.outputs[0]);
                    cr_assert_eq(e.checked, outs + (nm == 0 ? 2 * conv_cases[c].c_out : 0), "case %zu %s", c, params);
                    cr_assert_leq(e.rel_l2, tol, "case %zu %s threads %d: rel_l2 %g", c, params, t, e.rel_l2);
                    cr_assert_eq(w.n_outputs, nm == 0 ? 3 : 1);
                    mb_workload_free(&w);
                }
}

Test(basics_conv_bn, wrong_outputs_are_caught) {
    const struct mb_kernel *k = mb_kernel_find("basics.conv_bn.im2col");
    const char *outputs[] = {"out", "running_mean", "running_var"};
    for (int o = 0; o < 3; o++) {
        char params[128];
        struct mb_workload w;
        run_at(k, conv_point(&conv_cases[2], 1, params, sizeof params, "batch", 1), params, 9, &w);
        cr_assert_leq(check_all(k, &w).rel_l2, 1e-4);
        tensor(&w, outputs[o], 1)[1] += 0.05f;
        cr_assert_gt(check_all(k, &w).max_abs, 0.04, "a wrong %s must be caught", outputs[o]);
        mb_workload_free(&w);
    }
}

Test(basics_conv_bn, bias_is_redundant_before_batchnorm_only) {
    const struct mb_kernel *k = mb_kernel_find("basics.conv_bn.im2col");
    for (size_t c = 0; c < sizeof conv_cases / sizeof conv_cases[0]; c++) {
        if (conv_cases[c].c_out == 1) continue; /* LayerNorm over one channel erases everything, bias or not */
        double diff[2], ref[2];
        for (int nm = 0; nm < 2; nm++) {
            char pw[128], pn[128];
            struct mb_workload with, without;
            run_at(k, conv_point(&conv_cases[c], 1, pw, sizeof pw, nm ? "layer" : "batch", 1), pw, 21, &with);
            run_at(k, conv_point(&conv_cases[c], 2, pn, sizeof pn, nm ? "layer" : "batch", 0), pn, 21, &without);
            const float *a = tensor(&with, "out", 1), *b = tensor(&without, "out", 1);
            diff[nm] = ref[nm] = 0;
            for (int64_t i = 0; i < mb_tensor_numel(&with.outputs[0]); i++)
                diff[nm] += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), ref[nm] += (double)b[i] * b[i];
            if (!nm) { /* the running mean keeps the bias: m * b more; the running variance does not see it */
                const float *bias = tensor(&with, "bias", 0);
                for (int64_t o = 0; o < conv_cases[c].c_out; o++) {
                    const double shift = tensor(&with, "running_mean", 1)[o] - tensor(&without, "running_mean", 1)[o];
                    cr_assert_float_eq(shift, 0.1 * bias[o], 1e-6, "case %zu channel %lld", c, (long long)o);
                    cr_assert_float_eq(tensor(&with, "running_var", 1)[o], tensor(&without, "running_var", 1)[o],
                                       1e-5);
                }
            }
            mb_workload_free(&with);
            mb_workload_free(&without);
        }
        cr_assert_lt(sqrt(diff[0] / ref[0]), 1e-5, "case %zu: BatchNorm rel diff %g", c, sqrt(diff[0] / ref[0]));
        cr_assert_gt(sqrt(diff[1] / ref[1]), 1e-2, "case %zu: LayerNorm rel diff %g", c, sqrt(diff[1] / ref[1]));
    }
}

Test(basics_conv_bn, bad_points_are_refused_in_one_line) {
    const struct mb_kernel *k = mb_kernel_find("basics.conv_bn.im2col");
    char err[256];
    struct mb_point p = {.batch = 1, .channels = 3, .n = 4, .height = 2, .width = 2, .ksize = 5, .threads = 1};
    cr_assert_eq(mb_params_parse(k, "padding=1", 0, &p, err, sizeof err), 0, "%s", err);
    struct mb_workload w = {.family = k->family, .point = p};
    cr_assert_eq(k->family->layout(&w, err, sizeof err), -1);
    cr_assert(strstr(err, "ksize = 5") && !strchr(err, '\n'), "%s", err);
    p = (struct mb_point){.batch = 1, .channels = 3, .n = 4, .height = 3, .width = 3, .ksize = 3, .threads = 1};
    cr_assert_eq(mb_params_parse(k, "norm=batch", 0, &p, err, sizeof err), 0, "%s", err);
    w = (struct mb_workload){.family = k->family, .point = p};
    cr_assert_eq(k->family->layout(&w, err, sizeof err), -1);
    cr_assert(strstr(err, "norm=batch") && strstr(err, "more than one value"), "%s", err);
    cr_assert_eq(mb_params_parse(k, "norm=layer", 0, &p, err, sizeof err), 0, "%s", err);
    w = (struct mb_workload){.family = k->family, .point = p};
    cr_assert_eq(k->family->layout(&w, err, sizeof err), 0, "LayerNorm has channels to normalise over: %s", err);
    cr_assert_eq(mb_params_parse(k, "norm=group", 0, &p, err, sizeof err), -1);
    cr_assert(strstr(err, "batch") && strstr(err, "layer"), "%s", err);
}

Test(basics_conv_bn, bias_effect_probe) {
    const double channels[] = {3, 5};
    const char *norms[] = {"norm=batch;trials=2", "norm=layer;trials=2"};
    for (int nm = 0; nm < 2; nm++) {
        struct mb_point base;
        memset(&base, 0, sizeof base);
        base.batch = 2, base.n = 6, base.height = 7, base.width = 5, base.ksize = 3;
        snprintf(base.params, sizeof base.params, "%s", norms[nm]);
        struct mb_probe_series s;
        char err[256];
        cr_assert_eq(mb_probe_run("conv_bias_effect", &base, channels, 2, 5, &s, err, sizeof err), 0, "%s", err);
        for (int i = 0; i < s.count; i++) {
            if (nm == 0) cr_assert_lt(s.y[i], 1e-5, "batch C_in = %g: %g", s.x[i], s.y[i]);
            else cr_assert_gt(s.y[i], 1e-2, "layer C_in = %g: %g", s.x[i], s.y[i]);
        }
        mb_probe_series_free(&s);
    }
}
