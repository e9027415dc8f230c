/* vision.upsample.upsampling_bilinear2d: nn.UpsamplingBilinear2d(size, scale_factor), deprecated in favour of
 * F.interpolate(mode='bilinear', align_corners=True), which it equals (PyTorch docs, UpsamplingBilinear2d).
 *
 *   out = bilinear with align_corners = 1:  src = i (in - 1)/(out - 1) per axis
 * The bilinear kernel's implementation with align_corners fixed; claim `upsampling_bilinear2d_is_align_corners`
 * compares the two. */
#include "vision/family.h"

static const struct mb_upsample_variant variant = {MB_INTERP_LINEAR, 1};

const struct mb_kernel mb_kernel_vision_upsample_upsampling_bilinear2d = {
    .name = "vision.upsample.upsampling_bilinear2d",
    MB_UPSAMPLE_KERNEL,
    .mechanism = "bilinear",
    .summary = "nn.UpsamplingBilinear2d: bilinear with align_corners fixed to True (the bilinear kernel's code)",
    .complexity = "O(N C H_out W_out) time, O(H_out + W_out) tables + a few rows per thread",
    .axes = MB_UPSAMPLE_AXES,
    .variant = &variant,
};
