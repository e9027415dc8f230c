/* vision.upsample.nearest: F.interpolate(mode='nearest') / nn.Upsample / nn.UpsamplingNearest2d on (N, C, H, W).
 *
 *   out[n, c, i, j] = in[n, c, src(i, H), src(j, W)],  src(i) = min(floor(i * s), in - 1) in float,
 *   s = 1/scale_factor (float) when the user's scale factor is passed on, else in/out; out = in: i; out = 2 in: i >> 1
 * A gather per input row into a per-thread cache, then a row copy (non-temporal for large outputs). No arithmetic.
 * Source: PyTorch 1.13 aten/src/ATen/native/UpSample.h (nearest_idx, nearest_neighbor_compute_source_index). */
#include "vision/family.h"

static const struct mb_upsample_variant variant = {MB_INTERP_NEAREST, -1};

const struct mb_kernel mb_kernel_vision_upsample_nearest = {
    .name = "vision.upsample.nearest",
    MB_UPSAMPLE_KERNEL,
    .mechanism = "nearest",
    .summary = "nearest neighbour (PyTorch's legacy 'nearest': floor(i s)), a gathered row copied per output row",
    .complexity = "O(N C H_out W_out) copies",
    .axes = MB_UPSAMPLE_AXES,
    .variant = &variant,
};
