/* vision families of kernels/vision/family_conv.c and family_pool.c: transposed convolution (both forms) against the
 * double oracle and against each other at odd shapes (H = 1, odd H/W, groups > 1, dilation 2, output_padding 1,
 * stride 3, padding past dil (k - 1)), a hand-computed case, refusals; the sub-pixel convolution against its oracle
 * and against the transposed convolution with kernel r k, stride r under the exact weight mapping; max pooling with
 * indices (ties, NaN, -inf, ceil_mode, dilation) and unpooling; the checkerboard probe's overlap ratios. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mechbench.h"
#include "run/runner.h"
#include "vision/family_conv.h"
#include "vision/family_pool.h"

/* ------------------------------------------------------------------------------------------ helpers */
struct ct {
    int64_t batch, c_in, c_out, h, w, k, stride, pad, out_pad, groups, dil;
};

static const struct ct ct_shapes[] = {
    {1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1},   /* everything 1 */
    {1, 3, 5, 1, 7, 3, 2, 0, 0, 1, 1},   /* H = 1 */
    {2, 4, 6, 5, 7, 4, 2, 1, 0, 2, 1},   /* groups 2, DCGAN's k = 4, s = 2, p = 1 */
    {1, 3, 2, 6, 5, 3, 2, 1, 1, 1, 1},   /* output_padding 1 */
    {1, 6, 9, 4, 3, 3, 3, 2, 2, 3, 2},   /* stride 3, dilation 2, groups 3, output_padding 2 */
    {1, 5, 4, 7, 9, 2, 3, 0, 1, 1, 2},   /* output_padding 1 < dilation 2, stride 3 */
    {1, 2, 3, 5, 5, 3, 1, 3, 0, 1, 1},   /* padding 3 > dil (k - 1) = 2: the zero-insertion form crops */
    {3, 4, 4, 9, 4, 5, 2, 2, 1, 4, 1},   /* depthwise-like: groups = C_in = C_out */
};

static struct mb_point ct_point(const struct mb_kernel *k, const struct ct *s, int threads) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = s->batch, p.channels = s->c_in, p.height = s->h, p.width = s->w, p.ksize = s->k, p.scale = 1;
    p.threads = threads;
    char params[160], err[256];
    snprintf(params, sizeof params, "out_channels=%lld;stride=%lld;padding=%lld;output_padding=%lld;groups=%lld;"
             "dilation=%lld", (long long)s->c_out, (long long)s->stride, (long long)s->pad, (long long)s->out_pad,
             (long long)s->groups, (long long)s->dil);
    cr_assert_eq(mb_params_parse(k, params, 0, &p, err, sizeof err), 0, "%s", err);
    mb_point_complete(k, &p, 0);
    return p;
}

/* Run k on the workload w (created by the caller), returning the error against the family's oracle. */
static struct mb_errors run_and_check(const struct mb_kernel *k, struct mb_workload *w, int tamper) {
    char err[256];
    cr_assert_eq(mb_run_once(k, w, err, sizeof err), 0, "%s: %s", k->name, err);
    if (tamper) w->outputs[0].data[mb_tensor_numel(&w->outputs[0]) / 2] += 0.25f;
    struct mb_errors e;
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, w, k->mechanism, &co, &e, err, sizeof err), 0, "%s", err);
    return e;
}

static double rel_diff(const float *a, const float *b, int64_t count) {
    double d = 0, r = 0;
    for (int64_t i = 0; i < count; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r += (double)b[i] * b[i];
    return sqrt(d / (r > 0 ? r : 1));
}

/* ------------------------------------------------------------------------------------------ transposed convolution */
Test(vision_conv, both_forms_match_the_oracle_and_each_other_at_odd_shapes) {
    const struct mb_kernel *scatter = mb_kernel_find("vision.conv_transpose2d.scatter");
    const struct mb_kernel *zero = mb_kernel_find("vision.conv_transpose2d.zero_insert");
    cr_assert(scatter && zero);
    for (size_t i = 0; i < sizeof ct_shapes / sizeof ct_shapes[0]; i++)
        for (int threads = 1; threads <= 2; threads++) {
            const struct mb_point p = ct_point(scatter, &ct_shapes[i], threads);
            char err[256];
            struct mb_workload a, b;
            cr_assert_eq(mb_workload_create(&a, scatter->family, &p, 11, err, sizeof err), 0, "%s", err);
            cr_assert_eq(mb_workload_create(&b, zero->family, &p, 11, err, sizeof err), 0, "%s", err);
            const struct mb_errors ea = run_and_check(scatter, &a, 0), eb = run_and_check(zero, &b, 0);
            const int64_t count = mb_tensor_numel(&a.outputs[0]);
            cr_assert_eq(ea.checked, count, "shape %zu: every row checked", i);
            cr_assert_leq(ea.rel_l2, 1e-6, "scatter, shape %zu, %d threads: rel_l2 %g", i, threads, ea.rel_l2);
            cr_assert_leq(eb.rel_l2, 1e-6, "zero_insert, shape %zu, %d threads: rel_l2 %g", i, threads, eb.rel_l2);
            cr_assert_leq(rel_diff(a.outputs[0].data, b.outputs[0].data, count), 1e-6, "shape %zu: forms differ", i);
            mb_workload_free(&a);
            mb_workload_free(&b);
        }
}

Test(vision_conv, output_size_follows_pytorch) {
    const struct mb_kernel *k = mb_kernel_find("vision.conv_transpose2d.scatter");
    const struct ct s = {1, 6, 9, 4, 3, 3, 3, 2, 2, 3, 2};
    const struct mb_point p = ct_point(k, &s, 1);
    struct mb_convt_shape cs;
    cr_assert_eq(mb_convt_shape(&p, &cs, NULL, 0), 0);
    /* (H - 1) s - 2 p + dil (k - 1) + output_padding + 1 */
    cr_assert_eq(cs.h_out, 3 * 3 - 4 + 2 * 2 + 2 + 1);
    cr_assert_eq(cs.w_out, 2 * 3 - 4 + 2 * 2 + 2 + 1);
}

/* x = [[1, 2], [3, 4]], W = [[1, 10], [100, 1000]], s = 2, p = 0: every input pixel stamps x W into its own 2 x 2
   block; bias 0.5. */
Test(vision_conv, hand_computed_stride_2_tiles_the_kernel) {
    const struct mb_kernel *kernels[] = {mb_kernel_find("vision.conv_transpose2d.scatter"),
                                         mb_kernel_find("vision.conv_transpose2d.zero_insert")};
    const struct ct s = {1, 1, 1, 2, 2, 2, 2, 0, 0, 1, 1};
    for (int i = 0; i < 2; i++) {
        const struct mb_point p = ct_point(kernels[i], &s, 1);
        char err[256];
        struct mb_workload w;
        cr_assert_eq(mb_workload_create(&w, kernels[i]->family, &p, 1, err, sizeof err), 0, "%s", err);
        const float x[4] = {1, 2, 3, 4}, wt[4] = {1, 10, 100, 1000};
        memcpy(w.inputs[0].data, x, sizeof x);
        memcpy(w.inputs[1].data, wt, sizeof wt);
        w.inputs[2].data[0] = 0.5f;
        cr_assert_eq(mb_run_once(kernels[i], &w, err, sizeof err), 0, "%s", err);
        const float want[16] = {1.5, 10.5, 2.5, 20.5, 100.5, 1000.5, 200.5, 2000.5,
                                3.5, 30.5, 4.5, 40.5, 300.5, 3000.5, 400.5, 4000.5};
        for (int j = 0; j < 16; j++) cr_assert_eq(w.outputs[0].data[j], want[j], "%s [%d]", kernels[i]->name, j);
        mb_workload_free(&w);
    }
}

Test(vision_conv, a_wrong_output_is_caught) {
    const struct mb_kernel *k = mb_kernel_find("vision.conv_transpose2d.zero_insert");
    const struct mb_point p = ct_point(k, &ct_shapes[2], 1);
    char err[256];
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 3, err, sizeof err), 0, "%s", err);
    const struct mb_errors e = run_and_check(k, &w, 1);
    cr_assert_gt(e.max_abs, 0.2);
    cr_assert_gt(e.rel_l2, 1e-4);
    mb_workload_free(&w);
}

static void refused(struct mb_convt_shape s, const char *needle) {
    char err[256] = "";
    cr_assert_eq(mb_convt_shape_check(&s, err, sizeof err), -1, "expected a refusal naming %s", needle);
    cr_assert(strstr(err, needle), "'%s' does not name %s", err, needle);
    cr_assert_null(strchr(err, '\n'), "one line: %s", err);
}

Test(vision_conv, bad_shapes_are_refused_with_one_line) {
    const struct mb_convt_shape ok = {.batch = 1, .c_in = 4, .c_out = 6, .groups = 2, .h = 5, .w = 5, .k = 3,
                                      .stride = 2, .pad = 1, .out_pad = 1, .dil = 1};
    struct mb_convt_shape s = ok;
    char err[256];
    cr_assert_eq(mb_convt_shape_check(&s, err, sizeof err), 0, "%s", err);
    s = ok, s.out_pad = 2; /* >= stride 2 and >= dilation 1 */
    refused(s, "output_padding = 2");
    s = ok, s.out_pad = 2, s.dil = 3; /* smaller than dilation: allowed, as PyTorch */
    cr_assert_eq(mb_convt_shape_check(&s, err, sizeof err), 0, "%s", err);
    s = ok, s.groups = 3;
    refused(s, "groups = 3");
    s = ok, s.c_out = 5;
    refused(s, "C_out = 5");
    s = ok, s.h = 0;
    refused(s, "H = 0");
    s = ok, s.pad = 9;
    refused(s, "padding = 9");
}

/* ------------------------------------------------------------------------------------------ sub-pixel convolution */
struct sp {
    int64_t batch, c_in, c_out, h, w, k, r;
};
static const struct sp sp_shapes[] = {
    {1, 1, 1, 1, 1, 1, 1}, {1, 3, 2, 1, 5, 3, 2}, {2, 4, 3, 7, 5, 3, 3}, {1, 5, 1, 6, 9, 5, 2}, {1, 2, 4, 3, 4, 1, 4},
};

static struct mb_point sp_point(const struct mb_kernel *k, const struct sp *s, int threads) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = s->batch, p.channels = s->c_in, p.height = s->h, p.width = s->w, p.ksize = s->k, p.scale = s->r;
    p.threads = threads;
    char params[64], err[256];
    snprintf(params, sizeof params, "out_channels=%lld", (long long)s->c_out);
    cr_assert_eq(mb_params_parse(k, params, 0, &p, err, sizeof err), 0, "%s", err);
    mb_point_complete(k, &p, 0);
    return p;
}

Test(vision_subpixel, matches_the_oracle_at_odd_shapes) {
    const struct mb_kernel *k = mb_kernel_find("vision.subpixel_conv.im2col");
    cr_assert_not_null(k);
    for (size_t i = 0; i < sizeof sp_shapes / sizeof sp_shapes[0]; i++)
        for (int threads = 1; threads <= 2; threads++) {
            const struct mb_point p = sp_point(k, &sp_shapes[i], threads);
            char err[256];
            struct mb_workload w;
            cr_assert_eq(mb_workload_create(&w, k->family, &p, 5, err, sizeof err), 0, "%s", err);
            const struct mb_errors e = run_and_check(k, &w, 0);
            cr_assert_eq(e.checked, mb_tensor_numel(&w.outputs[0]));
            cr_assert_leq(e.rel_l2, 1e-6, "shape %zu, %d threads: rel_l2 %g", i, threads, e.rel_l2);
            mb_workload_free(&w);
        }
    const struct mb_point p = sp_point(k, &sp_shapes[2], 1);
    char err[256];
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 5, err, sizeof err), 0, "%s", err);
    cr_assert_gt(run_and_check(k, &w, 1).max_abs, 0.2, "a wrong output must be caught");
    mb_workload_free(&w);
}

/* The exact weight mapping (derived in family_conv.h, mb_subpixel_to_convt_weight), for both forms. */
Test(vision_subpixel, equals_transposed_conv_with_kernel_rk_stride_r) {
    const struct mb_kernel *sub = mb_kernel_find("vision.subpixel_conv.im2col");
    const struct mb_kernel *forms[] = {mb_kernel_find("vision.conv_transpose2d.scatter"),
                                       mb_kernel_find("vision.conv_transpose2d.zero_insert")};
    const struct sp cases[] = {{1, 3, 2, 5, 7, 3, 2}, {2, 4, 3, 6, 5, 3, 3}, {1, 2, 2, 4, 4, 1, 4},
                               {1, 3, 1, 7, 6, 5, 2}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const struct sp *s = &cases[ci];
        const int64_t r = s->r, k = s->k, kk = r * k;
        char err[256];
        struct mb_workload ws;
        const struct mb_point ps = sp_point(sub, s, 1);
        cr_assert_eq(mb_workload_create(&ws, sub->family, &ps, 9, err, sizeof err), 0, "%s", err);
        float *bias = ws.inputs[2].data;
        for (int64_t c = 0; c < s->c_out; c++) /* phase-constant bias */
            for (int64_t m = 0; m < r * r; m++) bias[c * r * r + m] = bias[c * r * r];
        cr_assert_eq(mb_run_once(sub, &ws, err, sizeof err), 0, "%s", err);
        for (int f = 0; f < 2; f++) {
            const struct ct t = {s->batch, s->c_in, s->c_out, s->h, s->w, kk, r, r * (k - 1) / 2, 0, 1, 1};
            const struct mb_point pt = ct_point(forms[f], &t, 2);
            struct mb_workload wt;
            cr_assert_eq(mb_workload_create(&wt, forms[f]->family, &pt, 9, err, sizeof err), 0, "%s", err);
            memcpy(wt.inputs[0].data, ws.inputs[0].data, (size_t)mb_tensor_numel(&ws.inputs[0]) * sizeof(float));
            struct mb_subpixel_shape shape;
            cr_assert_eq(mb_subpixel_shape(&ps, &shape, err, sizeof err), 0, "%s", err);
            float *wtr = wt.inputs[1].data;
            mb_subpixel_to_convt_weight(&shape, ws.inputs[1].data, wtr);
            for (int64_t c = 0; c < s->c_out; c++) wt.inputs[2].data[c] = bias[c * r * r];
            cr_assert_eq(mb_run_once(forms[f], &wt, err, sizeof err), 0, "%s", err);
            cr_assert_eq(mb_tensor_numel(&wt.outputs[0]), mb_tensor_numel(&ws.outputs[0]));
            const double d = rel_diff(wt.outputs[0].data, ws.outputs[0].data, mb_tensor_numel(&ws.outputs[0]));
            cr_assert_leq(d, 1e-6, "%s, case %zu: rel diff %g", forms[f]->name, ci, d);
            /* the FLOP models: the scatter form does the sub-pixel layer's multiplications, zero insertion r^2 x */
            const double ratio = mb_kernel_flops(forms[f], &pt) / mb_kernel_flops(sub, &ps);
            cr_assert_float_eq(ratio, f == 0 ? 1.0 : (double)(r * r), 1e-9, "%s: FLOP ratio %g", forms[f]->name, ratio);
            /* the mapping has teeth: a tap moved by one phase breaks the equality */
            if (r > 1 && f == 0) {
                const float keep = wtr[0];
                wtr[0] = wtr[1], wtr[1] = keep;
                cr_assert_eq(mb_run_once(forms[f], &wt, err, sizeof err), 0, "%s", err);
                cr_assert_gt(rel_diff(wt.outputs[0].data, ws.outputs[0].data, mb_tensor_numel(&ws.outputs[0])), 1e-4);
            }
            mb_workload_free(&wt);
        }
        mb_workload_free(&ws);
    }
}

Test(vision_subpixel, even_kernel_is_refused) {
    const struct mb_kernel *k = mb_kernel_find("vision.subpixel_conv.im2col");
    struct sp s = {1, 2, 2, 4, 4, 4, 2};
    const struct mb_point p = sp_point(k, &s, 1);
    char err[256];
    struct mb_subpixel_shape sh;
    cr_assert_eq(mb_subpixel_shape(&p, &sh, err, sizeof err), -1);
    cr_assert(strstr(err, "kernel_size = 4"), "%s", err);
}

/* ------------------------------------------------------------------------------------------ pooling */
struct pl {
    int64_t batch, c, h, w, k, stride, pad, dil;
    int ceil;
};
static const struct pl pool_shapes[] = {
    {1, 1, 1, 1, 1, 1, 0, 1, 0}, {1, 2, 1, 7, 1, 2, 0, 1, 0}, {2, 3, 7, 9, 3, 2, 1, 1, 0}, {1, 2, 7, 9, 3, 2, 1, 1, 1},
    {1, 1, 11, 10, 3, 3, 1, 2, 1}, {2, 2, 6, 5, 2, 0, 0, 1, 1}, {1, 3, 9, 9, 4, 1, 2, 2, 0},
};

static struct mb_point pool_point(const struct mb_kernel *k, const struct pl *s, int threads) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = s->batch, p.channels = s->c, p.height = s->h, p.width = s->w, p.ksize = s->k, p.threads = threads;
    char params[128], err[256];
    snprintf(params, sizeof params, "stride=%lld;padding=%lld;dilation=%lld;ceil_mode=%d", (long long)s->stride,
             (long long)s->pad, (long long)s->dil, s->ceil);
    cr_assert_eq(mb_params_parse(k, params, 0, &p, err, sizeof err), 0, "%s", err);
    mb_point_complete(k, &p, 0);
    return p;
}

Test(vision_pool, max_pool_matches_the_oracle_values_and_indices) {
    const struct mb_kernel *k = mb_kernel_find("vision.max_pool2d.indices");
    cr_assert_not_null(k);
    for (size_t i = 0; i < sizeof pool_shapes / sizeof pool_shapes[0]; i++)
        for (int threads = 1; threads <= 2; threads++) {
            const struct mb_point p = pool_point(k, &pool_shapes[i], threads);
            char err[256];
            struct mb_workload w;
            cr_assert_eq(mb_workload_create(&w, k->family, &p, 4, err, sizeof err), 0, "%s", err);
            const struct mb_errors e = run_and_check(k, &w, 0);
            cr_assert_eq(e.checked, mb_tensor_numel(&w.outputs[0]));
            cr_assert_eq(e.rel_l2, 0, "shape %zu: rel_l2 %g", i, e.rel_l2);
            mb_workload_free(&w);
        }
}

Test(vision_pool, output_sizes_follow_pytorch) {
    cr_assert_eq(mb_pool_out_size(7, 3, 1, 2, 1, 0), 4);
    cr_assert_eq(mb_pool_out_size(6, 2, 0, 2, 1, 1), 3);
    cr_assert_eq(mb_pool_out_size(5, 2, 0, 2, 1, 1), 3);  /* ceil: a last window starting inside */
    cr_assert_eq(mb_pool_out_size(5, 2, 1, 2, 1, 1), 3);  /* ... but not at H + p: 4 -> 3 */
    cr_assert_eq(mb_pool_out_size(11, 3, 1, 3, 2, 1), 4);
    cr_assert_eq(mb_pool_out_size(1, 1, 0, 1, 1, 0), 1);
}

/* A 1-channel 4 x 4 plane pooled 2 x 2, stride 2, given values: ties, NaN, -inf. */
static void pool_plane(const float in[16], float values[4], float indices[4]) {
    const struct mb_kernel *k = mb_kernel_find("vision.max_pool2d.indices");
    const struct pl s = {1, 1, 4, 4, 2, 2, 0, 1, 0};
    const struct mb_point p = pool_point(k, &s, 1);
    char err[256];
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 1, err, sizeof err), 0, "%s", err);
    memcpy(w.inputs[0].data, in, 16 * sizeof(float));
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    memcpy(values, w.outputs[0].data, 4 * sizeof(float));
    memcpy(indices, w.outputs[1].data, 4 * sizeof(float));
    mb_workload_free(&w);
}

Test(vision_pool, ties_keep_the_first_and_nan_wins_as_pytorch) {
    const float nan = NAN, inf = INFINITY;
    /* windows: top-left {0,1,4,5}, top-right {2,3,6,7}, bottom-left {8,9,12,13}, bottom-right {10,11,14,15} */
    const float in[16] = {7, 7, nan, 1, 7, 7, 2, nan, -inf, -inf, 3, 5, -inf, -inf, nan, 5};
    float v[4], idx[4];
    pool_plane(in, v, idx);
    cr_assert_eq(v[0], 7);      /* a tie: the first in scan order */
    cr_assert_eq(idx[0], 0);
    cr_assert(isnan(v[1]));     /* two NaNs: the last one wins */
    cr_assert_eq(idx[1], 7);
    cr_assert_eq(v[2], -inf);   /* all -inf: the first element of the window */
    cr_assert_eq(idx[2], 8);
    cr_assert(isnan(v[3]));     /* NaN beats 5 (and stays: 5 > NaN is false) */
    cr_assert_eq(idx[3], 14);
}

Test(vision_pool, a_wrong_index_is_caught) {
    const struct mb_kernel *k = mb_kernel_find("vision.max_pool2d.indices");
    const struct mb_point p = pool_point(k, &pool_shapes[2], 1);
    char err[256];
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 4, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    w.outputs[1].data[3] += 1; /* the value stays right: only the index is wrong */
    struct mb_errors e;
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, &e, err, sizeof err), 0, "%s", err);
    cr_assert_gt(e.rel_l2, mb_family_mechanism(k->family, k->mechanism)->tolerance);
    mb_workload_free(&w);
}

Test(vision_pool, bad_padding_is_refused) {
    const struct mb_kernel *k = mb_kernel_find("vision.max_pool2d.indices");
    const struct pl s = {1, 1, 8, 8, 3, 2, 2, 1, 0};
    const struct mb_point p = pool_point(k, &s, 1);
    char err[256];
    struct mb_pool_shape ps;
    cr_assert_eq(mb_pool_shape(&p, &ps, err, sizeof err), -1);
    cr_assert(strstr(err, "padding = 2") && !strchr(err, '\n'), "%s", err);
}

/* ------------------------------------------------------------------------------------------ unpooling */
static struct mb_point unpool_point(const struct mb_kernel *k, const struct pl *s, int64_t output_size) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.batch = s->batch, p.channels = s->c, p.height = s->h, p.width = s->w, p.ksize = s->k, p.threads = 2;
    char params[128], err[256];
    snprintf(params, sizeof params, "stride=%lld;padding=%lld;output_size=%lld", (long long)s->stride,
             (long long)s->pad, (long long)output_size);
    cr_assert_eq(mb_params_parse(k, params, 0, &p, err, sizeof err), 0, "%s", err);
    mb_point_complete(k, &p, 0);
    return p;
}

Test(vision_pool, unpool_matches_the_oracle) {
    const struct mb_kernel *k = mb_kernel_find("vision.max_unpool2d.scatter");
    cr_assert_not_null(k);
    const struct { struct pl s; int64_t output_size; } cases[] = {
        {{1, 1, 1, 1, 2, 2, 0, 1, 0}, 0}, {{2, 3, 5, 7, 3, 2, 1, 1, 0}, 0}, {{1, 2, 4, 4, 2, 2, 0, 1, 0}, 9},
        {{1, 2, 3, 3, 3, 3, 0, 1, 0}, 8}, {{1, 1, 6, 1, 2, 1, 0, 1, 0}, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct mb_point p = unpool_point(k, &cases[i].s, cases[i].output_size);
        char err[256];
        struct mb_workload w;
        cr_assert_eq(mb_workload_create(&w, k->family, &p, 6, err, sizeof err), 0, "case %zu: %s", i, err);
        const struct mb_errors e = run_and_check(k, &w, 0);
        cr_assert_eq(e.rel_l2, 0, "case %zu: rel_l2 %g", i, e.rel_l2);
        int64_t nonzero = 0;
        for (int64_t j = 0; j < mb_tensor_numel(&w.outputs[0]); j++) nonzero += w.outputs[0].data[j] != 0;
        cr_assert_gt(nonzero, 0);
        cr_assert_leq(nonzero, mb_tensor_numel(&w.inputs[0]), "at most one value per input");
        mb_workload_free(&w);
    }
}

Test(vision_pool, unpool_of_pool_restores_the_maxima) {
    const struct mb_kernel *pool = mb_kernel_find("vision.max_pool2d.indices");
    const struct mb_kernel *unpool = mb_kernel_find("vision.max_unpool2d.scatter");
    const struct pl s = {2, 3, 7, 9, 3, 2, 1, 1, 0};
    const struct mb_point pp = pool_point(pool, &s, 1);
    char err[256];
    struct mb_workload wp, wu;
    cr_assert_eq(mb_workload_create(&wp, pool->family, &pp, 8, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(pool, &wp, err, sizeof err), 0, "%s", err);
    const struct pl su = {2, 3, wp.outputs[0].shape[2], wp.outputs[0].shape[3], 3, 2, 1, 1, 0};
    const struct mb_point pu = unpool_point(unpool, &su, 0);
    cr_assert_eq(mb_workload_create(&wu, unpool->family, &pu, 8, err, sizeof err), 0, "%s", err);
    /* default output (H' - 1) 2 - 2 + 3: 7 x 9 from 4 x 5 */
    cr_assert_eq(wu.outputs[0].shape[2], 7);
    cr_assert_eq(wu.outputs[0].shape[3], 9);
    memcpy(wu.inputs[0].data, wp.outputs[0].data, (size_t)mb_tensor_numel(&wp.outputs[0]) * sizeof(float));
    memcpy(wu.inputs[1].data, wp.outputs[1].data, (size_t)mb_tensor_numel(&wp.outputs[1]) * sizeof(float));
    cr_assert_eq(mb_run_once(unpool, &wu, err, sizeof err), 0, "%s", err);
    for (int64_t i = 0; i < mb_tensor_numel(&wu.outputs[0]); i++) {
        const float v = wu.outputs[0].data[i];
        cr_assert(v == 0 || v == wp.inputs[0].data[i], "element %lld: %g is neither 0 nor the input", (long long)i, v);
    }
    for (int64_t i = 0; i < mb_tensor_numel(&wp.outputs[1]); i++) {
        const int64_t plane = i / (su.h * su.w), idx = (int64_t)wp.outputs[1].data[i];
        cr_assert_eq(wu.outputs[0].data[plane * 63 + idx], wp.outputs[0].data[i]);
    }
    mb_workload_free(&wp);
    mb_workload_free(&wu);
}

Test(vision_pool, invalid_indices_and_output_sizes_are_refused) {
    const struct mb_kernel *k = mb_kernel_find("vision.max_unpool2d.scatter");
    const struct pl s = {1, 1, 3, 3, 2, 2, 0, 1, 0};
    const struct mb_point p = unpool_point(k, &s, 0);
    char err[256];
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 6, err, sizeof err), 0, "%s", err);
    w.inputs[1].data[4] = 36; /* the output is 6 x 6 */
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), -1);
    cr_assert(strstr(err, "indices[4] = 36") && !strchr(err, '\n'), "%s", err);
    w.inputs[1].data[4] = 2.5f;
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), -1);
    mb_workload_free(&w);
    const struct mb_point big = unpool_point(k, &s, 8); /* default 6, stride 2: 4 < size < 8 */
    struct mb_unpool_shape us;
    cr_assert_eq(mb_unpool_shape(&big, &us, err, sizeof err), -1);
    cr_assert(strstr(err, "output_size = 8"), "%s", err);
    const struct mb_point fine = unpool_point(k, &s, 7);
    cr_assert_eq(mb_unpool_shape(&fine, &us, err, sizeof err), 0, "%s", err);
}

/* ------------------------------------------------------------------------------------------ checkerboard */
static double overlap(const char *params, double ksize) {
    const struct mb_probe *probe = mb_probe_find("checkerboard_overlap");
    cr_assert_not_null(probe);
    struct mb_point p;
    memset(&p, 0, sizeof p);
    char err[256];
    cr_assert_eq(mb_params_parse_decls((const struct mb_param_decl *const[]){probe->params},
                                       (const int[]){probe->n_params}, 1, "probe", params, 0, &p, err, sizeof err),
                 0, "%s", err);
    struct mb_probe_series out;
    memset(&out, 0, sizeof out);
    cr_assert_eq(probe->run(probe, &p, &ksize, 1, 1, &out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(out.count, 1);
    const double y = out.y[0];
    mb_probe_series_free(&out);
    return y;
}

Test(vision_conv, checkerboard_overlap_ratios) {
    cr_assert_float_eq(overlap("stride=2", 3), 4.0, 1e-12, "k = 3, s = 2: counts 2 x 2 against 1 x 1");
    cr_assert_float_eq(overlap("stride=2", 4), 1.0, 1e-12, "k = 4, s = 2: uniform");
    cr_assert_float_eq(overlap("stride=2", 5), 9.0 / 4.0, 1e-12, "k = 5, s = 2: 3 x 3 against 2 x 2");
    cr_assert_float_eq(overlap("stride=3", 6), 1.0, 1e-12, "k divisible by s: uniform");
    cr_assert_float_eq(overlap("stride=3", 4), 4.0, 1e-12, "k = 4, s = 3: counts 2 or 1 per axis");
    cr_assert_float_eq(overlap("stride=2;mode=resize", 3), 1.0, 1e-12, "nearest resize + 3 x 3 conv: uniform");
}
