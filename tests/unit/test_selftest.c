/* selftest family: every registered selftest kernel against its closed-form oracle at odd sizes and n = 1; the
 * declared work changes the model exactly; a wrong output is caught. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/mechbench.h"
#include "run/runner.h"

static struct mb_errors run(const struct mb_kernel *k, int64_t n, const char *params, int threads, int tamper) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = n;
    p.threads = threads;
    char err[256];
    cr_assert_eq(mb_params_parse(k, params, 0, &p, err, sizeof err), 0, "%s", err);
    mb_point_complete(k, &p, 0);
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 11, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    if (tamper) w.outputs[0].data[n - 1] += 0.01f;
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    struct mb_errors e;
    cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, &e, err, sizeof err), 0, "%s", err);
    mb_workload_free(&w);
    return e;
}

Test(selftest, every_kernel_matches_its_oracle) {
    const int64_t ns[] = {1, 7, 1001};
    const char *works[] = {"work=1", "work=3", "work=1000", ""};
    int kernels = 0;
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strcmp(k->family->name, "selftest")) continue;
        kernels++;
        const double tol = mb_family_mechanism(k->family, k->mechanism)->tolerance;
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t b = 0; b < sizeof works / sizeof works[0]; b++)
                for (int t = 1; t <= 2; t++) {
                    struct mb_errors e = run(k, ns[a], works[b], t, 0);
                    cr_assert_eq(e.checked, ns[a]);
                    cr_assert_leq(e.rel_l2, tol, "%s n=%lld %s: %g", k->name, (long long)ns[a], works[b], e.rel_l2);
                }
        cr_assert_gt(run(k, 64, "work=5", 1, 1).rel_l2, tol, "%s: a wrong output must fail", k->name);
    }
    cr_assert_geq(kernels, 1);
}

Test(selftest, work_scales_the_model_exactly) {
    const struct mb_kernel *k = mb_kernel_find("selftest.affine_chain");
    struct mb_point a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.n = b.n = 100;
    char err[128];
    cr_assert_eq(mb_params_parse(k, "work=10", 0, &a, err, sizeof err), 0);
    cr_assert_eq(mb_params_parse(k, "work=40", 0, &b, err, sizeof err), 0);
    cr_assert_float_eq(mb_kernel_flops(k, &b), 4 * mb_kernel_flops(k, &a), 1e-9);
    cr_assert_float_eq(mb_kernel_flops(k, &a), 2.0 * 100 * 10, 1e-9);
    cr_assert_str_eq(a.params, "work=10");
    cr_assert_eq(mb_params_parse(k, "work=0", 0, &a, err, sizeof err), -1);
}
