/* basics.conv_bn family (family_conv_bn.c): a 2D convolution with or without a bias, then a normalisation.
 *
 *   z[n,o,i,j] = sum_{c,p,q} weight[o,c,p,q] input[n, c, i s - pad + p, j s - pad + q]  (+ bias[o])   (nn.Conv2d)
 *   norm=batch (nn.BatchNorm2d, training mode): per channel o, over (n, i, j): mean_o, biased var_o;
 *       out = (z - mean_o) / sqrt(var_o + eps) bn_weight[o] + bn_bias[o];
 *       running_mean' = (1 - m) running_mean + m mean_o, running_var' = (1 - m) running_var + m var_o M / (M - 1)
 *       (M = batch H' W', m = 0.1, eps = 1e-5: PyTorch's defaults)
 *   norm=layer (nn.LayerNorm(C_out) on channels-last): per position (n, i, j), over the C_out channels;
 *       out = (z - mean) / sqrt(var + eps) bn_weight[o] + bn_bias[o]    (no running statistics)
 * Shapes: input (batch, C_in, H, W), weight (C_out, C_in, k, k), bias (C_out; absent when use_bias=0), bn_weight,
 * bn_bias, running_mean, running_var (C_out; the last two only for norm=batch) -> out (batch, C_out, H', W') and,
 * for norm=batch, the updated running_mean, running_var. H' = floor((H + 2 pad - k) / stride) + 1.
 * Axes: batch, channels = C_in, n = C_out, height, width, ksize. Params: norm, use_bias, stride, padding.
 * A bias before BatchNorm is removed with the batch mean (out is the same with and without it); before a LayerNorm
 * over channels it is not (the bias differs across the channels being normalised). Source: Ioffe & Szegedy 2015,
 * Sec. 3.2 ("the bias b can be ignored"); the seed article 深度学习偏置的作用. */
#ifndef MB_BASICS_CONV_BN_H
#define MB_BASICS_CONV_BN_H

#include "core/mechbench.h"

extern const struct mb_family mb_family_basics_conv_bn;
extern const struct mb_kernel mb_kernel_basics_conv_bn_im2col; /* run by the conv_bias_effect probe */
extern const struct mb_probe mb_conv_bn_probes[1];

#define MB_NORM_EPS 1e-5
#define MB_BN_MOMENTUM 0.1
enum mb_norm { MB_NORM_BATCH, MB_NORM_LAYER }; /* the order of the param's values "batch|layer" */

struct mb_conv_bn {
    int64_t batch, c_in, c_out, h, w, k, stride, pad, h_out, w_out;
    enum mb_norm norm;
    int use_bias;
    const float *x, *weight, *bias;        /* input (batch, C_in, H, W), weight (C_out, C_in, k, k), bias or NULL */
    const float *gamma, *beta;             /* bn_weight, bn_bias (C_out) */
    const float *mean_in, *var_in;         /* running_mean, running_var (C_out); NULL for norm=layer */
    float *out, *mean_out, *var_out;       /* out (batch, C_out, H', W'); updated running stats or NULL */
};
void mb_conv_bn_bind(struct mb_conv_bn *cb, const struct mb_workload *w);
/* floor((in + 2 pad - k) / stride) + 1, or 0 when the kernel does not fit */
int64_t mb_conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad);

/* Models of the kernels: the convolution's 2 batch C_out H' W' C_in k^2 FLOPs plus the bias and the norm's passes;
   compulsory traffic of the tensors (out three times for BatchNorm: written, read for the statistics, rewritten). */
double mb_conv_bn_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_conv_bn_bytes(const struct mb_kernel *k, const struct mb_point *p);

#endif
