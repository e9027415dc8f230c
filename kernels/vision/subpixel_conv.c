/* vision.subpixel_conv.im2col: ESPCN's sub-pixel convolution layer.
 *
 *   z[m, h, w] = bias[m] + sum_{ci, a, b} weight[m, ci, a, b] x[ci, h + a - k/2, w + b - k/2]   (m < C r^2; k odd)
 *   out[c, h r + i, w r + j] = z[c r^2 + i r + j, h, w]                                          (PixelShuffle(r))
 * Every multiplication happens at low resolution: 2 batch C r^2 C_in k^2 H W FLOPs, 1/r^2 of the zero-insertion
 * transposed convolution that gives the same output (kernel r k, stride r: see the mapping in
 * tests/unit/test_vision_conv.c) and equal to its scatter form's useful multiplications.
 * Per band of low-resolution rows: im2col + one sgemm into a scratch block, then the shuffle writes the band's
 * r rows per input row; threads own bands (race-free).
 * Source: Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
 * Convolutional Neural Network", Sec. 2.2, eq. 4; torch.nn.PixelShuffle. */
#include "vision/family_conv.h"

#include <omp.h>
#include <stdlib.h>

struct subpixel_state {
    struct mb_subpixel_shape s;
    const float *x, *weight, *bias;
    float *out;
    int threads;
    int64_t band, col_floats, lr_floats; /* per thread */
    float *col, *lr;
};

static int64_t band_rows(const struct mb_subpixel_shape *s) {
    return mb_conv_band_rows(s->c_in * s->k * s->k + s->c_out * s->r * s->r, s->w, s->h);
}

static int setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct subpixel_state *st = calloc(1, sizeof *st);
    if (!st) return mb_errorf(err, errlen, "out of memory");
    if (mb_subpixel_shape(&w->point, &st->s, err, errlen)) {
        free(st);
        return -1;
    }
    const struct mb_subpixel_shape *s = &st->s;
    st->x = w->inputs[MB_VCONV_INPUT].data;
    st->weight = w->inputs[MB_VCONV_WEIGHT].data;
    st->bias = w->inputs[MB_VCONV_BIAS].data;
    st->out = w->outputs[0].data;
    st->threads = omp_get_max_threads();
    st->band = band_rows(s);
    st->col_floats = s->c_in * s->k * s->k * st->band * s->w;
    st->lr_floats = s->c_out * s->r * s->r * st->band * s->w;
    st->col = mb_alloc((size_t)(st->col_floats * st->threads) * sizeof(float));
    st->lr = mb_alloc((size_t)(st->lr_floats * st->threads) * sizeof(float));
    if (!st->col || !st->lr) {
        mb_free(st->col), mb_free(st->lr), free(st);
        return mb_errorf(err, errlen, "out of memory (im2col scratch)");
    }
    *state = st;
    return 0;
}

static void run(void *state) {
    const struct subpixel_state *st = state;
    const struct mb_subpixel_shape *s = &st->s;
    const int64_t r = s->r, bands = (s->h + st->band - 1) / st->band, wr = s->w * r;
#pragma omp parallel num_threads(st->threads)
    {
        float *col = st->col + (int64_t)omp_get_thread_num() * st->col_floats;
        float *lr = st->lr + (int64_t)omp_get_thread_num() * st->lr_floats;
#pragma omp for schedule(static) collapse(2)
        for (int64_t n = 0; n < s->batch; n++)
            for (int64_t band = 0; band < bands; band++) {
                const int64_t r0 = band * st->band, r1 = r0 + st->band < s->h ? r0 + st->band : s->h;
                const int64_t pixels = (r1 - r0) * s->w;
                const struct mb_conv_rows conv = {.src = st->x + n * s->c_in * s->h * s->w, .channels = s->c_in,
                                                  .hs = s->h, .ws = s->w, .k = s->k, .pad = s->k / 2, .dil = 1,
                                                  .w_out = s->w, .weight = st->weight, .m_rows = s->c_out * r * r};
                mb_conv_rows(&conv, r0, r1, col, lr, pixels, 0.0f);
                for (int64_t c = 0; c < s->c_out; c++) {
                    float *plane = st->out + (n * s->c_out + c) * s->h * r * wr;
                    for (int64_t i = 0; i < r; i++)
                        for (int64_t j = 0; j < r; j++) {
                            const int64_t m = mb_vision_shuffle_channel(c, i, j, r);
                            const float *z = lr + m * pixels, bias = st->bias[m];
                            for (int64_t h = r0; h < r1; h++) {
                                float *dst = plane + (h * r + i) * wr + j;
                                const float *src = z + (h - r0) * s->w;
                                for (int64_t w = 0; w < s->w; w++) dst[w * r] = src[w] + bias;
                            }
                        }
                }
            }
    }
}

static void teardown(void *state) {
    struct subpixel_state *st = state;
    mb_free(st->col), mb_free(st->lr);
    free(st);
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_subpixel_shape s;
    if (mb_subpixel_shape(p, &s, NULL, 0)) return 0;
    const int threads = p->threads > 0 ? (int)p->threads : omp_get_max_threads();
    return 4.0 * threads * (double)((s.c_in * s.k * s.k + s.c_out * s.r * s.r) * band_rows(&s) * s.w);
}

const struct mb_kernel mb_kernel_vision_subpixel_conv_im2col = {
    .name = "vision.subpixel_conv.im2col",
    .family = &mb_family_vision_subpixel_conv,
    .mechanism = "subpixel_conv",
    .summary = "ESPCN: k x k convolution at low resolution to C r^2 channels (im2col + sgemm per band of rows), "
               "then PixelShuffle(r)",
    .complexity = "O(batch C r^2 C_in k^2 H W) time, O((C_in k^2 + C r^2) W) workspace per thread",
    .axes = MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width) |
            MB_AXIS_BIT(ksize) | MB_AXIS_BIT(scale),
    MB_KERNEL_SOURCE,
    .supports = mb_subpixel_supports,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = mb_subpixel_flops,
    .bytes = mb_subpixel_bytes,
    .workspace_bytes = workspace,
};
