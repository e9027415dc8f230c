/* vision families: every pixel-shuffle and upsampling kernel against its double-precision oracle at odd sizes,
 * H = 1, non-integer and downscaling factors, both align_corners, size instead of scale_factor, 1 and 2 threads;
 * PyTorch's coordinate maps at hand-checked values; unshuffle(shuffle(x)) == x; bad shapes refused with one line;
 * a wrong output is caught. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mechbench.h"
#include "run/runner.h"
#include "vision/family.h"

struct image {
    int64_t batch, channels, height, width, scale;
    const char *params;
};

/* Point of kernel k at image s with params; 0 or -1 (err) when the params or the layout refuse it. */
static int make_point(const struct mb_kernel *k, const struct image *s, int threads, struct mb_point *p, char *err,
                      size_t errlen) {
    memset(p, 0, sizeof *p);
    p->batch = s->batch, p->channels = s->channels, p->height = s->height, p->width = s->width, p->scale = s->scale;
    p->threads = threads;
    if (mb_params_parse(k, s->params, MB_PARAMS_LENIENT, p, err, errlen)) return -1;
    mb_point_complete(k, p, MB_AXIS_BIT(height) | MB_AXIS_BIT(scale));
    struct mb_workload w = {.family = k->family, .point = *p};
    return k->family->layout(&w, err, errlen);
}

/* Runs k at s; the error vs its oracle over every row (tamper: one output value off); returns the output. */
static float *run(const struct mb_kernel *k, const struct image *s, int threads, int tamper, struct mb_errors *e,
                  int64_t *count) {
    struct mb_point p;
    char err[256];
    cr_assert_eq(make_point(k, s, threads, &p, err, sizeof err), 0, "%s: %s", k->name, err);
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 7, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
    *count = mb_tensor_numel(&w.outputs[0]);
    if (tamper) w.outputs[0].data[*count / 2] += 1e-3f;
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, e, err, sizeof err), 0, "%s", err);
    float *out = malloc((size_t)*count * sizeof(float));
    memcpy(out, w.outputs[0].data, (size_t)*count * sizeof(float));
    mb_workload_free(&w);
    return out;
}

static const struct image interp_images[] = {
    {1, 1, 1, 1, 2, ""},                             /* a single pixel */
    {2, 3, 7, 5, 2, ""},                             /* odd sizes, x2 */
    {1, 2, 1, 9, 3, ""},                             /* H = 1 */
    {1, 3, 13, 11, 0, "scale_factor=1.5"},           /* non-integer */
    {2, 1, 9, 17, 0, "scale_factor=2.3;recompute_scale_factor=1"},
    {1, 2, 17, 23, 0, "scale_factor=0.7"},           /* downscaling */
    {1, 2, 11, 13, 0, "size=5"},                     /* one size for every axis */
    {1, 1, 6, 10, 0, "size=9,31"},                   /* a size per axis (H, W; trilinear: D, H, W) */
    {1, 2, 40, 70, 4, ""},                           /* wider than one permutation window */
    {1, 1, 33, 300, 0, "scale_factor=0.3"},          /* windows wider than 32 inputs: gathers */
};

Test(vision_upsample, every_kernel_matches_its_oracle_at_odd_shapes) {
    int kernels = 0;
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strcmp(k->family->name, "vision.upsample")) continue;
        kernels++;
        const double tol = mb_family_mechanism(k->family, k->mechanism)->tolerance;
        for (size_t s = 0; s < sizeof interp_images / sizeof interp_images[0]; s++)
            for (int ac = 0; ac <= 1; ac++)
                for (int t = 1; t <= 2; t++) {
                    struct image im = interp_images[s];
                    char params[128];
                    snprintf(params, sizeof params, "%s%salign_corners=%d%s", im.params, im.params[0] ? ";" : "", ac,
                             strcmp(k->name, "vision.upsample.trilinear") ? "" : ";depth=5");
                    if (!strcmp(im.params, "size=9,31") && !strcmp(k->name, "vision.upsample.trilinear"))
                        snprintf(params, sizeof params, "size=4,9,31;align_corners=%d;depth=5", ac);
                    if (!strcmp(im.params, "size=9,31") && !strcmp(k->name, "vision.upsample.linear"))
                        snprintf(params, sizeof params, "size=31;align_corners=%d", ac);
                    im.params = params;
                    if (!strcmp(k->name, "vision.upsample.linear")) im.height = 0;
                    struct mb_errors e;
                    int64_t count;
                    free(run(k, &im, t, 0, &e, &count));
                    cr_assert_eq(e.checked, count, "%s image %zu: every value checked", k->name, s);
                    cr_assert_leq(e.rel_l2, tol, "%s image %zu align %d threads %d: rel_l2 %g", k->name, s, ac, t,
                                  e.rel_l2);
                }
        struct mb_errors bad;
        int64_t count;
        const struct image im = {1, 2, 9, 7, 0, "scale_factor=1.5"};
        struct image im1 = im;
        if (!strcmp(k->name, "vision.upsample.linear")) im1.height = 0;
        free(run(k, &im1, 1, 1, &bad, &count));
        cr_assert_gt(bad.rel_l2, tol, "%s: a wrong value must fail the check (rel_l2 %g)", k->name, bad.rel_l2);
    }
    cr_assert_eq(kernels, 7);
}

Test(vision_upsample, threads_do_not_change_the_output) {
    const struct mb_kernel *k = mb_kernel_find("vision.upsample.bicubic");
    const struct image im = {2, 3, 19, 21, 0, "scale_factor=1.7"};
    struct mb_errors e;
    int64_t n1, n2;
    float *a = run(k, &im, 1, 0, &e, &n1), *b = run(k, &im, 2, 0, &e, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(a, b, (size_t)n1 * sizeof(float)), 0);
    free(a), free(b);
}

/* PyTorch's maps at values worked by hand (torch 1.13 gives the same: tests/oracle). */
Test(vision_upsample, coordinate_maps_match_pytorch_by_hand) {
    /* nearest: out = 2 in is a shift; else floor(i * (float)(1/s)) */
    cr_assert_eq(mb_interp_nearest(5, 4, 8, 2.0), 2);
    cr_assert_eq(mb_interp_nearest(2, 4, 6, 1.5), 1);   /* floor(2 * 0.6666667) = 1 */
    cr_assert_eq(mb_interp_nearest(5, 4, 6, 1.5), 3);   /* floor(3.3333) */
    cr_assert_eq(mb_interp_nearest_exact(2, 4, 6, 1.5), 1); /* floor(2.5 * 0.6666667) = 1 */
    cr_assert_eq(mb_interp_nearest_exact(5, 4, 6, 1.5), 3); /* floor(3.6667) */
    cr_assert_eq(mb_interp_nearest_exact(1, 4, 8, 2.0), 0); /* floor(0.75) */
    cr_assert_eq(mb_interp_nearest(1, 4, 8, 2.0), 0);
    /* scale: align_corners (in-1)/(out-1); 0 when out = 1; else 1/scale_factor or in/out */
    cr_assert_float_eq(mb_interp_scale(4, 8, 1, 2.0), 3.0f / 7.0f, 1e-7);
    cr_assert_eq(mb_interp_scale(4, 1, 1, 0), 0.0f);
    cr_assert_eq(mb_interp_scale(4, 8, 0, 2.0), 0.5f);
    cr_assert_eq(mb_interp_scale(3, 1, 0, 0.6), (float)(1 / 0.6)); /* out = 1 keeps the user's scale */
    cr_assert_eq(mb_interp_scale(5, 7, 0, 0), 5.0f / 7.0f);
    /* linear: src = 0.5 (i + 0.5) - 0.5 clamped at 0 */
    int64_t idx[4];
    float l;
    mb_interp_linear_taps(0, 4, 8, 0.5f, 0, idx, &l);
    cr_assert(idx[0] == 0 && idx[1] == 1 && l == 0.0f);
    mb_interp_linear_taps(3, 4, 8, 0.5f, 0, idx, &l); /* src 1.25 */
    cr_assert(idx[0] == 1 && idx[1] == 2 && l == 0.25f);
    mb_interp_linear_taps(7, 4, 8, 0.5f, 0, idx, &l); /* src 3.25: the last pixel twice */
    cr_assert(idx[0] == 3 && idx[1] == 3 && l == 0.25f);
    mb_interp_linear_taps(2, 5, 5, 1.0f, 0, idx, &l); /* out = in: a copy */
    cr_assert(idx[0] == 2 && idx[1] == 2 && l == 0.0f);
    /* cubic: src 1.25 -> taps 0..3, t = 0.25; clamped at the borders; Keys' weights sum to 1 */
    float t, w[4];
    mb_interp_cubic_taps(3, 4, 8, 0.5f, 0, idx, &t);
    cr_assert(idx[0] == 0 && idx[1] == 1 && idx[2] == 2 && idx[3] == 3 && t == 0.25f);
    mb_interp_cubic_taps(0, 4, 8, 0.5f, 0, idx, &t); /* src -0.25: floor -1, t 0.75 */
    cr_assert(idx[0] == 0 && idx[1] == 0 && idx[2] == 0 && idx[3] == 1 && t == 0.75f);
    mb_interp_cubic_weights(0.25f, w);
    cr_assert_float_eq(w[0] + w[1] + w[2] + w[3], 1.0f, 1e-6);
    double wd[4];
    mb_interp_cubic_weights_double(0.25, wd); /* A = -0.75: W(1.25), W(0.25), W(0.75), W(1.75) */
    cr_assert_float_eq(wd[0], -0.10546875, 1e-15);
    cr_assert_float_eq(wd[1], 0.87890625, 1e-15);
    cr_assert_float_eq(wd[2], 0.26171875, 1e-15);
    cr_assert_float_eq(wd[3], -0.03515625, 1e-15);
    for (int j = 0; j < 4; j++) cr_assert_float_eq(w[j], (float)wd[j], 1e-7);
    mb_interp_cubic_weights_double(0.0, wd);
    cr_assert(wd[0] == 0 && wd[1] == 1 && wd[2] == 0 && wd[3] == 0);
}

static const struct image shuffle_images[] = {
    {1, 4, 1, 1, 2, ""}, {2, 9, 5, 7, 3, ""}, {1, 8, 3, 33, 2, ""}, {1, 32, 6, 10, 4, ""}, {3, 1, 4, 4, 1, ""},
};

Test(vision_shuffle, kernels_match_their_oracle_and_invert_each_other) {
    const struct mb_kernel *ps = mb_kernel_find("vision.pixel_shuffle"), *pu = mb_kernel_find("vision.pixel_unshuffle");
    cr_assert(ps && pu);
    for (size_t s = 0; s < sizeof shuffle_images / sizeof shuffle_images[0]; s++)
        for (int t = 1; t <= 2; t++) {
            const struct image *im = &shuffle_images[s];
            struct mb_errors e;
            int64_t count;
            float *y = run(ps, im, t, 0, &e, &count);
            cr_assert_eq(e.checked, count);
            cr_assert_eq(e.max_abs, 0, "pixel_shuffle image %zu: max_abs %g", s, e.max_abs);
            /* unshuffle(shuffle(x)) == x: feed y to the unshuffle kernel through a hand-made workload */
            const int64_t r = im->scale;
            const struct image back = {im->batch, im->channels / (r * r), im->height * r, im->width * r, r, ""};
            struct mb_point p;
            char err[256];
            cr_assert_eq(make_point(pu, &back, t, &p, err, sizeof err), 0, "%s", err);
            struct mb_workload w;
            cr_assert_eq(mb_workload_create(&w, pu->family, &p, 7, err, sizeof err), 0, "%s", err);
            memcpy(w.inputs[0].data, y, (size_t)count * sizeof(float));
            cr_assert_eq(mb_run_once(pu, &w, err, sizeof err), 0, "%s", err);
            struct mb_workload orig;
            cr_assert_eq(make_point(ps, im, t, &p, err, sizeof err), 0, "%s", err);
            cr_assert_eq(mb_workload_create(&orig, ps->family, &p, 7, err, sizeof err), 0, "%s", err);
            cr_assert_eq(memcmp(w.outputs[0].data, orig.inputs[0].data, (size_t)count * sizeof(float)), 0,
                         "image %zu: unshuffle(shuffle(x)) != x", s);
            struct mb_errors eu;
            struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
            cr_assert_eq(pu->family->check(pu, &w, pu->mechanism, &co, &eu, err, sizeof err), 0, "%s", err);
            cr_assert_eq(eu.max_abs, 0);
            mb_workload_free(&w), mb_workload_free(&orig);
            free(y);
        }
    struct mb_errors bad;
    int64_t count;
    free(run(ps, &shuffle_images[1], 1, 1, &bad, &count));
    cr_assert_gt(bad.rel_l2, 1e-12, "a wrong value must fail the check");
}

/* The exact PyTorch output of pixel_shuffle on a small ramp (nn.PixelShuffle(2) of arange(8).view(1, 8, 1, 1)). */
Test(vision_shuffle, channel_order_is_pytorchs) {
    const struct mb_kernel *ps = mb_kernel_find("vision.pixel_shuffle");
    const struct image im = {1, 8, 1, 1, 2, ""};
    struct mb_point p;
    char err[256];
    cr_assert_eq(make_point(ps, &im, 1, &p, err, sizeof err), 0, "%s", err);
    struct mb_workload w;
    cr_assert_eq(mb_workload_create(&w, ps->family, &p, 7, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 8; i++) w.inputs[0].data[i] = (float)i;
    cr_assert_eq(mb_run_once(ps, &w, err, sizeof err), 0, "%s", err);
    const float want[8] = {0, 1, 2, 3, 4, 5, 6, 7}; /* out (1, 2, 2, 2): channel c holds c*4 .. c*4+3 row-major */
    for (int i = 0; i < 8; i++) cr_assert_eq(w.outputs[0].data[i], want[i]);
    mb_workload_free(&w);
}

static void assert_refused(const char *kernel, struct image im, const char *needle) {
    const struct mb_kernel *k = mb_kernel_find(kernel);
    struct mb_point p;
    char err[256] = "";
    memset(&p, 0, sizeof p);
    p.batch = im.batch, p.channels = im.channels, p.height = im.height, p.width = im.width, p.scale = im.scale;
    p.threads = 1;
    int rc = mb_params_parse(k, im.params, 0, &p, err, sizeof err);
    if (!rc) {
        struct mb_workload w = {.family = k->family, .point = p};
        rc = k->family->layout(&w, err, sizeof err);
    }
    if (!rc) rc = -mb_kernel_supports(k, &p, err, sizeof err); /* the shuffles refuse r not dividing in supports */
    cr_assert_eq(rc, -1, "%s %s: not refused", kernel, im.params);
    cr_assert(strstr(err, needle) && !strchr(err, '\n'), "%s: '%s' does not name '%s'", kernel, err, needle);
}

Test(vision_upsample, bad_shapes_are_refused_with_one_line) {
    assert_refused("vision.pixel_shuffle", (struct image){1, 6, 4, 4, 2, ""}, "not divisible by upscale_factor^2");
    assert_refused("vision.pixel_unshuffle", (struct image){1, 3, 5, 4, 2, ""}, "not both divisible");
    assert_refused("vision.upsample.bilinear", (struct image){1, 3, 4, 4, 2, "size=0"}, "size=0");
    assert_refused("vision.upsample.bilinear", (struct image){1, 3, 4, 4, 2, "size=8;scale_factor=2"}, "only one");
    assert_refused("vision.upsample.bilinear", (struct image){1, 3, 4, 4, 0, ""}, "give size or scale_factor");
    assert_refused("vision.upsample.nearest", (struct image){1, 3, 4, 4, 2, "size=8;recompute_scale_factor=1"},
                   "not meaningful");
    assert_refused("vision.upsample.bicubic", (struct image){1, 3, 4, 4, 0, "scale_factor=0.1"}, "output size of 0");
    assert_refused("vision.upsample.bilinear", (struct image){1, 3, 4, 4, 0, "size=3,4,5"}, "takes 1 or 2");
    assert_refused("vision.upsample.nearest", (struct image){1, 3, 4, 4, 2, "align_corners=1"}, "align_corners");
}

Test(vision_upsample, size_and_scale_factor_semantics) {
    const struct mb_kernel *k = mb_kernel_find("vision.upsample.bilinear");
    struct mb_point p;
    char err[256];
    struct mb_upsample u;
    const struct image a = {1, 1, 5, 7, 0, "scale_factor=2.3"};
    cr_assert_eq(make_point(k, &a, 1, &p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_upsample_shape(&p, &u, err, sizeof err), 0);
    cr_assert(u.out[0] == 11 && u.out[1] == 16 && u.scales[0] == 2.3, "floor(5 * 2.3) = 11, floor(7 * 2.3) = 16");
    const struct image b = {1, 1, 5, 7, 0, "scale_factor=2.3;recompute_scale_factor=1"};
    cr_assert_eq(make_point(k, &b, 1, &p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_upsample_shape(&p, &u, err, sizeof err), 0);
    cr_assert(u.out[0] == 11 && u.scales[0] == 0, "recomputed: the kernel uses in/out");
    const struct image c = {1, 1, 5, 7, 3, "size=4,9"};
    cr_assert_eq(make_point(k, &c, 1, &p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_upsample_shape(&p, &u, err, sizeof err), 0);
    cr_assert(u.out[0] == 4 && u.out[1] == 9 && u.scales[1] == 0, "size wins over the scale axis");
    cr_assert_str_eq(p.params, "align_corners=0;recompute_scale_factor=0;scale_factor=0;size=4,9");
}
