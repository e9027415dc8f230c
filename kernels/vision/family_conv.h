/* vision.conv_transpose2d and vision.subpixel_conv families (family_conv.c): PyTorch semantics, N, C, H, W float32.
 *
 * ConvTranspose2d (torch.nn.ConvTranspose2d; Dumoulin & Visin 2016, "A guide to convolution arithmetic", Sec. 4):
 *   input (batch, C_in, H, W), weight (C_in, C_out / groups, k, k), bias (C_out) -> out (batch, C_out, H', W')
 *   y[n, g cog + co, h s - p + a dil, w s - p + b dil] += x[n, g cig + ci, h, w] W[g cig + ci, co, a, b]   (+ bias)
 *   H' = (H - 1) s - 2 p + dil (k - 1) + output_padding + 1   (the same for W')
 *   (cig = C_in / groups, cog = C_out / groups). Equal to inserting s - 1 zeros between input pixels, padding by
 *   dil (k - 1) - p (+ output_padding at the bottom/right), then a stride-1 convolution with the flipped,
 *   transposed kernel Wf[co, ci, a, b] = W[ci, co, k - 1 - a, k - 1 - b].
 * Axes: batch, channels = C_in, height, width, ksize = k, scale = the stride when the `stride` param is 0 (so a sweep
 * over r lays the rows of subpixel_conv and of its equivalent transposed convolution on the same x axis). Params
 * (PyTorch's names): out_channels (0 = C_in), stride (0 = scale), padding, output_padding, groups, dilation.
 *
 * Sub-pixel convolution (ESPCN; Shi et al. 2016, "Real-time single image and video super-resolution ...", eq. 4):
 *   input (batch, C_in, H, W), weight (C r^2, C_in, k, k), bias (C r^2) -> out (batch, C, H r, W r)
 *   out = PixelShuffle(r)(conv2d(input, weight, bias, padding = k / 2)), k odd (a "same" convolution).
 * Axes: batch, channels = C_in, height, width, ksize = k, scale = r. Param: out_channels = C (0 = C_in).
 */
#ifndef MB_VISION_FAMILY_CONV_H
#define MB_VISION_FAMILY_CONV_H

#include "core/mechbench.h"
#include "vision/family.h" /* mb_vision_shuffle_channel */

extern const struct mb_family mb_family_vision_conv_transpose2d;
extern const struct mb_family mb_family_vision_subpixel_conv;
extern const struct mb_probe mb_vision_checkerboard_probes[1];
extern const struct mb_probe mb_vision_subpixel_probes[1];
/* The overlap count map of checkerboard_probes.c (Odena et al. 2016): ConvTranspose2d(k, stride, padding 0) of a
   constant-one size x size input with an all-ones kernel (resize: nearest x stride, then a k x k all-ones conv with
   padding k / 2). *map: rows x cols, malloc'd (caller frees). Returns 0 or -1 with a message. */
int mb_vision_overlap_map(int64_t k, int64_t stride, int resize, int64_t size, float **map, int64_t *rows,
                          int64_t *cols, char *err, size_t errlen);

enum { MB_VCONV_INPUT, MB_VCONV_WEIGHT, MB_VCONV_BIAS };

/* The shape of one transposed convolution (every size validated by mb_convt_shape). */
struct mb_convt_shape {
    int64_t batch, c_in, c_out, groups, h, w, k, stride, pad, out_pad, dil, h_out, w_out;
};
/* From the point's axes and params; -1 with one line naming the bad value and what is allowed. */
int mb_convt_shape(const struct mb_point *p, struct mb_convt_shape *s, char *err, size_t errlen);
/* The kernels' supports: 1 with the reason when mb_convt_shape refuses the point. */
int mb_convt_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len);
/* The same checks on explicit values (the probe builds shapes by hand). */
int mb_convt_shape_check(struct mb_convt_shape *s, char *err, size_t errlen);

/* Bound tensors of a transposed convolution. */
struct mb_convt {
    struct mb_convt_shape s;
    const float *x, *weight, *bias; /* input (batch, C_in, H, W), weight (C_in, C_out/groups, k, k), bias (C_out) */
    float *out;                     /* (batch, C_out, H', W') */
};
void mb_convt_bind(struct mb_convt *c, const struct mb_workload *w);

/* The shape of one sub-pixel convolution. */
struct mb_subpixel_shape {
    int64_t batch, c_in, c_out, r, h, w, k; /* c_out = C, the channels after the shuffle */
};
int mb_subpixel_shape(const struct mb_point *p, struct mb_subpixel_shape *s, char *err, size_t errlen);
int mb_subpixel_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len);

/* The exact weight mapping from a sub-pixel convolution (k odd, r) to the transposed convolution that computes the
 * same output: kernel K = r k, stride r, padding P = r (k - 1) / 2, C_out = C, groups 1. Derivation: the sub-pixel
 * layer gives out[c, h r + i, w r + j] = b[m] + sum_{ci, a, b} Wc[m, ci, a, b] x[ci, h + a - p, w + b - p] with
 * m = c r^2 + i r + j, p = (k - 1) / 2. The transposed convolution gives y[c, Y, X] = sum over input pixels
 * (h', w') and taps (A, B) with h' r - P + A = Y, w' r - P + B = X of x[ci, h', w'] Wt[ci, c, A, B]. With
 * h' = h + a - p and Y = h r + i: A = i + (p - a) r + P; the smallest (a = k - 1, i = 0) is 0 when P = p r, and then
 * A = i + (k - 1 - a) r covers [0, r k) once each (i = A mod r, a = k - 1 - A div r); the same for B. So
 *   Wt[ci, c, i + (k - 1 - a) r, j + (k - 1 - b) r] = Wc[c r^2 + i r + j, ci, a, b],
 * H' = (H - 1) r - 2 P + r k = H r, and out-of-range h' are the convolution's zero padding on both sides. Biases:
 * ConvTranspose2d has one per c, the sub-pixel layer one per (c, i, j): they agree when b is constant over the r^2
 * phases of each c (bt[c] = b[c r^2]). wt: C_in x C x (r k)^2 floats. */
void mb_subpixel_to_convt_weight(const struct mb_subpixel_shape *s, const float *wc, float *wt);

/* Models. Transposed convolution, the useful multiply-adds: 2 batch C_in (C_out/groups) k^2 H W (each input pixel
   meets each tap once); the zero-insertion form's: 2 batch C_out (C_in/groups) k^2 H' W' (zeros multiplied too,
   about s^2 times more). Sub-pixel: 2 batch (C r^2) C_in k^2 H W. Bytes: the tensors once. */
double mb_convt_flops_useful(const struct mb_kernel *k, const struct mb_point *p);
double mb_convt_flops_zero_insert(const struct mb_kernel *k, const struct mb_point *p);
double mb_convt_bytes(const struct mb_kernel *k, const struct mb_point *p);
double mb_subpixel_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_subpixel_bytes(const struct mb_kernel *k, const struct mb_point *p);

/* The lowered stride-1 convolution both the zero-insertion form and the sub-pixel convolution run, on rows
 * [r0, r1) of its output (width w_out):
 *   out[m, (y - r0) w_out + x] (+)= sum_{c, a, b} weight[m, (c k + a) k + b] src[c, y - pad + a dil, x - pad + b dil]
 * src (channels, hs, ws), zero outside; col: channels k^2 (r1 - r0) w_out floats of scratch (im2col), then one
 * sgemm: out (m_rows, ldo) gets beta * out + weight col. Runs in the calling thread. */
struct mb_conv_rows {
    const float *src;
    int64_t channels, hs, ws, k, pad, dil, w_out;
    const float *weight; /* (m_rows, channels k^2) */
    int64_t m_rows;
};
void mb_conv_rows(const struct mb_conv_rows *c, int64_t r0, int64_t r1, float *col, float *out, int64_t ldo,
                  float beta);
/* Rows per band so that one band's im2col scratch (cols_per_pixel x band pixels) stays near 1 MiB: at least 1. */
int64_t mb_conv_band_rows(int64_t cols_per_pixel, int64_t w_out, int64_t rows);

/* The scatter form, written as one GEMM per band of input rows (cols = W^T X) and a col2im that adds each column
 * into the output pixels its taps hit; the threads split the output channels (no two threads write one pixel).
 * Used by vision.conv_transpose2d.scatter and by the checkerboard probe. col: per thread, mb_convt_col_floats. */
void mb_convt_scatter(const struct mb_convt *c, float *col, int64_t col_floats_per_thread, int threads);
int64_t mb_convt_col_floats(const struct mb_convt_shape *s, int threads);

#endif
