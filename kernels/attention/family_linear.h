/* Linear-attention helpers shared by the kernels of group "linear" (elu_rnn, elu_chunked, elu_decode, cos):
 * feature maps, the recurrent step, and the chunked (causal) / associative (non-causal) scheme parameterised by
 * the feature map. The double-precision oracles of the group's new mechanisms live in family_linear.c.
 *
 * Linear attention with feature map phi: R^d -> R^f (Katharopoulos et al. 2020, eq. 4-6):
 *   O_i = phi(q_i)^T S_i / (phi(q_i)^T z_i + eps),  S_i = sum_{j in A(i)} phi(k_j) v_j^T (f x d),
 *   z_i = sum_{j in A(i)} phi(k_j) (f),  A(i) = {j <= i} (causal) or all j,  eps = MB_ATTN_LINEAR_EPS.
 */
#ifndef MB_ATTENTION_FAMILY_LINEAR_H
#define MB_ATTENTION_FAMILY_LINEAR_H

#include "attention/family.h"

/* A feature map: phi of `rows` rows of x (rows, d) into y (rows, dim(d)). */
struct mb_lin_feature {
    const char *name;
    int64_t (*dim)(int64_t d);
    void (*map)(const float *x, float *y, int64_t rows, int64_t d);
    /* the same map for the chunked kernels, NULL = map; elu + 1: e^x by harness/core/vexp.h in the AVX-512 copy
     * (1.7e-7 relative against SLEEF's u10 in map; the RNN baseline keeps map) */
    void (*map_fast)(const float *x, float *y, int64_t rows, int64_t d);
};
extern const struct mb_lin_feature mb_lin_feature_elu1; /* phi(x) = elu(x) + 1, f = d */
extern const struct mb_lin_feature mb_lin_feature_cos;  /* phi(x) = [1, x/|x|] (0 for x = 0), f = d + 1 */

/* One recurrent step (RNN form) of one head, in float:
 *   S_out = S_in + phi_k v^T,  z_out = z_in + phi_k,  out = phi_q^T S_out / (phi_q^T z_out + eps).
 * S (f, d), z (f). S_out may equal S_in (in place). 4 f d + 4 f FLOPs. */
void mb_lin_rnn_step(const float *S_in, const float *z_in, float *S_out, float *z_out, const float *phi_k,
                     const float *v, const float *phi_q, int64_t f, int64_t d, float *out);

/* The chunked scheme: chunks of C rows. One implementation for several kernels: k->variant is the feature map
 * (a struct mb_lin_feature).
 * Non-causal: every (head, chunk) pair is an independent task in each phase; the features of a chunk are computed
 * into per-thread scratch where they are used.
 *   1. per chunk: phi(K_c); U_c = phi(K_c)^T V_c (sgemm), u_c = colsum phi(K_c)
 *   2. per head: an exclusive prefix over the chunks, whose last slot is the total S = sum_c U_c, z = sum_c u_c
 *   3. per chunk: O_c = phi(Q_c) S (sgemm), each row divided by phi(q_i).z + eps.
 * Causal (family_linear_causal.c): one loop per head (or per segment of a head when heads < threads) over its
 * chunks in order, the state S, z carried in cache: O_c = [tril(phi(Q_c) phi(K_c)^T) V_c + phi(Q_c) S] / [row sums
 * + phi(Q_c) z + eps], then S += phi(K_c)^T V_c, z += colsum phi(K_c). */
/* Default chunk: 64 rows; causal on a CPU running AVX-512 on 256-bit units (Zen 4), 8. The chunked form costs
   4 n d^2 + 2 n C d FLOPs against the recurrence's 4 n d^2; half-width FMA units slow its compute-bound products far
   more than the recurrence (bound by L1 loads and stores of its state), so there the extra 2 n C d must shrink.
   Chunks of 4..12 rows (even) run phi(Q_c) S and the state update in one register-blocked pass over S
   (family_linear_causal.c, fused_state_rows). At n = 16384, d = 64, 8 heads, 1 thread (ms), Zen 4:
   - the GEMMs only: rnn 47.5-52.3, C = 16 43.2-44.8, 32 44.0-49.7, 64 47.0-50.5;
   - with the fused pass, another day: rnn 39.9-43.2, C = 16 42.3-44.6, 12 36.8-42.5, 10 33.7-38.1, 8 34.6-37.5,
     6 34.3-34.5.
   On the 512-bit machine of an earlier session, C = 64 ran at 0.74 of rnn. */
#define MB_LIN_DEFAULT_CHUNK 64
#define MB_LIN_DEFAULT_CHUNK_CAUSAL_256BIT 8
int64_t mb_lin_chunk_size(const struct mb_point *p); /* p->block, or the default; at most n */
int mb_lin_chunked_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen);
void mb_lin_chunked_run(void *state);
void mb_lin_chunked_teardown(void *state);
double mb_lin_chunked_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_lin_chunked_bytes(const struct mb_kernel *k, const struct mb_point *p);
double mb_lin_chunked_workspace(const struct mb_kernel *k, const struct mb_point *p);

/* The causal loop (family_linear_causal.c). scratch: mb_lin_causal_scratch(C, f) floats per thread.
 * causal_sum:  S (f, d) += phi(K)^T V, z (f) += colsum phi(K) over `len` rows of k, v (len, d).
 * causal_rows: out (len, d) = the causal rows of the `len` rows q, k, v after the state S, z of the rows before
 *              them; S, z are advanced past the rows. */
size_t mb_lin_causal_scratch(int64_t C, int64_t f);
void mb_lin_causal_sum(const struct mb_lin_feature *phi, const float *k, const float *v, int64_t len, int64_t d,
                       int64_t C, float *S, float *z, float *scratch);
void mb_lin_causal_rows(const struct mb_lin_feature *phi, const float *q, const float *k, const float *v,
                        int64_t len, int64_t d, int64_t C, float *S, float *z, float *out, float *scratch);

/* The descriptor fields the chunked kernels share; a kernel file adds name, mechanism, summary, complexity (and
 * supports):  const struct mb_kernel mb_kernel_attention_linear_cos = { MB_LIN_CHUNKED_KERNEL(mb_lin_feature_cos), ... } */
#define MB_LIN_CHUNKED_KERNEL(PHI)                                                                                  \
    .family = &mb_family_attention, .approximates = "softmax", .axes = MB_ATTN_AXES | MB_AXIS_BIT(block),           \
    .variant = &(PHI), MB_KERNEL_SOURCE, .setup = mb_lin_chunked_setup, .run = mb_lin_chunked_run,                  \
    .teardown = mb_lin_chunked_teardown, .flops = mb_lin_chunked_flops, .bytes = mb_lin_chunked_bytes,              \
    .workspace_bytes = mb_lin_chunked_workspace

#endif
