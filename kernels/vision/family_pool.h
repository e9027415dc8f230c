/* vision.max_pool2d and vision.max_unpool2d families (family_pool.c): PyTorch semantics, N, C, H, W float32.
 *
 * MaxPool2d(kernel_size k, stride s, padding p, dilation d, ceil_mode, return_indices=True):
 *   input (batch, C, H, W) -> out, indices (batch, C, H', W');  per plane (n, c) and output (oh, ow):
 *   the window rows ih = oh s - p + a d, a in [0, k), kept when 0 <= ih < H (padding is never the max; the same
 *   for columns); out = the max of the window, indices = ih W + iw, its flat index into the H x W plane.
 *   Scanned row by row: a value replaces the running max when it is greater, or when it is NaN (so ties keep the
 *   first position, and the last NaN of a window wins and the output is NaN); the running max starts at -inf with
 *   the index of the window's first in-range element (a window of -inf returns that index).
 *   H' = floor((H + 2 p - d (k - 1) - 1 + (ceil_mode ? s - 1 : 0)) / s) + 1, minus 1 when ceil_mode and the last
 *   window would start at or past H + p. Requires p <= k / 2.
 *   Source: aten/src/ATen/native/cpu/MaxPoolKernel.cpp (cpu_max_pool), aten/src/ATen/native/Pool.h (1.13).
 * MaxUnpool2d(k, s, p), output_size: input, indices (batch, C, H, W) -> out (batch, C, H_o, W_o), zeros except
 *   out[n, c].flat[indices[n, c, h, w]] = input[n, c, h, w] (in scan order: a repeated index keeps the last value);
 *   default H_o = (H - 1) s - 2 p + k; output_size must lie strictly within default +- s.
 *
 * indices are a float32 tensor holding the int64 values exactly: every plane is refused above 2^24 elements, below
 * which every integer is a float (mb_tensor holds float data only; HDF5 converts PyTorch's int64 datasets on read).
 * Axes: batch, channels, height, width (of the pooled tensor, for unpooling), ksize. Params: stride (0 = kernel_size,
 * PyTorch's default), padding, dilation, ceil_mode (pooling), output_size (unpooling; 0 = default, else square).
 */
#ifndef MB_VISION_FAMILY_POOL_H
#define MB_VISION_FAMILY_POOL_H

#include "core/mechbench.h"

extern const struct mb_family mb_family_vision_max_pool2d;
extern const struct mb_family mb_family_vision_max_unpool2d;

#define MB_POOL_MAX_PLANE (INT64_C(1) << 24) /* elements of a plane whose flat indices floats hold exactly */

struct mb_pool_shape {
    int64_t batch, channels, h, w, k, stride, pad, dil, h_out, w_out;
    int ceil_mode;
};
/* The output size of one dimension, as PyTorch's pooling_output_shape. */
int64_t mb_pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, int ceil_mode);
int mb_pool_shape(const struct mb_point *p, struct mb_pool_shape *s, char *err, size_t errlen);
/* The kernels' supports: 1 with the reason when the shape is refused. */
int mb_pool_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len);
int mb_unpool_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len);

/* One (n, c) plane: x (H, W) -> values, indices (H', W'). */
void mb_max_pool2d_plane(const struct mb_pool_shape *s, const float *x, float *values, float *indices);

/* Unpooling: the pooled size h, w and the output size h_out, w_out. */
struct mb_unpool_shape {
    int64_t batch, channels, h, w, k, stride, pad, h_out, w_out;
};
int mb_unpool_shape(const struct mb_point *p, struct mb_unpool_shape *s, char *err, size_t errlen);

#endif
