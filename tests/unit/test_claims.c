/* Claims: the file format, expectations and verdicts, and the exactness claims (`equal`) run as ordinary tests. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/claims.h"
#include "analysis/probes.h"

static const char good[] =
    "; two claims\n"
    "[claim slope_demo]\n"
    "source = somebody 2020, Sec. 1\n"
    "statement = time grows as n^2\n"
    "paper = 2\n"
    "assert = slope\n"
    "kernels = attention.softmax.naive\n"
    "expect = 1.8..2.2\n"
    "n = 64:16384:x2\n" /* upper half: 1024..16384, 5 sizes */
    "d = 16\n"
    "repetitions = 3\n"
    "\n"
    "[claim cross_demo]\n"
    "source = s\n"
    "statement = t\n"
    "kind = description\n"
    "assert = crossover\n"
    "kernels = attention.softmax.naive, attention.linear.elu\n"
    "n = 32, 64\n";

Test(claims, parses_claims_and_defaults) {
    struct mb_claim_set set = {0};
    char err[512];
    cr_assert_eq(mb_claims_parse(good, "good.ini", &set, err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.count, 2);
    const struct mb_claim *a = &set.claims[0], *b = &set.claims[1];
    cr_assert_str_eq(a->id, "slope_demo");
    cr_assert_eq(a->assertion, MB_CLAIM_SLOPE);
    cr_assert_eq(a->expect.kind, MB_EXPECT_RANGE);
    cr_assert_float_eq(a->expect.lo, 1.8, 1e-12);
    cr_assert_float_eq(a->expect.hi, 2.2, 1e-12);
    cr_assert_str_eq(a->x, "n");
    cr_assert_str_eq(a->fit_range, "upper_half");
    cr_assert(strstr(a->sweep_ini, "repetitions = 3"));
    cr_assert(strstr(a->sweep_ini, "min_time = 0.02")); /* default added */
    cr_assert_eq(b->assertion, MB_CLAIM_CROSSOVER);
    cr_assert_eq(b->expect.kind, MB_EXPECT_EXISTS); /* crossover default */
    cr_assert_eq(a->kind, MB_CLAIM_REPRODUCTION);
    cr_assert_eq(b->kind, MB_CLAIM_DESCRIPTION);
    mb_claims_free(&set);
}

static void expect_error(const char *text, const char *needle) {
    struct mb_claim_set set = {0};
    char err[512] = "";
    cr_assert_eq(mb_claims_parse(text, "bad.ini", &set, err, sizeof err), -1, "accepted: %s", text);
    cr_assert(strstr(err, needle), "message '%s' lacks '%s'", err, needle);
    cr_assert(strstr(err, "bad.ini"), "message '%s' lacks the file name", err);
    cr_assert_eq(set.count, 0);
    mb_claims_free(&set);
}

Test(claims, rejects_bad_files_with_clear_messages) {
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = wobble\n", "assert = wobble");
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = slope\nkernels = x\nexpect = 2..1\n", "expect = 2..1");
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = slope\nkernels = x\nexpect = 1..2\ncolour = red\n",
                 "unknown key 'colour'");
    expect_error("[experiment]\nname = x\n", "unknown section");
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = ratio\nkernels = a, b\nexpect = <1\n", "at = X");
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = crossover\nkernels = a\n", "two kernels");
    expect_error("[claim a]\nsource = s\nassert = slope\nkernels = a\nexpect = 1..2\n", "missing statement");
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = slope\nkernels = a\nexpect = 1..2\nn = 0:x\n", "claim a");
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = value\nprobe = teleport\nexpect = 1..2\n", "unknown probe");
    /* a slope over fewer than 5 sizes, reported at the line of its x axis */
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = slope\nkernels = attention.softmax.naive\n"
                 "expect = 1..2\nn = 64:256:x2\n", "bad.ini:7");
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = slope\nkernels = attention.softmax.naive\n"
                 "expect = 1..2\nn = 64:1024:x2\n", "at least 5"); /* upper_half of 5 sizes: 3 */
    /* exists cannot fail: descriptions only */
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = crossover\nkernels = attention.softmax.naive, "
                 "attention.linear.elu\nn = 32, 64\n", "kind = description");
    expect_error("[claim a]\nsource = s\nstatement = t\nkind = maybe\n", "kind = maybe");
    /* the line of the error */
    expect_error("[claim a]\nsource = s\nstatement = t\nassert = slope\nkernels = a\nexpect = 1..2\nfit_range = middle\n",
                 "bad.ini:7");
}

Test(claims, expectations_and_verdicts) {
    struct mb_expect e;
    cr_assert_eq(mb_expect_parse("0..1", &e), 0);
    cr_assert_float_eq(e.lo, 0, 0);
    cr_assert_float_eq(e.hi, 1, 0);
    cr_assert_eq(mb_expect_parse("<0.5", &e), 0);
    cr_assert(isinf(e.lo) && e.hi == 0.5);
    cr_assert_eq(mb_expect_parse(">1", &e), 0);
    cr_assert(e.lo == 1 && isinf(e.hi));
    cr_assert_eq(mb_expect_parse("exists", &e), 0);
    cr_assert_eq(e.kind, MB_EXPECT_EXISTS);
    cr_assert_eq(mb_expect_parse("1..", &e), -1);
    cr_assert_eq(mb_expect_parse("about 2", &e), -1);
    mb_expect_parse("1.8..2.2", &e);
    struct mb_interval in = {.est = 2.0, .lo = 1.9, .hi = 2.1}, edge = {.est = 2.3, .lo = 2.1, .hi = 2.5},
                       out = {.est = 2.6, .lo = 2.4, .hi = 2.8}, nan = {.est = NAN, .lo = NAN, .hi = NAN};
    cr_assert_eq(mb_expect_judge(&e, &in), MB_CLAIM_REPRODUCED);
    cr_assert_eq(mb_expect_judge(&e, &edge), MB_CLAIM_INCONCLUSIVE);
    /* strict: an estimate inside with an interval reaching out is not reproduced (issue 14's 1.008 [0.994, 1.023]) */
    struct mb_expect gt1;
    mb_expect_parse(">1", &gt1);
    struct mb_interval straddle = {.est = 1.008, .lo = 0.994, .hi = 1.023}, above = {.est = 1.2, .lo = 1.01, .hi = 1.4},
                       below = {.est = 0.9, .lo = 0.85, .hi = 0.99};
    cr_assert_eq(mb_expect_judge(&gt1, &straddle), MB_CLAIM_INCONCLUSIVE);
    cr_assert_eq(mb_expect_judge(&gt1, &above), MB_CLAIM_REPRODUCED);
    cr_assert_eq(mb_expect_judge(&gt1, &below), MB_CLAIM_NOT_REPRODUCED);
    struct mb_expect lt;
    mb_expect_parse("<-0.5", &lt);
    struct mb_interval legs = {.est = -1.51, .lo = -2.83, .hi = -0.19}; /* issue 14: was "reproduced" */
    cr_assert_eq(mb_expect_judge(&lt, &legs), MB_CLAIM_INCONCLUSIVE);
    cr_assert_str_eq(mb_claim_verdict_text(MB_CLAIM_DESCRIPTION, MB_CLAIM_REPRODUCED), "holds");
    cr_assert_str_eq(mb_claim_verdict_text(MB_CLAIM_REPRODUCTION, MB_CLAIM_NOT_REPRODUCED), "not reproduced");
    cr_assert_eq(mb_expect_judge(&e, &out), MB_CLAIM_NOT_REPRODUCED);
    cr_assert_eq(mb_expect_judge(&e, &nan), MB_CLAIM_INCONCLUSIVE);
}

/* Run one claim from text into a temporary results directory. */
static void run_claim(const char *text, struct mb_claim_result **res, int *n) {
    struct mb_claim_set set = {0};
    char err[512], dir[] = "/tmp/mb-claims-test-XXXXXX", plot[256];
    cr_assert_eq(mb_claims_parse(text, "t.ini", &set, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(mkdtemp(dir));
    struct mb_claim_opts o = {.results_dir = dir, .plots_dir = "", .replicates = 200};
    *res = NULL;
    *n = 0;
    cr_assert_eq(mb_claim_run(&set.claims[0], &o, res, n, plot, sizeof plot, err, sizeof err), 0, "%s", err);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    mb_claims_free(&set);
}

Test(claims, efficient_attention_scaling_equals_dot_product, .timeout = 120) {
    struct mb_claim_result *r;
    int n;
    run_claim("[claim eq]\nsource = Shen 2018\nstatement = equal\nassert = equal\nkernels = attention.efficient_scaling\n"
              "metric = own_error\ntolerance = 1e-4\nn = 100, 1024\nd = 32, 64\ncheck_rows = 0\nrepetitions = 1\n"
              "min_time = 0.001\n",
              &r, &n);
    cr_assert_eq(n, 2); /* one result per d */
    for (int i = 0; i < n; i++) {
        cr_assert_eq(r[i].verdict, MB_CLAIM_REPRODUCED, "%s: %s %s", r[i].id, r[i].measured, r[i].reason);
        cr_assert(r[i].value.est < 1e-4);
    }
    free(r);
}

Test(claims, causal_linear_rnn_equals_chunked, .timeout = 120) {
    struct mb_claim_result *r;
    int n;
    run_claim("[claim eq2]\nsource = Katharopoulos 2020\nstatement = equal\nassert = equal\n"
              "kernels = attention.linear.elu_rnn, attention.linear.elu_chunked\ntolerance = 1e-4\nn = 1, 63, 200\n"
              "d = 16, 64\ncausal = 1\n",
              &r, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(r[0].verdict, MB_CLAIM_REPRODUCED, "%s %s", r[0].measured, r[0].reason);
    cr_assert(r[0].value.est < 1e-4);
    free(r);
}

Test(claims, unregistered_kernel_is_inconclusive_not_an_error) {
    struct mb_claim_result *r;
    int n;
    run_claim("[claim ghost]\nsource = s\nstatement = t\nassert = slope\nkernels = attention.does_not_exist\n"
              "expect = 1..2\nn = 64:1024:x2\nfit_range = all\n",
              &r, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(r[0].verdict, MB_CLAIM_INCONCLUSIVE);
    cr_assert(strstr(r[0].reason, "not registered"), "%s", r[0].reason);
    free(r);
}

Test(claims, probes_feed_the_assertions, .timeout = 120) {
    struct mb_claim_result *r;
    int n;
    /* rank of phi(Q) phi(K)^T is at most d: rank / d <= 1 exactly (double precision SVD) */
    run_claim("[claim rank]\nsource = s\nstatement = t\nassert = value\nprobe = spectrum\nvariants = matrix=linear\n"
              "expect = 0..1\nd = 4, 8\nn = 64\n",
              &r, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(r[0].verdict, MB_CLAIM_REPRODUCED, "%s", r[0].measured);
    cr_assert_float_eq(r[0].value.hi, 1.0, 1e-12);
    free(r);
    /* softmax attention with a sharp scale retrieves every pair */
    run_claim("[claim recall]\nsource = s\nstatement = t\nassert = value\nprobe = recall\nvariants = kernel=softmax\n"
              "expect = 0.99..1\nn = 8, 64\nd = 32\n",
              &r, &n);
    cr_assert_eq(r[0].verdict, MB_CLAIM_REPRODUCED, "%s", r[0].measured);
    free(r);
}

/* gau_params: 2 x params(GAU) / params(MHA + FFN) is the family's formula, 2 (3de + ds + 4s) / 12 d^2 */
Test(claims, gau_params_probe_is_the_parity_formula) {
    struct mb_point base;
    memset(&base, 0, sizeof base);
    const double xs[] = {256, 512};
    struct mb_probe_series ps;
    char err[256];
    cr_assert_eq(mb_probe_run("gau_params", &base, xs, 2, 42, &ps, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ps.count, 2);
    const double d = 512, e = 2 * d, s = 128;
    cr_assert_float_eq(ps.y[1], 2 * (3 * d * e + d * s + 4 * s) / (12 * d * d), 1e-12);
    cr_assert_float_eq(ps.y[1], 3277824.0 / 3145728.0, 1e-12); /* 1.0420 */
    cr_assert_float_eq(ps.y[0], 2 * (3 * 256.0 * 512 + 256.0 * 128 + 4 * 128) / (12 * 256.0 * 256), 1e-12);
    mb_probe_series_free(&ps);
    /* FLASH: 8s per-dim affine parameters; e and s from the point */
    snprintf(base.params, sizeof base.params, "mechanism=flash;e=2048");
    base.rank = 64;
    cr_assert_eq(mb_probe_run("gau_params", &base, xs + 1, 1, 42, &ps, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(ps.y[0], 2 * (3 * d * 2048 + d * 64 + 8 * 64) / (12 * d * d), 1e-12);
    mb_probe_series_free(&ps);
    snprintf(base.params, sizeof base.params, "mechanism=mamba");
    cr_assert_eq(mb_probe_run("gau_params", &base, xs, 1, 42, &ps, err, sizeof err), -1);
    cr_assert(strstr(err, "mechanism=mamba"), "%s", err);
}

/* legs_timescale: LegS's coefficients barely move under a time stretch; LegT's fixed window makes them move O(1) */
Test(claims, legs_timescale_probe_legs_small_legt_large, .timeout = 60) {
    struct mb_point base;
    memset(&base, 0, sizeof base);
    base.n = 2048;
    base.rank = 16;
    const double xs[] = {2, 4};
    struct mb_probe_series legs, legt;
    char err[256];
    snprintf(base.params, sizeof base.params, "measure=legs;trials=4");
    cr_assert_eq(mb_probe_run("legs_timescale", &base, xs, 2, 42, &legs, err, sizeof err), 0, "%s", err);
    snprintf(base.params, sizeof base.params, "measure=legt;trials=4");
    cr_assert_eq(mb_probe_run("legs_timescale", &base, xs, 2, 42, &legt, err, sizeof err), 0, "%s", err);
    cr_assert_eq(legs.count, 2);
    cr_assert_eq(legs.ns[0], 4);
    for (int i = 0; i < 2; i++) {
        cr_assert(legs.y[i] > 0 && legs.y[i] < 1e-2, "legs s = %g: %g", xs[i], legs.y[i]);
        cr_assert(legt.y[i] > 0.5, "legt s = %g: %g", xs[i], legt.y[i]);
    }
    mb_probe_series_free(&legs);
    mb_probe_series_free(&legt);
    /* s = 1: the very same computation, no difference at all */
    const double one = 1;
    snprintf(base.params, sizeof base.params, "measure=legs;trials=2");
    cr_assert_eq(mb_probe_run("legs_timescale", &base, &one, 1, 42, &legs, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(legs.y[0], 0, 0);
    mb_probe_series_free(&legs);
    snprintf(base.params, sizeof base.params, "measure=lagt");
    cr_assert_eq(mb_probe_run("legs_timescale", &base, xs, 1, 42, &legs, err, sizeof err), -1);
    cr_assert(strstr(err, "measure=lagt"), "%s", err);
    cr_assert_str_eq(mb_probe_x_axis("legs_timescale"), "scale");
    cr_assert_str_eq(mb_probe_x_axis("gau_params"), "d");
}
