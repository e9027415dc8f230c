/* vision.upsample.nearest_exact: F.interpolate(mode='nearest-exact') on (N, C, H, W): the pixel centres' nearest.
 *
 *   out[n, c, i, j] = in[n, c, src(i, H), src(j, W)],  src(i) = min(floor((i + 0.5) s), in - 1), (i + 0.5) s in double
 *   rounded to float, s = 1/scale_factor (float) or in/out
 * Same as Pillow and scipy.ndimage.zoom; fixes 'nearest''s shift for non-integer scales. A gather per input row.
 * Source: PyTorch 1.13 UpSample.h (nearest_exact_idx, nearest_neighbor_exact_compute_source_index). */
#include "vision/family.h"

static const struct mb_upsample_variant variant = {MB_INTERP_NEAREST_EXACT, -1};

const struct mb_kernel mb_kernel_vision_upsample_nearest_exact = {
    .name = "vision.upsample.nearest_exact",
    MB_UPSAMPLE_KERNEL,
    .mechanism = "nearest_exact",
    .summary = "nearest neighbour of the pixel centres (floor((i + 0.5) s)), a gathered row copied per output row",
    .complexity = "O(N C H_out W_out) copies",
    .axes = MB_UPSAMPLE_AXES,
    .variant = &variant,
};
