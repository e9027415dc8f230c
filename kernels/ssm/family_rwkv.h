/* ssm.rwkv family: the WKV operator of RWKV-4 (Peng et al. 2023, "RWKV: Reinventing RNNs for the Transformer Era",
 * eq. 14-16; the official CUDA kernel wkv_cuda.cu).
 *
 * Tensors (float32, row-major, the CUDA kernel's argument names and layout):
 *   w  (C)            decay rate, positive (w = exp(time_decay); the official kernel is passed -exp(time_decay))
 *   u  (C)            bonus of the current token (time_first)
 *   k, v  (batch, T, C)
 *   y  (batch, T, C)  output
 *   y_t = [sum_{i<t} e^{-(t-1-i) w + k_i} v_i + e^{u + k_t} v_t] / [sum_{i<t} e^{-(t-1-i) w + k_i} + e^{u + k_t}]
 * per channel. Row (b, t) of y (C channels) is independent of the other rows: the oracle checks a seeded sample of
 * rows, each by the direct formula in double with log-sum-exp (max-shifted exponents): O(t C) per row.
 */
#ifndef MB_SSM_FAMILY_RWKV_H
#define MB_SSM_FAMILY_RWKV_H

#include "core/mechbench.h"
#include "ssm/family_ssm.h"

extern const struct mb_family mb_family_ssm_rwkv;

struct mb_rwkv {
    int64_t batch, T, C;
    const float *w, *u;  /* (C) */
    const float *k, *v;  /* (batch, T, C) */
    float *y;            /* (batch, T, C) */
};
void mb_rwkv_bind(struct mb_rwkv *r, struct mb_workload *w);
static inline double mb_rwkv_io_bytes(const struct mb_point *p) {
    return 4.0 * (3.0 * (double)p->batch * p->n * p->d + 2.0 * p->d);
}

/* The descriptor fields every ssm.rwkv kernel shares (designated initialisers). */
#define MB_RWKV_KERNEL                                                                                                 \
    .family = &mb_family_ssm_rwkv, .mechanism = "wkv", .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(batch),  \
    MB_KERNEL_SOURCE

#endif
