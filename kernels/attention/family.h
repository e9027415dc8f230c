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

#include "core/mechbench.h"

#define MB_ATTN_LINEAR_EPS 1e-6f /* denominator guard of linear attention (Katharopoulos et al.) */

extern const struct mb_family mb_family_attention;

/* The axes every attention kernel reads (a kernel adds rank or block when it reads them). */
#define MB_ATTN_AXES (MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(heads) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(causal))

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

/* Row oracle of one mechanism, double precision: out[0..d) = output row i of head `head` (0 .. batch*heads-1).
 * scratch: room for n doubles. Listed in kernels/attention/mechanisms.def. */
typedef void (*mb_attn_oracle_fn)(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i,
                                  double *scratch, double *out);
#define MB_ATTN_MECHANISM(name, formula, tolerance, oracle) \
    void oracle(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i, double *scratch, \
                double *out);
#include "mechanisms.def"
#undef MB_ATTN_MECHANISM

/* Oracle helper: out = sum_{j <= last} weights[j] v_j / (sum_j weights[j] + denom_extra), v of one head. */
void mb_attn_weighted_rows(const struct mb_attn *a, const float *v, int64_t last, const double *weights,
                           double denom_extra, double *out);
/* Last key index row i may attend to: i when causal, n - 1 otherwise. */
static inline int64_t mb_attn_last_key(const struct mb_attn *a, int64_t i) { return a->causal ? i : a->n - 1; }

/* In place: row[0..len) <- softmax(row[0..len)), vectorised exp (SLEEF). */
void mb_attn_softmax_row(float *row, int64_t len);
/* phi(x) = elu(x) + 1 = x + 1 for x > 0, exp(x) otherwise, elementwise, vectorised. */
void mb_attn_elu1(const float *x, float *y, int64_t len);

/* Workload size helpers for kernel models. */
extern const struct mb_probe mb_attention_probes[3]; /* probes.c: performer_mse, recall, spectrum */
enum { MB_ATTN_INPUTS_NORMAL, MB_ATTN_INPUTS_RECALL }; /* values of params inputs= */
double mb_attn_io_bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p); /* q, k, v, out */

#endif
