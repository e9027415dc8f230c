/* GAU family: every kernel against the family's double-precision oracle at odd shapes (causal and not, threads 1
 * and 2), corrupted outputs caught, cross-form equalities (FLASH with one chunk and no linear part == GAU, padding
 * of the ragged chunk, alias), and the parameter budget of 2 GAU vs MHA+FFN. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gau/family.h"
#include "run/runner.h"

struct gshape {
    int64_t batch, n, d, causal, rank, block;
    const char *params;
};

static const struct gshape shapes[] = {
    {1, 1, 64, 0, 0, 0, ""},          {1, 1, 64, 1, 0, 0, ""},         {2, 7, 64, 0, 16, 3, "e=96"},
    {2, 7, 64, 1, 16, 3, "e=96"},     {1, 255, 64, 0, 32, 64, ""},     {1, 255, 64, 1, 32, 64, "norm=paper"},
    {1, 257, 128, 1, 0, 100, "e=64"}, {1, 257, 128, 0, 0, 100, "norm=paper"}, {1, 1000, 64, 0, 24, 256, "e=80"},
    {1, 1000, 64, 1, 24, 256, "e=80"}, {3, 33, 48, 1, 8, 1000, "e=50"}, {1, 65, 40, 0, 5, 1, "norm=paper;e=7"},
};

static void make_point(const struct mb_kernel *k, const struct gshape *s, int threads, struct mb_point *p) {
    memset(p, 0, sizeof *p);
    p->batch = s->batch, p->n = s->n, p->d = s->d, p->causal = s->causal, p->rank = s->rank, p->block = s->block;
    p->threads = threads;
    snprintf(p->params, sizeof p->params, "%s", s->params);
    mb_point_complete(k, p, MB_AXIS_BIT(rank) | MB_AXIS_BIT(block) | MB_AXIS_BIT(causal));
}

/* Run k at s; 0 if unsupported, else 1 with the errors against its oracle (all rows). */
static int run_and_check(const struct mb_kernel *k, const struct gshape *s, int threads, struct mb_errors *own,
                         int corrupt) {
    struct mb_point p;
    make_point(k, s, threads, &p);
    char why[256];
    if (mb_kernel_supports(k, &p, why, sizeof why)) return 0;
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_family_validate(k->family, &p, err, sizeof err), 0, "%s: %s", k->name, err);
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 7, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s: %s", k->name, err);
    if (corrupt) w.outputs[0].data[mb_tensor_numel(&w.outputs[0]) - 1] += 0.5f;
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, own, err, sizeof err), 0, "%s", err);
    mb_workload_free(&w);
    return 1;
}

Test(gau, every_kernel_matches_its_oracle_at_odd_shapes) {
    int kernels = 0;
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strcmp(k->family->name, "gau")) continue;
        kernels++;
        int ran = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int threads = 1; threads <= 2; threads++) {
                struct mb_errors own;
                if (!run_and_check(k, &shapes[s], threads, &own, 0)) {
                    cr_assert(!strcmp(k->name, "gau.mha_ffn") && shapes[s].d % 64, "%s refused shape %zu", k->name, s);
                    continue;
                }
                ran++;
                const struct mb_mechanism *m = mb_family_mechanism(k->family, k->mechanism);
                cr_assert_eq(own.checked, shapes[s].batch * shapes[s].n * shapes[s].d, "%s", k->name);
                cr_assert(own.rel_l2 <= m->tolerance, "%s b=%lld n=%lld d=%lld causal=%lld s=%lld c=%lld %s t=%d: "
                          "rel_l2 %g", k->name, (long long)shapes[s].batch, (long long)shapes[s].n,
                          (long long)shapes[s].d, (long long)shapes[s].causal, (long long)shapes[s].rank,
                          (long long)shapes[s].block, shapes[s].params, threads, own.rel_l2);
            }
        cr_assert_geq(ran, 20, "%s ran at only %d shapes", k->name, ran);
    }
    cr_assert_geq(kernels, 4, "glu_ffn, gau (alias flash_quad), flash, mha_ffn");
}

Test(gau, the_check_catches_a_wrong_output) {
    const struct gshape s = {1, 33, 64, 1, 16, 8, ""};
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strcmp(k->family->name, "gau")) continue;
        struct mb_errors own;
        cr_assert(run_and_check(k, &s, 1, &own, 1));
        cr_assert_gt(own.max_abs, 0.49, "%s: a corrupted output went unnoticed", k->name);
        cr_assert_gt(own.rel_l2, 1e-3, "%s", k->name);
    }
}

/* outputs of kernel `name` at s, optionally with gamma/beta rows 2 and 3 (the linear maps) zeroed */
static float *outputs(const char *name, const struct gshape *s, int zero_linear, int threads, int64_t *count) {
    const struct mb_kernel *k = mb_kernel_find(name);
    cr_assert_not_null(k, "%s", name);
    struct mb_point p;
    make_point(k, s, threads, &p);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 11, err, sizeof err), 0, "%s", err);
    if (zero_linear) {
        const int64_t sd = w.inputs[MB_GAU_GAMMA].shape[1];
        memset(w.inputs[MB_GAU_GAMMA].data + 2 * sd, 0, 2 * (size_t)sd * sizeof(float));
        memset(w.inputs[MB_GAU_BETA].data + 2 * sd, 0, 2 * (size_t)sd * sizeof(float));
    }
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    *count = mb_tensor_numel(&w.outputs[0]);
    float *out = malloc((size_t)*count * sizeof(float));
    memcpy(out, w.outputs[0].data, (size_t)*count * sizeof(float));
    mb_workload_free(&w);
    return out;
}

static double rel_diff(const float *a, const float *b, int64_t count) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < count; i++) num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), den += (double)b[i] * b[i];
    return sqrt(num / (den > 0 ? den : 1));
}

Test(gau, flash_with_one_chunk_and_no_linear_part_is_gau) {
    /* c = n: the local part is GAU's attention (su: relu(qk/sqrt s)^2 / c with c = n; paper: relu(qk/c)^2) */
    for (int causal = 0; causal <= 1; causal++)
        for (int paper = 0; paper <= 1; paper++) {
            const struct gshape s = {2, 77, 64, causal, 16, 77, paper ? "norm=paper" : ""};
            int64_t n1, n2;
            float *f = outputs("gau.flash", &s, 1, 2, &n1), *g = outputs("gau.gau", &s, 0, 1, &n2);
            cr_assert_eq(n1, n2);
            double r = rel_diff(f, g, n1);
            cr_assert_lt(r, 1e-5, "causal=%d paper=%d: flash(c=n, no linear) vs gau rel %g", causal, paper, r);
            free(f), free(g);
        }
}

Test(gau, flash_linear_part_matters_and_chunks_change_the_result) {
    const struct gshape a = {1, 100, 64, 1, 16, 100, ""}, b = {1, 100, 64, 1, 16, 30, ""};
    int64_t n1, n2, n3;
    /* causal with one chunk (a: c = n) has no global term: the exclusive prefix is empty */
    float *with = outputs("gau.flash", &b, 0, 1, &n1), *without = outputs("gau.flash", &b, 1, 1, &n2),
          *chunked = outputs("gau.flash", &a, 0, 1, &n3), *single = outputs("gau.flash", &a, 1, 1, &n3);
    cr_assert_eq(memcmp(chunked, single, (size_t)n3 * sizeof(float)), 0);
    cr_assert_gt(rel_diff(with, without, n1), 1e-3, "the global linear term must contribute: %g", rel_diff(with, without, n1));
    cr_assert_gt(rel_diff(with, chunked, n1), 1e-2, "the chunk size must change the mixed attention");
    free(with), free(without), free(chunked), free(single);
}

Test(gau, padding_the_ragged_chunk_does_not_change_the_real_tokens) {
    /* n = 150, c = 64: the last chunk has 22 tokens. Pad explicitly to 192 tokens of x = 0 (V = silu(0) = 0): with
     * the global part off (its denominator is n) the real tokens' outputs must not change. */
    const struct mb_kernel *k = mb_kernel_find("gau.flash");
    for (int causal = 0; causal <= 1; causal++) {
        const struct gshape s = {1, 150, 64, causal, 16, 64, ""}, sp = {1, 192, 64, causal, 16, 64, ""};
        int64_t count;
        float *real = outputs("gau.flash", &s, 1, 2, &count);
        struct mb_point p;
        make_point(k, &sp, 2, &p);
        struct mb_workload w;
        char err[256];
        cr_assert_eq(mb_workload_create(&w, k->family, &p, 11, err, sizeof err), 0, "%s", err);
        const int64_t sd = w.inputs[MB_GAU_GAMMA].shape[1];
        memset(w.inputs[MB_GAU_GAMMA].data + 2 * sd, 0, 2 * (size_t)sd * sizeof(float));
        memset(w.inputs[MB_GAU_BETA].data + 2 * sd, 0, 2 * (size_t)sd * sizeof(float));
        memset(w.inputs[MB_GAU_X].data + 150 * 64, 0, 42 * 64 * sizeof(float));
        /* same x for the real tokens: the fill of x is per tensor, independent of n only in its prefix */
        struct mb_workload w0;
        struct mb_point p0;
        make_point(k, &s, 2, &p0);
        cr_assert_eq(mb_workload_create(&w0, k->family, &p0, 11, err, sizeof err), 0, "%s", err);
        memcpy(w.inputs[MB_GAU_X].data, w0.inputs[MB_GAU_X].data, 150 * 64 * sizeof(float));
        for (int t = MB_GAU_W_U; t < MB_GAU_N_INPUTS; t++)
            memcpy(w.inputs[t].data, w0.inputs[t].data, (size_t)mb_tensor_numel(&w0.inputs[t]) * sizeof(float));
        memset(w.inputs[MB_GAU_GAMMA].data + 2 * sd, 0, 2 * (size_t)sd * sizeof(float));
        memset(w.inputs[MB_GAU_BETA].data + 2 * sd, 0, 2 * (size_t)sd * sizeof(float));
        mb_workload_free(&w0);
        cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
        double r = rel_diff(w.outputs[0].data, real, count);
        cr_assert_lt(r, 1e-6, "causal=%d: padded vs ragged rel %g", causal, r);
        /* and the padded tokens' outputs are 0 (U = silu(0) = 0) */
        for (int64_t i = count; i < 192 * 64; i++) cr_assert_eq(w.outputs[0].data[i], 0.0f);
        mb_workload_free(&w);
        free(real);
    }
}

Test(gau, flash_quad_is_an_alias_of_gau) {
    const struct gshape s = {1, 50, 64, 1, 16, 0, ""};
    int64_t n1, n2;
    float *a = outputs("gau.flash_quad", &s, 0, 1, &n1), *b = outputs("gau.gau", &s, 0, 1, &n2);
    cr_assert_eq(memcmp(a, b, (size_t)n1 * sizeof(float)), 0);
    cr_assert_eq(mb_kernel_find("gau.flash_quad"), mb_kernel_find("gau.gau"), "the alias resolves to the kernel");
    const struct mb_kernel *found[8];
    cr_assert_eq(mb_kernel_match("gau.flash_quad, gau.gau", found, 8), 1, "an alias is measured once");
    cr_assert_eq(mb_kernel_match("gau.flash_q*", found, 8), 1, "globs match aliases");
    cr_assert_str_eq(found[0]->name, "gau.gau");
    free(a), free(b);
}

Test(gau, the_two_normalisations_differ) {
    const struct gshape su = {1, 40, 64, 0, 16, 0, "norm=su"}, paper = {1, 40, 64, 0, 16, 0, "norm=paper"};
    int64_t n1, n2;
    float *a = outputs("gau.gau", &su, 0, 1, &n1), *b = outputs("gau.gau", &paper, 0, 1, &n2);
    cr_assert_gt(rel_diff(a, b, n1), 0.1);
    free(a), free(b);
}

Test(gau, causal_outputs_do_not_depend_on_future_tokens_within_the_layer) {
    /* GAU causal: A_ij = 0 for j > i, but /n: so changing a future token's x must leave earlier rows unchanged */
    const struct mb_kernel *k = mb_kernel_find("gau.gau");
    const struct gshape s = {1, 60, 64, 1, 16, 0, ""};
    struct mb_point p;
    make_point(k, &s, 2, &p);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 5, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    float *before = malloc(60 * 64 * sizeof(float));
    memcpy(before, w.outputs[0].data, 60 * 64 * sizeof(float));
    for (int c = 0; c < 64; c++) w.inputs[MB_GAU_X].data[59 * 64 + c] += 3.0f;
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    cr_assert_eq(memcmp(before, w.outputs[0].data, 59 * 64 * sizeof(float)), 0);
    cr_assert_neq(memcmp(before + 59 * 64, w.outputs[0].data + 59 * 64, 64 * sizeof(float)), 0);
    free(before);
    mb_workload_free(&w);
}

Test(gau, parameter_budget_two_gau_vs_mha_ffn) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.d = 512, p.rank = 128, p.n = 1, p.batch = 1;
    char perr[160];
    cr_assert_eq(mb_params_parse(mb_kernel_find("gau.gau"), "e=1024", 0, &p, perr, sizeof perr), 0, "%s", perr);
    const double gau = mb_gau_param_count("gau", &p), mha = mb_gau_param_count("mha_ffn", &p);
    cr_assert_eq(gau, 3.0 * 512 * 1024 + 512 * 128 + 4 * 128);
    cr_assert_eq(mha, 12.0 * 512 * 512);
    cr_assert_lt(fabs(2 * gau / mha - 1), 0.05, "2 GAU = %g, MHA+FFN = %g", 2 * gau, mha);
    /* the counts equal the sizes of the tensors each block uses */
    struct mb_workload w;
    memset(&w, 0, sizeof w);
    w.point = p;
    char err[128];
    cr_assert_eq(mb_family_gau.layout(&w, err, sizeof err), 0, "%s", err);
    double t_gau = 0, t_mha = 0;
    for (int t = MB_GAU_W_U; t <= MB_GAU_W_O; t++) t_gau += (double)mb_tensor_numel(&w.inputs[t]);
    t_gau += 4 * 128; /* gamma, beta rows 0 and 1 */
    for (int t = MB_GAU_W_Q; t <= MB_GAU_W_2; t++) t_mha += (double)mb_tensor_numel(&w.inputs[t]);
    cr_assert_eq(gau, t_gau);
    cr_assert_eq(mha, t_mha);
    cr_assert_eq(mb_gau_param_count("flash", &p), gau + 4 * 128);
}

Test(gau, bad_params_are_refused) {
    const struct mb_kernel *k = mb_kernel_find("gau.gau");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    char err[160];
    cr_assert_eq(mb_params_parse(k, "norm=softmax", 0, &p, err, sizeof err), -1);
    cr_assert(strstr(err, "norm=softmax") && strstr(err, "su, paper"), "%s", err);
    cr_assert_eq(mb_params_parse(k, "e=-1", 0, &p, err, sizeof err), -1);
    cr_assert(strstr(err, "e=-1"), "%s", err);
}

Test(gau, sampled_check_includes_the_edge_rows) {
    const struct mb_kernel *k = mb_kernel_find("gau.flash");
    const struct gshape s = {2, 300, 64, 1, 16, 64, ""};
    struct mb_point p;
    make_point(k, &s, 2, &p);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 3, err, sizeof err), 0);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0);
    w.outputs[0].data[mb_tensor_numel(&w.outputs[0]) - 1] += 1.0f;
    struct mb_check_opts co = {.sample_rows = 5, .seed = 9};
    struct mb_errors e;
    cr_assert_eq(k->family->check(k, &w, "flash", &co, &e, err, sizeof err), 0, "%s", err);
    cr_assert_gt(e.max_abs, 0.99);
    cr_assert_eq(e.checked, 5 * 64);
    mb_workload_free(&w);
}

Test(gau, mha_ffn_refuses_d_not_multiple_of_64) {
    const struct mb_kernel *k = mb_kernel_find("gau.mha_ffn");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.d = 100;
    char why[128] = "";
    cr_assert_eq(mb_kernel_supports(k, &p, why, sizeof why), 1);
    cr_assert(strstr(why, "64"), "%s", why);
}
