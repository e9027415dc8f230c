/* vision.upsample.bicubic: F.interpolate(mode='bicubic') on (N, C, H, W), align_corners both ways.
 *
 *   out[n, c, i, j] = sum_{a, b = 0..3} W(th(i))_a W(tw(j))_b in[n, c, clamp(ih(i) - 1 + a), clamp(iw(j) - 1 + b)]
 *   src = s (i + 0.5) - 0.5 (not clamped) or i (in-1)/(out-1); ih = floor(src), t = src - ih; clamp to [0, in - 1];
 *   Keys' cubic convolution W with A = -0.75 (TensorFlow uses -0.5): W(x) = (A+2)|x|^3 - (A+3)|x|^2 + 1 (|x| <= 1),
 *   A|x|^3 - 5A|x|^2 + 8A|x| - 4A (1 < |x| < 2).
 * Separable like bilinear: a 4-tap gather pass along W per input row into a per-thread cache, then a 4-tap combine
 * per output row. Sources: R. Keys 1981, "Cubic convolution interpolation"; PyTorch 1.13 UpSample.h
 * (get_cubic_upsample_coefficients) and cpu/UpSampleKernel.cpp. */
#include "vision/family.h"

static const struct mb_upsample_variant variant = {MB_INTERP_CUBIC, -1};

const struct mb_kernel mb_kernel_vision_upsample_bicubic = {
    .name = "vision.upsample.bicubic",
    MB_UPSAMPLE_KERNEL,
    .mechanism = "bicubic",
    .summary = "bicubic (A = -0.75, clamped borders): 4-tap width pass into a row cache, 4-tap combine per row",
    .complexity = "O(16 N C H_out W_out) FLOPs as separable passes, O(H_out + W_out) tables",
    .axes = MB_UPSAMPLE_AXES,
    .params = mb_upsample_align_param,
    .n_params = 1,
    .variant = &variant,
};
