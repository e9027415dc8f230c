/* vision.upsample.trilinear: F.interpolate(mode='trilinear') on (N, C, D, H, W), align_corners both ways.
 *
 *   out[n, c, k, i, j] = sum_{a, b, e in {0, 1}} wd_a(k) wh_b(i) ww_e(j) in[n, c, id_a(k), ih_b(i), iw_e(j)]
 *   with the linear taps of interp.h along each axis. D is the parameter depth (0 = H).
 * Separable: width passes of the four needed input rows (cached per thread), combined along H then D per output row.
 * Source: PyTorch 1.13 UpSample.h and cpu/UpSampleKernel.cpp (Interpolate<3, ..., 2>). */
#include "vision/family.h"

static const struct mb_upsample_variant variant = {MB_INTERP_LINEAR, -1};

const struct mb_kernel mb_kernel_vision_upsample_trilinear = {
    .name = "vision.upsample.trilinear",
    MB_UPSAMPLE_KERNEL,
    .mechanism = "trilinear",
    .summary = "trilinear on (N, C, D, H, W): cached width passes, combined along H then D per output row",
    .complexity = "O(N C D_out H_out W_out) time, O(D_out + H_out + W_out) tables",
    .axes = MB_UPSAMPLE_AXES,
    .params = mb_upsample_trilinear_params,
    .n_params = 2,
    .variant = &variant,
};
