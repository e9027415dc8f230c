/* vision.max_pool2d.indices: torch.nn.MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode,
 * return_indices=True).
 *
 *   out[n, c, oh, ow] = max_{a, b} x[n, c, oh s - p + a d, ow s - p + b d]  (taps inside the plane only)
 *   indices[n, c, oh, ow] = (ih W + iw) of the first maximum in row-major scan order; a NaN always wins
 * (PyTorch's `val > maxval || isnan(val)`). Threads split the (n, c) planes. k^2 comparisons per output; no FLOPs
 * beyond them (the model counts each comparison as one). Indices are exact float32 integers (planes <= 2^24).
 * Source: aten/src/ATen/native/cpu/MaxPoolKernel.cpp, cpu_max_pool (PyTorch 1.13). */
#include "vision/family_pool.h"

#include <stdlib.h>

struct pool_state {
    struct mb_pool_shape s;
    const float *x;
    float *values, *indices;
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct pool_state *st = malloc(sizeof *st);
    if (!st) return mb_errorf(err, errlen, "out of memory");
    if (mb_pool_shape(&w->point, &st->s, err, errlen)) {
        free(st);
        return -1;
    }
    st->x = w->inputs[0].data;
    st->values = w->outputs[0].data;
    st->indices = w->outputs[1].data;
    *state = st;
    return 0;
}

static void run(void *state) {
    const struct pool_state *st = state;
    const struct mb_pool_shape *s = &st->s;
    const int64_t in = s->h * s->w, out = s->h_out * s->w_out;
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < s->batch * s->channels; plane++)
        mb_max_pool2d_plane(s, st->x + plane * in, st->values + plane * out, st->indices + plane * out);
}

static double flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_pool_shape s;
    if (mb_pool_shape(p, &s, NULL, 0)) return 0;
    return (double)(s.batch * s.channels) * (double)(s.h_out * s.w_out) * (double)(s.k * s.k);
}

static double bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_pool_shape s;
    if (mb_pool_shape(p, &s, NULL, 0)) return 0;
    return 4.0 * (double)(s.batch * s.channels) * (double)(s.h * s.w + 2 * s.h_out * s.w_out);
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p MB_UNUSED) { return 0; }

const struct mb_kernel mb_kernel_vision_max_pool2d_indices = {
    .name = "vision.max_pool2d.indices",
    .family = &mb_family_vision_max_pool2d,
    .mechanism = "max_pool2d_indices",
    .summary = "MaxPool2d(return_indices=True): window max and its flat index into H x W (first max; NaN wins)",
    .complexity = "O(batch C H' W' k^2) time, O(1) workspace",
    .axes = MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width) |
            MB_AXIS_BIT(ksize),
    MB_KERNEL_SOURCE,
    .supports = mb_pool_supports,
    .setup = setup,
    .run = run,
    .teardown = free,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
