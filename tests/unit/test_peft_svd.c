/* peft.svd: peft.svd.delta against its double oracle (dgesdd of the same delta) at odd shapes (d_out = 1, d_in = 1,
 * d_out != d_in, r = 1 and r = min(d_out, d_in); 1 and 2 threads); Eckart-Young exactness; the seeded spectrum and
 * the factors; the probes; a wrong output is caught. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mechbench.h"
#include "peft/family_svd.h"
#include "run/runner.h"

struct shape {
    int64_t rows, cols, r;
};

static const struct shape shapes[] = {
    {1, 7, 1}, {7, 1, 1}, {33, 17, 1}, {17, 33, 17}, {257, 64, 10}, {64, 257, 64}, {96, 96, 33},
};

static void run_kernel(const struct shape *s, int threads, double decay, struct mb_workload *w, struct mb_errors *e) {
    const struct mb_kernel *k = mb_kernel_find("peft.svd_delta");
    cr_assert_not_null(k);
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = s->rows, p.d = s->cols, p.rank = s->r, p.threads = threads;
    char params[48], err[256];
    snprintf(params, sizeof params, "decay=%g", decay);
    cr_assert_eq(mb_params_parse(k, params, 0, &p, err, sizeof err), 0, "%s", err);
    mb_point_complete(k, &p, 0);
    cr_assert_eq(mb_workload_create(w, k->family, &p, 17, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, w, err, sizeof err), 0, "%s", err);
    const struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, w, k->mechanism, &co, e, err, sizeof err), 0, "%s", err);
}

Test(peft_svd, matches_its_oracle_at_odd_shapes) {
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int threads = 1; threads <= 2; threads++) {
            struct mb_workload w;
            struct mb_errors e;
            run_kernel(&shapes[s], threads, 0.9, &w, &e);
            cr_assert_eq(e.checked, shapes[s].rows * shapes[s].cols);
            cr_assert_leq(e.rel_l2, 1e-5, "shape %zu threads %d: rel_l2 %g", s, threads, e.rel_l2);
            mb_workload_free(&w);
        }
}

Test(peft_svd, a_wrong_output_is_caught) {
    struct mb_workload w;
    struct mb_errors e;
    run_kernel(&shapes[4], 1, 0.9, &w, &e);
    w.outputs[0].data[mb_tensor_numel(&w.outputs[0]) - 1] += 0.5f;
    const struct mb_kernel *k = mb_kernel_find("peft.svd.delta");
    const struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    char err[256];
    cr_assert_eq(k->family->check(k, &w, "svd.truncated", &co, &e, err, sizeof err), 0, "%s", err);
    cr_assert_gt(e.max_abs, 0.4);
    mb_workload_free(&w);
}

/* ||delta - delta_r||_F = sqrt(sum_{i >= r} s_i^2) (0-based), s_i from double dgesdd; the seeded spectrum is decay^i;
   U, Vh orthonormal, S descending, U diag(S) Vh = out. */
Test(peft_svd, eckart_young_exact_and_the_factors) {
    const struct shape cases[] = {{64, 64, 1}, {64, 64, 16}, {64, 64, 48}, {100, 40, 7}, {40, 100, 30}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct shape *s = &cases[c];
        struct mb_workload w;
        struct mb_errors e;
        run_kernel(s, 1, 0.9, &w, &e);
        struct mb_svd a;
        mb_svd_bind(&a, &w);
        const int64_t k = s->rows < s->cols ? s->rows : s->cols;
        double *sv = malloc((size_t)k * sizeof(double));
        cr_assert_eq(mb_svd_double(a.delta, a.rows, a.cols, sv, NULL, NULL), 0);
        double tail = 0, residual = 0, recon = 0;
        for (int64_t i = k - 1; i >= s->r; i--) tail += sv[i] * sv[i];
        for (int64_t i = 0; i < k; i++) /* the seeded spectrum, to float rounding */
            cr_assert_lt(fabs(sv[i] - pow(0.9, (double)i)), 2e-6, "case %zu: s_%lld = %.9g, want 0.9^%lld", c,
                         (long long)i, sv[i], (long long)i);
        for (int64_t i = 0; i < a.rows * a.cols; i++)
            residual += ((double)a.delta[i] - a.out[i]) * ((double)a.delta[i] - a.out[i]);
        cr_assert_lt(fabs(sqrt(residual) / sqrt(tail) - 1), 1e-5, "case %zu: measured %.9g predicted %.9g", c,
                     sqrt(residual), sqrt(tail));
        /* teeth: one component fewer has a visibly larger error */
        cr_assert_gt(sqrt(tail + sv[s->r - 1] * sv[s->r - 1]) / sqrt(tail), 1.05);
        for (int64_t i = 0; i < s->r; i++) {
            cr_assert_lt(fabs(a.s[i] - sv[i]), 1e-5 * sv[0]);
            if (i) cr_assert_geq(a.s[i - 1], a.s[i]);
            for (int64_t j = 0; j < s->r; j++) {
                double uu = 0, vv = 0;
                for (int64_t o = 0; o < a.rows; o++) uu += (double)a.u[o * s->r + i] * a.u[o * s->r + j];
                for (int64_t o = 0; o < a.cols; o++) vv += (double)a.vh[i * a.cols + o] * a.vh[j * a.cols + o];
                cr_assert_lt(fabs(uu - (i == j)), 1e-5, "U^T U [%lld][%lld] = %g", (long long)i, (long long)j, uu);
                cr_assert_lt(fabs(vv - (i == j)), 1e-5, "Vh Vh^T [%lld][%lld] = %g", (long long)i, (long long)j, vv);
            }
        }
        for (int64_t o = 0; o < a.rows; o++)
            for (int64_t i = 0; i < a.cols; i++) {
                double x = 0;
                for (int64_t j = 0; j < s->r; j++) x += (double)a.u[o * s->r + j] * a.s[j] * a.vh[j * a.cols + i];
                recon += (x - a.out[o * a.cols + i]) * (x - a.out[o * a.cols + i]);
            }
        cr_assert_lt(sqrt(recon), 1e-5, "case %zu: U diag(S) Vh != out (%g)", c, sqrt(recon));
        free(sv);
        mb_workload_free(&w);
    }
}

static struct mb_probe_series probe_run(const char *name, const char *params, int64_t d, const double *xs, int nx) {
    const struct mb_probe *probe = mb_probe_find(name);
    cr_assert_not_null(probe, "%s", name);
    struct mb_point base;
    memset(&base, 0, sizeof base);
    base.d = d;
    char err[256];
    cr_assert_eq(mb_params_parse_decls((const struct mb_param_decl *const[]){probe->params},
                                       (const int[]){probe->n_params}, 1, name, params, 0, &base, err, sizeof err),
                 0, "%s", err);
    struct mb_probe_series out;
    memset(&out, 0, sizeof out);
    cr_assert_eq(probe->run(probe, &base, xs, nx, 42, &out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(out.count, nx);
    return out;
}

Test(peft_svd, probe_svd_tail_measured_equals_predicted) {
    const double xs[] = {1, 5, 20, 40};
    struct mb_probe_series m = probe_run("svd_tail", "which=measured;trials=2", 48, xs, 4);
    struct mb_probe_series p = probe_run("svd_tail", "which=predicted;trials=2", 48, xs, 4);
    struct mb_probe_series q = probe_run("svd_tail", "which=ratio;trials=2", 48, xs, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_lt(fabs(q.y[i] - 1), 1e-5, "r = %g: ratio %.9g", xs[i], q.y[i]);
        cr_assert_lt(fabs(m.y[i] / p.y[i] - 1), 1e-5);
        /* s_i = 0.9^i: the tail from r on is 0.9^r sqrt((1 - 0.81^(48-r)) / (1 - 0.81^48)) */
        const double want = pow(0.9, xs[i]) * sqrt((1 - pow(0.81, 48 - xs[i])) / (1 - pow(0.81, 48)));
        cr_assert_lt(fabs(p.y[i] / want - 1), 1e-4, "r = %g: predicted %g, want %g", xs[i], p.y[i], want);
    }
    mb_probe_series_free(&m), mb_probe_series_free(&p), mb_probe_series_free(&q);
}

Test(peft_svd, probe_rank_sufficiency_plateaus_at_k) {
    const double xs[] = {1, 3, 4, 5, 12};
    struct mb_probe_series e = probe_run("rank_sufficiency", "k=4;noise=1e-3;trials=2", 64, xs, 5);
    cr_assert_gt(e.y[0], e.y[1]);
    cr_assert_gt(e.y[1], 0.05, "r = 3 < k: error %g", e.y[1]);
    cr_assert_lt(e.y[2], 1.0e-3, "r = k: error %g must be at most the noise", e.y[2]);
    cr_assert_gt(e.y[2], 5e-4);
    cr_assert_lt(e.y[4], e.y[2]);
    cr_assert_gt(e.y[4], 0.5 * e.y[2], "r > k only absorbs noise");
    struct mb_probe_series g = probe_run("rank_sufficiency", "k=4;noise=1e-3;which=gain;trials=2", 64, xs, 5);
    cr_assert_gt(g.y[2], 30, "gain at r = k: %g", g.y[2]);
    cr_assert_lt(g.y[3], 1.2, "gain past k: %g", g.y[3]);
    mb_probe_series_free(&e), mb_probe_series_free(&g);
}

Test(peft_svd, bad_rank_and_models) {
    const struct mb_kernel *k = mb_kernel_find("peft.svd.delta");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = 10, p.d = 20, p.rank = 11;
    char err[256];
    cr_assert_eq(mb_params_parse(k, "", 0, &p, err, sizeof err), 0);
    struct mb_workload w = {.family = k->family, .point = p};
    cr_assert_eq(k->family->layout(&w, err, sizeof err), -1);
    cr_assert(strstr(err, "rank r = 11") && strstr(err, "1..10"), "%s", err);
    /* m = 20, n = 10: 6 m n^2 + 20 n^3 + 2 d_out d_in r */
    p.rank = 3;
    cr_assert_float_eq(mb_kernel_flops(k, &p), 6.0 * 20 * 100 + 20.0 * 1000 + 2.0 * 10 * 20 * 3, 1e-6);
    const double xs[] = {65};
    const struct mb_probe *probe = mb_probe_find("svd_tail");
    struct mb_point base;
    memset(&base, 0, sizeof base);
    base.d = 64;
    cr_assert_eq(mb_params_parse_decls((const struct mb_param_decl *const[]){probe->params},
                                       (const int[]){probe->n_params}, 1, "svd_tail", "", 0, &base, err, sizeof err), 0);
    struct mb_probe_series out;
    memset(&out, 0, sizeof out);
    cr_assert_eq(probe->run(probe, &base, xs, 1, 1, &out, err, sizeof err), -1);
    cr_assert(strstr(err, "rank 65"), "%s", err);
}
