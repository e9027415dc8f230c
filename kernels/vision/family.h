/* vision families (family.c): upsampling layers with PyTorch semantics on float32 images.
 *
 * vision (pixel shuffle), input (N, C_in, H, W), r = upscale_factor / downscale_factor (0 = the scale axis):
 *   pixel_shuffle    (N, C r^2, H, W) -> (N, C, H r, W r):  out[n, c, h r + i, w r + j] = in[n, c r^2 + i r + j, h, w]
 *   pixel_unshuffle  (N, C, H r, W r) -> (N, C r^2, H, W):  the inverse (nn.PixelShuffle / nn.PixelUnshuffle).
 *   PyTorch's channel order is "CRD" (channel, then row i, then column j); TensorFlow's depth_to_space uses "DCR"
 *   (in[n, (i r + j) C + c, h, w]): the same permutation of the pixels with the channels grouped the other way.
 *   Which one a point is: the parameter its kernel declares (upscale_factor or downscale_factor).
 * vision.upsample (F.interpolate), input (N, C, [D,] [H,] W) -> (N, C, [D_out,] [H_out,] W_out):
 *   nearest, nearest_exact, bilinear, bicubic on (N, C, H, W); linear on (N, C, W) (the kernel does not read the
 *   height axis); trilinear on (N, C, D, H, W) (its kernel declares `depth`, D; 0 = H). The coordinate maps are in
 *   interp.h. Output size: `size` (one value for every spatial axis, or one per axis), else floor(in * s) with s =
 *   `scale_factor` (0 = not given: the integer scale axis r). The scale used in the coordinate map is 1 / s when s is
 *   the user's and recompute_scale_factor = 0 (PyTorch passes it to the kernel), else in / out.
 * Axes: batch N, channels C, height H, width W, scale r. */
#ifndef MB_VISION_FAMILY_H
#define MB_VISION_FAMILY_H

#include "core/mechbench.h"
#include "vision/interp.h"

extern const struct mb_family mb_family_vision;
extern const struct mb_family mb_family_vision_upsample;

/* ------------------------------------------------------------------------------------------ pixel shuffle */
struct mb_shuffle {
    int unshuffle;                 /* 0: pixel_shuffle, 1: pixel_unshuffle */
    int64_t batch, r;
    int64_t c_in, h_in, w_in;      /* input (N, c_in, h_in, w_in) */
    int64_t c_out, h_out, w_out;   /* output (truncated when r does not divide) */
    int fits;                      /* 0: r does not divide the shape (the only refusal the layout lets through) */
};
/* The point's shuffle (which one, r, shapes). Returns 0 or -1 with one line naming the bad value. */
int mb_shuffle_shape(const struct mb_point *p, struct mb_shuffle *s, char *err, size_t errlen);
int mb_shuffle_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len);
double mb_shuffle_bytes(const struct mb_kernel *k, const struct mb_point *p);
double mb_shuffle_flops(const struct mb_kernel *k, const struct mb_point *p); /* 0: a permutation */
/* The state of a shuffle kernel: shapes, tensors, per-thread scratch rows (scratch_rows rows of w_out floats). */
struct mb_shuffle_state {
    struct mb_shuffle s;
    const float *in;
    float *out;
    int threads, stream;
    int64_t row;       /* floats per scratch row */
    float *scratch;    /* (threads, s.r, row) */
};
int mb_shuffle_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen);
void mb_shuffle_teardown(void *state);
double mb_shuffle_workspace(const struct mb_kernel *k, const struct mb_point *p);
#define MB_SHUFFLE_KERNEL                                                                                             \
    .family = &mb_family_vision, MB_KERNEL_SOURCE,                                                                    \
    .axes = MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width) |                  \
            MB_AXIS_BIT(scale),                                                                                       \
    .supports = mb_shuffle_supports, .setup = mb_shuffle_setup, .teardown = mb_shuffle_teardown, .flops = mb_shuffle_flops,                            \
    .bytes = mb_shuffle_bytes, .workspace_bytes = mb_shuffle_workspace

/* ------------------------------------------------------------------------------------------ interpolation */
/* What a vision.upsample kernel is: its coordinate map, and align_corners forced (nn.UpsamplingBilinear2d) or not. */
struct mb_upsample_variant {
    enum mb_interp_mode mode;
    int forced_align_corners; /* -1: the align_corners parameter; 0 or 1: fixed */
};

struct mb_upsample {
    int spatial;                 /* 1 (linear), 2, 3 (trilinear) */
    int64_t planes;              /* N C */
    int64_t in[3], out[3];       /* the spatial sizes, outermost first: (W), (H, W) or (D, H, W) */
    double scales[3];            /* the scale factor PyTorch passes to the kernel per axis (0 = none) */
};
/* The point's geometry: F.interpolate's checks (size xor scale factor, sizes > 0). 0 or -1 with one line. */
int mb_upsample_shape(const struct mb_point *p, struct mb_upsample *u, char *err, size_t errlen);
int mb_upsample_align_corners(const struct mb_kernel *k, const struct mb_point *p);
const struct mb_upsample_variant *mb_upsample_variant_of(const struct mb_kernel *k);

/* The models and the shared setup/run/teardown of every vision.upsample kernel (k->variant says which map). */
double mb_upsample_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_upsample_bytes(const struct mb_kernel *k, const struct mb_point *p);
double mb_upsample_workspace(const struct mb_kernel *k, const struct mb_point *p);
int mb_upsample_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen);
void mb_upsample_run(void *state);
void mb_upsample_teardown(void *state);

/* The declarations of the parameters of kernels: align_corners (linear modes), depth (trilinear). */
extern const struct mb_param_decl mb_upsample_align_param[1];
extern const struct mb_param_decl mb_upsample_trilinear_params[2];

#define MB_UPSAMPLE_AXES (MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width) | \
                          MB_AXIS_BIT(scale))
/* The descriptor fields every vision.upsample kernel shares. */
#define MB_UPSAMPLE_KERNEL                                                                                            \
    .family = &mb_family_vision_upsample, MB_KERNEL_SOURCE, .setup = mb_upsample_setup, .run = mb_upsample_run,       \
    .teardown = mb_upsample_teardown, .flops = mb_upsample_flops, .bytes = mb_upsample_bytes,                         \
    .workspace_bytes = mb_upsample_workspace

/* PixelShuffle(r)'s index map (torch.nn.PixelShuffle): out[n, c, h r + i, w r + j] = in[n, c r^2 + i r + j, h, w]:
   the input channel of output channel c at sub-pixel phase (i, j). Used by vision.pixel_shuffle and by the fused
   shuffle of vision.subpixel_conv. */
static inline int64_t mb_vision_shuffle_channel(int64_t c, int64_t i, int64_t j, int64_t r) {
    return c * r * r + i * r + j;
}

#endif
