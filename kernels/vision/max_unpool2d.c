/* vision.max_unpool2d.scatter: torch.nn.MaxUnpool2d(kernel_size, stride, padding)(input, indices, output_size).
 *
 *   out[n, c] = 0;  out[n, c].flat[indices[n, c, h, w]] = input[n, c, h, w]   (scan order: a repeated index keeps
 *   the last value, as PyTorch's CPU loop)
 * Setup refuses an index that is not an integer in [0, H_o W_o) (PyTorch: "Found an invalid max index"), so run
 * has no failure path. Threads split the (n, c) planes. No FLOPs (the model counts one per input element).
 * Source: aten/src/ATen/native/cpu/MaxUnpoolKernel.cpp (PyTorch 1.13); Zeiler & Fergus 2014, Sec. 2.1 (switches). */
#include "vision/family_pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct unpool_state {
    struct mb_unpool_shape s;
    const float *x, *indices;
    float *out;
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct unpool_state *st = malloc(sizeof *st);
    if (!st) return mb_errorf(err, errlen, "out of memory");
    if (mb_unpool_shape(&w->point, &st->s, err, errlen)) {
        free(st);
        return -1;
    }
    st->x = w->inputs[0].data;
    st->indices = w->inputs[1].data;
    st->out = w->outputs[0].data;
    const int64_t count = st->s.batch * st->s.channels * st->s.h * st->s.w, limit = st->s.h_out * st->s.w_out;
    for (int64_t i = 0; i < count; i++) {
        const float v = st->indices[i];
        if (!(v >= 0 && v < (float)limit && v == floorf(v))) {
            mb_errorf(err, errlen, "max_unpool2d: indices[%lld] = %g is not a valid max index (allowed: integers in "
                      "[0, %lld), the output plane being %lld x %lld)", (long long)i, (double)v, (long long)limit,
                      (long long)st->s.h_out, (long long)st->s.w_out);
            free(st);
            return -1;
        }
    }
    *state = st;
    return 0;
}

static void run(void *state) {
    const struct unpool_state *st = state;
    const struct mb_unpool_shape *s = &st->s;
    const int64_t in = s->h * s->w, out = s->h_out * s->w_out;
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < s->batch * s->channels; plane++) {
        float *y = st->out + plane * out;
        const float *x = st->x + plane * in, *idx = st->indices + plane * in;
        memset(y, 0, (size_t)out * sizeof *y);
        for (int64_t i = 0; i < in; i++) y[(int64_t)idx[i]] = x[i];
    }
}

static double flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_unpool_shape s;
    if (mb_unpool_shape(p, &s, NULL, 0)) return 0;
    return (double)(s.batch * s.channels) * (double)(s.h * s.w);
}

static double bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_unpool_shape s;
    if (mb_unpool_shape(p, &s, NULL, 0)) return 0;
    return 4.0 * (double)(s.batch * s.channels) * (double)(2 * s.h * s.w + s.h_out * s.w_out);
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p MB_UNUSED) { return 0; }

const struct mb_kernel mb_kernel_vision_max_unpool2d_scatter = {
    .name = "vision.max_unpool2d.scatter",
    .family = &mb_family_vision_max_unpool2d,
    .mechanism = "max_unpool2d",
    .summary = "MaxUnpool2d: each value written to its flat index of a zeroed H_o x W_o plane",
    .complexity = "O(batch C (H W + H_o W_o)) time, O(1) workspace",
    .axes = MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width) |
            MB_AXIS_BIT(ksize),
    MB_KERNEL_SOURCE,
    .supports = mb_unpool_supports,
    .setup = setup,
    .run = run,
    .teardown = free,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
