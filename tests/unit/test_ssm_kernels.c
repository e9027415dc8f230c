/* Every kernel of every ssm sub-family (one test per family named "ssm.*" in mb_families[], over mb_kernels[] filtered
 * by that family), whatever it is: against its
 * family's double-precision oracle at odd shapes (n = 1 included), threads 1 and 2, and every value of every enum or
 * bool parameter it declares (its family's and its own), one at a time; against the exact mechanism it approximates
 * when there is one; a corrupted output caught, with every row checked and with a sample of rows. A kernel added to
 * kernels/kernels.def is tested here without editing this file. The cross-form equalities of each sub-family are in
 * test_ssm_hippo.c, test_ssm_s4.c and test_ssm_rnn.c. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run/runner.h"

struct shape { /* as test_ssm_rnn.c's */
    int64_t batch, d, n, rank, heads;
};

/* odd sizes, n = 1, rank 1, a rank that is not a multiple of 16, several channels and heads; each family reads the
 * axes it reads (the others are zeroed) */
static const struct shape shapes[] = {
    {1, 1, 1, 1, 1},   {1, 3, 1, 16, 2},  {2, 3, 7, 4, 3},      {2, 3, 129, 16, 1}, {1, 5, 129, 33, 2},
    {1, 17, 300, 5, 1}, {1, 2, 1000, 32, 1}, {3, 16, 65, 17, 2}, {2, 3, 64, 1, 1},
};

/* The test parameter: one ssm sub-family, by name (Criterion copies parameters into the test's process). */
struct family_param {
    char name[32];
};

static int ssm_families(struct family_param *out, int max) {
    int count = 0;
    for (int f = 0; f < mb_n_families && count < max; f++)
        if (!strncmp(mb_families[f]->name, "ssm.", 4))
            snprintf(out[count++].name, sizeof out[0].name, "%s", mb_families[f]->name);
    return count;
}

#define MAX_FAMILIES 32

/* The point of k at shape s, chunk `block` (0 = auto), threads and params; the axes k does not read zeroed (its
 * family refuses them). Shared with test_ssm_rnn.c (the unit tests link into one binary). */
void ssm_test_point(const struct mb_kernel *k, const struct shape *s, int64_t block, int threads, const char *params,
                    struct mb_point *p) {
    memset(p, 0, sizeof *p);
    p->batch = s->batch;
    p->d = s->d;
    p->n = s->n;
    p->rank = s->rank;
    p->heads = s->heads;
    p->block = block;
    p->threads = threads;
    if (params) snprintf(p->params, sizeof p->params, "%.*s", (int)sizeof p->params - 1, params);
    mb_point_complete(k, p, MB_AXIS_BIT(batch) | MB_AXIS_BIT(d) | MB_AXIS_BIT(n) | MB_AXIS_BIT(rank) |
                                MB_AXIS_BIT(heads) | MB_AXIS_BIT(block));
    for (int a = 0; a < MB_AXIS_COUNT; a++)
        if (a != MB_AXIS_threads && !(k->axes & (UINT64_C(1) << a))) mb_point_set(p, (enum mb_axis)a, 0);
}

static void make_point(const struct mb_kernel *k, const struct shape *s, int threads, const char *params,
                       struct mb_point *p) {
    ssm_test_point(k, s, 0, threads, params, p);
}

/* The parameter variants of k: "key=value" for every value of every enum or bool parameter of its family and its
 * own, or the defaults ("") when it declares none. Returns the count. */
#define MAX_VARIANTS 32
static int variants_of(const struct mb_kernel *k, char out[MAX_VARIANTS][MB_PARAMS_LEN]) {
    const struct mb_param_decl *lists[2] = {k->family->params, k->params};
    const int counts[2] = {k->family->n_params, k->n_params};
    int count = 0;
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < counts[l]; i++) {
            const struct mb_param_decl *d = &lists[l][i];
            if (d->type == MB_PARAM_BOOL) {
                for (int v = 0; v <= 1 && count < MAX_VARIANTS; v++)
                    snprintf(out[count++], MB_PARAMS_LEN, "%s=%d", d->name, v);
            } else if (d->type == MB_PARAM_ENUM) {
                for (const char *v = d->values; *v && count < MAX_VARIANTS; v += strcspn(v, "|"), v += *v == '|') {
                    snprintf(out[count++], MB_PARAMS_LEN, "%s=%.*s", d->name, (int)strcspn(v, "|"), v);
                }
            }
        }
    if (count == 0) out[count++][0] = '\0';
    return count;
}

/* Create the workload of k at p (seed 7) and run k once. Returns 0 when k does not support p (with a reason). */
static int run_kernel(const struct mb_kernel *k, const struct mb_point *p, struct mb_workload *w) {
    char why[256] = "", err[256];
    if (mb_kernel_supports(k, p, why, sizeof why)) {
        cr_assert(why[0], "%s refused a point without a reason", k->name);
        return 0;
    }
    cr_assert_eq(mb_family_validate(k->family, p, err, sizeof err), 0, "%s: %s", k->name, err);
    cr_assert_eq(mb_workload_create(w, k->family, p, 7, err, sizeof err), 0, "%s: %s", k->name, err);
    cr_assert_eq(mb_run_once(k, w, err, sizeof err), 0, "%s: %s", k->name, err);
    return 1;
}

static void check(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism, int64_t sample_rows,
                  struct mb_errors *e) {
    char err[256];
    struct mb_check_opts co = {.sample_rows = sample_rows, .seed = 1};
    cr_assert_eq(k->family->check(k, w, mechanism, &co, e, err, sizeof err), 0, "%s: %s", k->name, err);
}

static double tolerance(const struct mb_kernel *k) {
    return k->tolerance > 0 ? k->tolerance : mb_family_mechanism(k->family, k->mechanism)->tolerance;
}

/* values the check compares when every row is checked: the whole output, or the last step of every sequence of a
 * decode kernel (MB_KERNEL_LAST_ROW) */
static int64_t expected_checked(const struct mb_kernel *k, const struct mb_workload *w) {
    const int64_t all = mb_tensor_numel(&w->outputs[0]);
    return (k->flags & MB_KERNEL_LAST_ROW) ? all / w->point.n : all;
}

ParameterizedTestParameters(ssm_kernels, every_kernel_matches_its_family_oracle) {
    static struct family_param families[MAX_FAMILIES];
    return cr_make_param_array(struct family_param, families, (size_t)ssm_families(families, MAX_FAMILIES));
}

ParameterizedTest(struct family_param *fam, ssm_kernels, every_kernel_matches_its_family_oracle) {
    int kernels = 0;
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strcmp(k->family->name, fam->name)) continue;
        kernels++;
        char variants[MAX_VARIANTS][MB_PARAMS_LEN];
        const int nv = variants_of(k, variants);
        int ran = 0; /* a variant may be refused at every shape (supports() says why): LegS with disc=zoh */
        for (int v = 0; v < nv; v++) {
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                for (int threads = 1; threads <= 2; threads++) {
                    struct mb_point p;
                    make_point(k, &shapes[s], threads, variants[v], &p);
                    struct mb_workload w;
                    if (!run_kernel(k, &p, &w)) { /* refused: only for a parameter value, never its defaults */
                        struct mb_point def;
                        make_point(k, &shapes[s], threads, NULL, &def);
                        char why[256];
                        cr_assert_eq(mb_kernel_supports(k, &def, why, sizeof why), 0, "%s refuses its defaults: %s",
                                     k->name, why);
                        continue;
                    }
                    ran++;
                    char at[200];
                    mb_point_format(&p, k->axes | MB_AXIS_BIT(threads), at, sizeof at);
                    struct mb_errors e;
                    check(k, &w, k->mechanism, 0, &e);
                    cr_assert_eq(e.checked, expected_checked(k, &w), "%s %s %s: checked %lld", k->name, at,
                                 variants[v], (long long)e.checked);
                    cr_assert(e.rel_l2 <= tolerance(k), "%s %s %s: rel_l2 %g > %g", k->name, at, variants[v],
                              e.rel_l2, tolerance(k));
                    if (k->approximates) {
                        check(k, &w, k->approximates, 0, &e);
                        cr_assert(e.checked > 0 && isfinite(e.rel_l2), "%s %s %s: vs %s: %lld checked, rel_l2 %g",
                                  k->name, at, variants[v], k->approximates, (long long)e.checked, e.rel_l2);
                    }
                    mb_workload_free(&w);
                }
        }
        cr_log_info("%s: %d runs over %d variants", k->name, ran, nv);
        cr_assert_gt(ran, 0, "%s ran at no shape", k->name);
    }
    cr_assert_gt(kernels, 0, "family %s has no kernel", fam->name);
}

/* A corrupted last element (the last step of the last sequence: checked by every check, sampled or not) is caught.
 * Sampled checks only for kernels that check every sequence: a decode kernel's sample of sequences is random. */
ParameterizedTestParameters(ssm_kernels, the_check_catches_a_wrong_output) {
    static struct family_param families[MAX_FAMILIES];
    return cr_make_param_array(struct family_param, families, (size_t)ssm_families(families, MAX_FAMILIES));
}

ParameterizedTest(struct family_param *fam, ssm_kernels, the_check_catches_a_wrong_output) {
    const struct shape s = {2, 3, 33, 8, 2};
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strcmp(k->family->name, fam->name)) continue;
        for (int64_t sample_rows = 0; sample_rows <= 4; sample_rows += 4) { /* all rows; 4: first and last */
            if (sample_rows && (k->flags & MB_KERNEL_LAST_ROW)) continue;
            struct mb_point p;
            make_point(k, &s, 1, NULL, &p);
            struct mb_workload w;
            cr_assert(run_kernel(k, &p, &w), "%s: the default variant must run", k->name);
            w.outputs[0].data[mb_tensor_numel(&w.outputs[0]) - 1] += 0.5f;
            struct mb_errors e;
            check(k, &w, k->mechanism, sample_rows, &e);
            cr_assert_gt(e.max_abs, 0.49, "%s (sample_rows %lld): a corrupted output went unnoticed", k->name,
                         (long long)sample_rows);
            cr_assert_gt(e.rel_l2, 1e-3, "%s", k->name);
            mb_workload_free(&w);
        }
    }
}
