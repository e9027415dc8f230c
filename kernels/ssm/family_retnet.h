/* ssm.retnet family: retention (Sun et al. 2023, "Retentive Network", eq. 1-7), raw: no xPos rotation, no
 * 1/sqrt(d) scaling, no GroupNorm, no swish gate (the paper applies those around the retention op; here the op
 * itself is benchmarked, so the three computation forms can be compared exactly).
 *
 * Tensors (PyTorch layout, float32, row-major; as attention):
 *   q, k, v  (batch, heads, n, d)   inputs, N(0, 1) / sqrt(d) for q and k (so q.k ~ N(0, 1)), N(0, 1) for v
 *   out      (batch, heads, n, d)
 * Per head h: decay g_h = 1 - 2^(-5-h);  out_i = sum_{j <= i} g^(i-j) (q_i . k_j) v_j
 *   parallel:   O = (Q K^T (.) D) V,  D_ij = g^(i-j) for i >= j else 0
 *   recurrent:  S_i = g S_{i-1} + k_i^T v_i (d x d),  o_i = q_i S_i
 *   chunkwise:  per chunk of B rows: O_c = (Q_c K_c^T (.) D) V_c + (xi (.) Q_c) S_{c-1},  xi_i = g^(i+1),
 *               S_c = g^B S_{c-1} + K_c^T (zeta (.) V_c),  zeta_j = g^(B-1-j)
 * Row (b, h, i) is independent of the others: the oracle checks a seeded sample of rows in double (decode kernels,
 * MB_KERNEL_LAST_ROW: the last row of every head).
 */
#ifndef MB_SSM_FAMILY_RETNET_H
#define MB_SSM_FAMILY_RETNET_H

#include <math.h>

#include "core/mechbench.h"
#include "ssm/family_ssm.h"

extern const struct mb_family mb_family_ssm_retnet;

struct mb_retnet {
    int64_t batch, heads, n, d;
    const float *q, *k, *v; /* (batch, heads, n, d) */
    float *out;             /* (batch, heads, n, d) */
};
void mb_retnet_bind(struct mb_retnet *r, struct mb_workload *w);
static inline int64_t mb_retnet_head_count(const struct mb_retnet *r) { return r->batch * r->heads; }
/* decay of flat head index (b * heads + h): g_h = 1 - 2^(-5-h) */
static inline double mb_retnet_gamma(const struct mb_retnet *r, int64_t head) {
    return 1.0 - ldexp(1.0, -5 - (int)(head % r->heads));
}
/* g^e in float, flushed to 0 below 1e-30 (no denormals in the timed loops; the dropped terms are < 1e-30 |q.k v|) */
static inline float mb_retnet_pow(double g, int64_t e) {
    double x = pow(g, (double)e);
    return x < 1e-30 ? 0.0f : (float)x;
}
double mb_retnet_io_bytes(const struct mb_point *p);
/* recurrent state update for one token: S (d x d) = g S + k^T v, then o = q S (o may be NULL) */
void mb_retnet_step(int64_t d, float g, float *S, const float *q, const float *k, const float *v, float *o);

/* The descriptor fields every ssm.retnet kernel shares (designated initialisers); extra_axes: 0 or e.g. block. */
#define MB_RETNET_KERNEL(extra_axes)                                                                                   \
    .family = &mb_family_ssm_retnet, .mechanism = "retention",                                                        \
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(heads) | MB_AXIS_BIT(batch) | (extra_axes), MB_KERNEL_SOURCE

#endif
