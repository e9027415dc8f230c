/* GAU / FLASH family (Hua et al. 2022, "Transformer Quality in Linear Time"; Su, kexue.fm 8934): one layer of
 * each block, forward only, no residual and no normalisation (all kernels alike).
 *
 * Tensors (PyTorch layout, float32, row-major; weights as in `y = x @ w`, i.e. (in, out)):
 *   x        (batch, n, d)   input tokens, N(0, 1)
 *   w_u, w_v (d, e)          GLU / GAU gate and value projections       N(0, 1/d)
 *   w_z      (d, s)          shared base of Q and K                       N(0, 1/d)
 *   w_o      (e, d)          output projection                            N(0, 1/e)
 *   gamma    (4, s)          per-dim scales of Q_quad, K_quad, Q_lin, K_lin (GAU uses rows 0, 1)   N(0, 1)
 *   beta     (4, s)          per-dim offsets, same rows                                             N(0, 0.1^2)
 *   w_q, w_k, w_v_attn, w_o_attn (d, d)   baseline multi-head attention (heads = d / 64)           N(0, 1/d)
 *   w_1      (d, 4d), w_2 (4d, d)         baseline FFN (GELU, erf form)                  N(0, 1/fan_in)
 *   out      (batch, n, d)   output
 * The layout is a superset: every kernel of the family gets (and `mechbench eval` reads) all of them.
 * Row (b, i) of `out` is checked against a per-token double-precision oracle (a seeded sample at large n).
 *
 * Axes: n, d, batch, causal, rank = s (0 = 128), block = FLASH chunk c (0 = 256).
 * Params: e=E (default 2d), norm=su|paper (default su): the quadratic attention weights
 *   su:    relu(q.k / sqrt(s))^2 / L        paper: relu(q.k / L + b)^2 with b = 0 (no relative-position bias)
 * with L = n for GAU (causal too, as in the paper's pseudo-code) and L = c inside FLASH's chunks.
 */
#ifndef MB_GAU_FAMILY_H
#define MB_GAU_FAMILY_H

#include "core/mechbench.h"

#include <math.h>

#define MB_GAU_S_DEFAULT 128
#define MB_GAU_C_DEFAULT 256
#define MB_GAU_HEAD_DIM 64 /* baseline MHA head size: heads = d / 64 */

extern const struct mb_family mb_family_gau;
extern const struct mb_probe mb_gau_probes[1]; /* probes.c: gau_params */

enum mb_gau_norm { MB_GAU_NORM_SU, MB_GAU_NORM_PAPER };

/* Input tensor indices in w->inputs (fixed order). */
enum mb_gau_input {
    MB_GAU_X, MB_GAU_W_U, MB_GAU_W_V, MB_GAU_W_Z, MB_GAU_W_O, MB_GAU_GAMMA, MB_GAU_BETA,
    MB_GAU_W_Q, MB_GAU_W_K, MB_GAU_W_V_ATTN, MB_GAU_W_O_ATTN, MB_GAU_W_1, MB_GAU_W_2, MB_GAU_N_INPUTS
};

struct mb_gau {
    int64_t batch, n, d, s, e, c;  /* c: FLASH chunk */
    int causal;
    enum mb_gau_norm norm;
    const float *x;                /* (batch, n, d) */
    const float *w_u, *w_v, *w_z, *w_o, *gamma, *beta;
    const float *w_q, *w_k, *w_v_attn, *w_o_attn, *w_1, *w_2;
    float *out;                    /* (batch, n, d) */
};
void mb_gau_bind(struct mb_gau *g, struct mb_workload *w);

/* Point helpers: s, e, c with their defaults; norm from params (su when absent or invalid). */
int64_t mb_gau_s(const struct mb_point *p);
int64_t mb_gau_e(const struct mb_point *p);
int64_t mb_gau_c(const struct mb_point *p);
enum mb_gau_norm mb_gau_norm_of(const struct mb_point *p);

/* Trainable parameters of one block of `mechanism` ("glu_ffn", "gau", "flash", "mha_ffn") at p (no biases):
 *   glu_ffn 3de; gau 3de + ds + 4s; flash 3de + ds + 8s; mha_ffn 4d^2 + 8d^2 = 12 d^2. */
double mb_gau_param_count(const char *mechanism, const struct mb_point *p);

/* Quadratic attention weight of raw score q.k: relu(qk/sqrt(s))^2/L (su) or relu(qk/L)^2 (paper). */
static inline float mb_gau_quad_scale(enum mb_gau_norm norm, int64_t s, int64_t len, float *post) {
    /* returns the pre-scale a, sets *post: weight = relu(a * qk)^2 * post */
    if (norm == MB_GAU_NORM_PAPER) { *post = 1.0f; return 1.0f / (float)len; }
    *post = 1.0f / (float)len;
    return 1.0f / sqrtf((float)s);
}

/* Vectorised (SLEEF) elementwise maps, in place on len floats. */
void mb_gau_silu(float *x, int64_t len);
void mb_gau_gelu(float *x, int64_t len);             /* 0.5 x (1 + erf(x / sqrt 2)) */
void mb_gau_relu2(float *x, int64_t len, float pre, float post); /* x <- post * relu(pre x)^2 */
/* z (rows x s) -> q = z * gamma[row_q] + beta[row_q], k likewise with row_k (rows x s each) */
void mb_gau_affine(const struct mb_gau *g, const float *z, int64_t rows, int row, float *out);
/* a[i] *= b[i] */
void mb_gau_mul(float *a, const float *b, int64_t len);

/* y (rows x k) = act(x (rows x d) @ w (d x k)), act = silu; sgemm, single-threaded (call inside OpenMP). */
void mb_gau_proj_silu(const float *x, int64_t rows, int64_t d, const float *w, int64_t k, float *y);

/* Oracle of one mechanism, double precision: out (count x d) = output rows tok[0..count) (ascending) of batch
 * element b. Returns 0, or -1 when out of memory. Listed in kernels/gau/mechanisms.def. */
typedef int (*mb_gau_oracle_fn)(const struct mb_gau *g, int64_t b, const int64_t *tok, int64_t count, double *out);
#define MB_GAU_MECHANISM(name, formula, tolerance, oracle) \
    int oracle(const struct mb_gau *g, int64_t b, const int64_t *tok, int64_t count, double *out);
#include "mechanisms.def"
#undef MB_GAU_MECHANISM

/* The check hands the oracle at most MB_GAU_ORACLE_ROWS rows per call, so its memory does not grow with the number of
 * rows checked. mb_gau_oracle_bytes: the peak bytes of one oracle call of `mechanism` at p (float64 copies of the
 * weights, per-row and per-key-block buffers) plus the check's own; the check runs after the kernel's teardown, so a
 * kernel's workspace model is at least this. */
#define MB_GAU_ORACLE_ROWS 256
double mb_gau_oracle_bytes(const char *mechanism, const struct mb_point *p);

/* Bytes of x, out and the weights `mechanism` reads at p (for byte models). */
double mb_gau_io_bytes(const struct mb_point *p, const char *mechanism);
/* Projection FLOPs of the U, V, Z (silu) parts: 2 n d (2e + s) per batch element, times batch. */
double mb_gau_proj_flops(const struct mb_point *p, int with_z);

#endif
