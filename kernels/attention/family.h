/* Attention family: shared layout, helpers and oracles for every attention kernel.
 *
 * Tensors (PyTorch layout, float32, row-major):
 *   q, k, v  (batch, heads, n, d)   inputs, N(0, 1) from the seed
 *   out      (batch, heads, n, d)   output
 * Row (b, h, i) of `out` depends only on row i of q and on k, v of the same (b, h): the oracle checks a seeded
 * sample of rows in double precision.
 */
#ifndef MB_ATTENTION_FAMILY_H
#define MB_ATTENTION_FAMILY_H

#include "mechbench.h"

#define MB_ATTN_LINEAR_EPS 1e-6f /* denominator guard of linear attention (Katharopoulos et al.) */

extern const struct mb_family mb_family_attention;

/* Shapes and pointers of an attention workload. Head (b, h) starts at offset (b * heads + h) * n * d. */
struct mb_attn {
    int64_t batch, heads, n, d;
    int causal;
    const float *q, *k, *v; /* (batch, heads, n, d) */
    float *out;             /* (batch, heads, n, d) */
};
void mb_attn_bind(struct mb_attn *a, struct mb_workload *w);
static inline int64_t mb_attn_head_count(const struct mb_attn *a) { return a->batch * a->heads; }
static inline int64_t mb_attn_head_stride(const struct mb_attn *a) { return a->n * a->d; }

/* In place: row[0..len) <- softmax(row[0..len)), vectorised exp (SLEEF). */
void mb_attn_softmax_row(float *row, int64_t len);
/* phi(x) = elu(x) + 1 = x + 1 for x > 0, exp(x) otherwise, elementwise, vectorised. */
void mb_attn_elu1(const float *x, float *y, int64_t len);

/* Workload size helpers for kernel models. */
double mb_attn_io_bytes(const struct mb_point *p); /* q, k, v, out */

#endif
