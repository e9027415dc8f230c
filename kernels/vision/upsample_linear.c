/* vision.upsample.linear: F.interpolate(mode='linear') on (N, C, W) (3-D input; the height axis is not read).
 *
 *   out[n, c, j] = (1 - l_j) in[n, c, i0_j] + l_j in[n, c, i1_j]
 *   align_corners=0: src = max(0, s (j + 0.5) - 0.5), s = 1/scale_factor or in/out; align_corners=1: src = j (in-1)/(out-1)
 *   i0 = (int)src, i1 = i0 + (i0 < in - 1), l = src - i0 (float, as PyTorch); out = in: a copy
 * Index/weight tables per output column in setup, a gather pass per row. Source: PyTorch 1.13 UpSample.h
 * (area_pixel_compute_scale, area_pixel_compute_source_index, compute_source_index_and_lambda). */
#include "vision/family.h"

static const struct mb_upsample_variant variant = {MB_INTERP_LINEAR, -1};

const struct mb_kernel mb_kernel_vision_upsample_linear = {
    .name = "vision.upsample.linear",
    MB_UPSAMPLE_KERNEL,
    .mechanism = "linear",
    .summary = "linear interpolation of (N, C, W) rows: per-column index and weight tables, one gather pass",
    .complexity = "O(N C W_out) time, O(W_out) tables",
    .axes = MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(width) | MB_AXIS_BIT(scale),
    .params = mb_upsample_align_param,
    .n_params = 1,
    .variant = &variant,
};
