/* vision interpolation helpers (interp.c): PyTorch's coordinate maps, the per-axis index/weight tables and the
 * separable row engine shared by the upsampling kernels.
 *
 * Coordinate maps, exactly as torch 1.13 (aten/src/ATen/native/UpSample.h, cpu/UpSampleKernel.cpp), in float where
 * PyTorch computes in float (`scale_factor` is the user's double, or none = 0):
 *   scale          = align_corners ? (float)(in - 1) / (out - 1)  (0 when out = 1)
 *                                  : scale_factor given ? (float)(1.0 / scale_factor) : (float)in / out
 *   linear source  = align_corners ? scale * dst : scale (dst + 0.5) - 0.5 in double (scale: the float above),
 *                    clamped at 0 (not for cubic); i0 = (int)src, i1 = i0 + (i0 < in - 1), lambda1 = (float)(src - i0),
 *                    lambda0 = 1 - lambda1 in float;
 *                    out == in: the identity (i0 = i1 = dst, lambda = 1, 0)
 *   nearest        = min(floorf(dst * scale), in - 1); out == in: dst; out == 2 in: dst >> 1
 *   nearest_exact  = min(floorf((float)((dst + 0.5) * scale)), in - 1)
 *   cubic          = i = floorf((float)src), t = (float)(src - i), taps clamp(i - 1 .. i + 2, 0, in - 1), Keys' weights with
 *                    A = -0.75 (W(x) = ((A+2)x - (A+3))x^2 + 1 for |x| <= 1, ((Ax - 5A)x + 8A)x - 4A for 1 < |x| < 2)
 * The double source coordinate and the float weights (with the fused multiply-adds of PyTorch's x86 build in the
 * cubic ones) were matched bit for bit against torch 1.13's weights (one-hot inputs), and the sums of products are
 * evaluated in its order with its fusions (a0 w0 + a1 w1 = fma(a0, w0, a1 w1), then + a2 w2, + a3 w3 fused).
 * Sources: PyTorch UpSample.h (area_pixel_compute_scale, area_pixel_compute_source_index, nearest_idx,
 * nearest_neighbor_exact_compute_source_index, get_cubic_upsample_coefficients); R. Keys 1981 (cubic convolution). */
#ifndef MB_VISION_INTERP_H
#define MB_VISION_INTERP_H

#include <stddef.h>
#include <stdint.h>

#define MB_CUBIC_A (-0.75)

float mb_interp_scale(int64_t in, int64_t out, int align_corners, double scale_factor);
double mb_interp_source(float scale, int64_t dst, int align_corners, int cubic);
int64_t mb_interp_nearest(int64_t dst, int64_t in, int64_t out, double scale_factor);
int64_t mb_interp_nearest_exact(int64_t dst, int64_t in, int64_t out, double scale_factor);
/* Linear taps of output index dst: idx[0..1], *lambda1 (the weight of idx[1]; idx[0] gets 1 - lambda1). */
void mb_interp_linear_taps(int64_t dst, int64_t in, int64_t out, float scale, int align_corners, int64_t idx[2],
                           float *lambda1);
/* Cubic taps of output index dst: idx[0..3] (clamped) and the fraction *t (the weights are Keys' of t). */
void mb_interp_cubic_taps(int64_t dst, int64_t in, int64_t out, float scale, int align_corners, int64_t idx[4],
                          float *t);
/* Keys' cubic-convolution weights of the fraction t, A = -0.75: float as PyTorch evaluates them, and in double. */
void mb_interp_cubic_weights(float t, float w[4]);
void mb_interp_cubic_weights_double(double t, double w[4]);

/* ------------------------------------------------------------------------------------------ tables */
enum mb_interp_mode { MB_INTERP_NEAREST, MB_INTERP_NEAREST_EXACT, MB_INTERP_LINEAR, MB_INTERP_CUBIC };
int mb_interp_taps(enum mb_interp_mode mode); /* 1, 1, 2, 4 */

/* One spatial axis: for each output index j, taps source indices and float weights, tap-major (index[t * out + j]).
 * Blocks of 16 outputs whose sources of each tap lie in a window of 32 consecutive inputs (upsampling) are read with
 * two vector loads and a two-register permutation instead of a gather: window[t * blocks + b] is the first input of
 * the window, lane[t * out + j] = index - window (NULL when some block does not fit). */
#define MB_INTERP_BLOCK 16
struct mb_interp_axis {
    int taps;
    int64_t in, out, blocks;
    int32_t *index;  /* (taps, out) */
    float *weight;   /* (taps, out) + a block of padding */
    int32_t *window; /* (taps, blocks) or NULL */
    int32_t *lane;   /* (taps, blocks * 16) */
};
/* Fill ax (allocates). scale_factor: the user's (0 = none). Returns 0 or -1 (out of memory). */
int mb_interp_axis_init(struct mb_interp_axis *ax, enum mb_interp_mode mode, int64_t in, int64_t out,
                        int align_corners, double scale_factor);
void mb_interp_axis_free(struct mb_interp_axis *ax);

/* ------------------------------------------------------------------------------------------ row engine */
/* out[plane, d, h, :] = sum_a wd_a sum_b wh_b (sum_c ww_c in[plane, id_a, ih_b, iw_c])  (PyTorch's order: the
 * innermost sum over the width taps first, each sum accumulated tap by tap). One output row (plane, d, h) at a time:
 * the width pass of each needed input row goes to a per-thread cache (an input row shared by neighbouring output
 * rows is interpolated once), then the height and depth taps combine cached rows. Unused axes (1-D, 2-D) have one
 * tap of weight 1 at index 0 and size 1. OpenMP over the rows (contiguous shares); large outputs are written with
 * non-temporal stores. */
#define MB_INTERP_CACHE_SLOTS 8
struct mb_interp_plan {
    int64_t planes;                  /* N * C */
    struct mb_interp_axis axis[3];   /* depth, height, width */
    int weighted;                    /* 0: every axis has one tap of weight 1 (nearest: a pure copy) */
    int stream;                      /* non-temporal stores of the output */
    const float *in;                 /* (planes, D, H, W) */
    float *out;                      /* (planes, D_out, H_out, W_out) */
    int threads;
    float *scratch;                  /* per thread: (MB_INTERP_CACHE_SLOTS + 5) rows of W_out */
    int64_t scratch_row;             /* floats per scratch row (W_out rounded up to 16) */
};
/* Build the tables of mode along each of the `spatial` last axes of (planes, in[]) -> (planes, out[]); scales: the
   user's scale factor per axis (0 = none). Allocates the per-thread cache. Returns 0 or -1 with a message. */
int mb_interp_plan_init(struct mb_interp_plan *pl, enum mb_interp_mode mode, int spatial, int64_t planes,
                        const int64_t *in, const int64_t *out, const double *scales, int align_corners,
                        const float *input, float *output, char *err, size_t errlen);
void mb_interp_plan_run(const struct mb_interp_plan *pl);
void mb_interp_plan_free(struct mb_interp_plan *pl);
double mb_interp_plan_workspace(int spatial, const int64_t *out, int taps);

/* Copy n floats to dst (non-temporal stores when stream; the caller fences with mb_vision_store_fence). */
void mb_vision_store_row(float *dst, const float *src, int64_t n, int stream);
void mb_vision_store_fence(void);
/* Outputs of at least this many bytes are written with non-temporal stores (they do not fit in the caches). */
#define MB_VISION_STREAM_BYTES (8.0 * 1024 * 1024)

#endif
