/* vision.upsample.bilinear: F.interpolate(mode='bilinear') on (N, C, H, W), align_corners both ways.
 *
 *   out[n, c, i, j] = sum_{a, b in {0, 1}} wh_a(i) ww_b(j) in[n, c, ih_a(i), iw_b(j)]
 *   with the linear taps of interp.h per axis (src = s (i + 0.5) - 0.5 clamped at 0, or i (in-1)/(out-1)).
 * Separable, in PyTorch's order: each needed input row is interpolated along W once (a gather pass into a per-thread
 * cache shared by the output rows that use it), then two cached rows are combined per output row, vectorised along
 * W; OpenMP over the N C H_out rows. Source: PyTorch 1.13 UpSample.h and cpu/UpSampleKernel.cpp. */
#include "vision/family.h"

static const struct mb_upsample_variant variant = {MB_INTERP_LINEAR, -1};

const struct mb_kernel mb_kernel_vision_upsample_bilinear = {
    .name = "vision.upsample.bilinear",
    MB_UPSAMPLE_KERNEL,
    .mechanism = "bilinear",
    .summary = "bilinear: per-row width pass into a row cache, then a 2-tap combine per output row (separable)",
    .complexity = "O(N C H_out W_out) time, O(H_out + W_out) tables + a few rows per thread",
    .axes = MB_UPSAMPLE_AXES,
    .params = mb_upsample_align_param,
    .n_params = 1,
    .variant = &variant,
};
