/* vision.conv_transpose2d.scatter: torch.nn.ConvTranspose2d in its direct (scatter) form.
 *
 *   y[n, co, h s - p + a dil, w s - p + b dil] += x[n, ci, h, w] W[ci, co, a, b]        (+ bias[co]; per group)
 * Each input pixel is scattered through every tap once. Organised as PyTorch's slow_conv_transpose2d and Caffe's
 * deconvolution: per band of input rows one sgemm cols[(co, a, b), (h, w)] = sum_ci W[ci, (co, a, b)] x[ci, (h, w)]
 * (W^T X), then col2im adds each column into the output pixel its tap hits. The OpenMP threads split the output
 * channels, so no two threads ever add into one pixel (race-free without atomics); the band keeps cols near
 * 1 MiB (in L2) instead of a C_out k^2 x H W matrix (64 MiB at 64 channels, k = 4, 128 x 128).
 * 2 batch C_in (C_out/groups) k^2 H W FLOPs (no multiplications by inserted zeros).
 * Source: Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep learning", Sec. 4; torch.nn.ConvTranspose2d. */
#include "vision/family_conv.h"

#include <omp.h>
#include <stdlib.h>

struct scatter_state {
    struct mb_convt c;
    int threads;
    int64_t col_floats; /* per thread */
    float *col;
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct scatter_state *st = calloc(1, sizeof *st);
    if (!st) return mb_errorf(err, errlen, "out of memory");
    mb_convt_bind(&st->c, w);
    st->threads = omp_get_max_threads();
    st->col_floats = mb_convt_col_floats(&st->c.s, st->threads);
    st->col = mb_alloc((size_t)(st->col_floats * st->threads) * sizeof(float));
    if (!st->col) {
        free(st);
        return mb_errorf(err, errlen, "out of memory (im2col scratch)");
    }
    *state = st;
    return 0;
}

static void run(void *state) {
    const struct scatter_state *st = state;
    mb_convt_scatter(&st->c, st->col, st->col_floats, st->threads);
}

static void teardown(void *state) {
    struct scatter_state *st = state;
    mb_free(st->col);
    free(st);
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_convt_shape s;
    if (mb_convt_shape(p, &s, NULL, 0)) return 0;
    const int threads = p->threads > 0 ? (int)p->threads : omp_get_max_threads();
    return 4.0 * (double)mb_convt_col_floats(&s, threads) * threads;
}

const struct mb_kernel mb_kernel_vision_conv_transpose2d_scatter = {
    .name = "vision.conv_transpose2d.scatter",
    .family = &mb_family_vision_conv_transpose2d,
    .mechanism = "conv_transpose2d",
    .summary = "direct scatter form: per band of input rows one sgemm W^T X, then col2im; threads own output channels",
    .complexity = "O(batch C_in C_out k^2 H W / groups) time, O(C_out k^2 W) workspace per thread",
    .axes = MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width) |
            MB_AXIS_BIT(ksize) | MB_AXIS_BIT(scale),
    MB_KERNEL_SOURCE,
    .supports = mb_convt_supports,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = mb_convt_flops_useful,
    .bytes = mb_convt_bytes,
    .workspace_bytes = workspace,
};
