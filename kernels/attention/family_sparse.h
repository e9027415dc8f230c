/* Sparse attention patterns (group "sparse"): the allowed sets, their key lists and counts, the masked-softmax
 * oracle, and the row engine shared by the pattern kernels (sparse_local.c, sparse_atrous.c, sparse_strided.c,
 * sparse_fixed.c) and by sparse_topk.c.
 *
 * Every kernel of the group computes, for row i of one head,
 *   out_i = sum_{j in A(i)} e^{s_ij - m} v_j / sum_{j in A(i)} e^{s_ij - m},  s_ij = q_i.k_j / sqrt(d),
 * only over the allowed set A(i); an empty A(i) gives out_i = 0. Patterns (l = the resolved rank):
 *   LOCAL    |i - j| <= w                              causal: i - w <= j <= i
 *   ATROUS   (i - j) mod l == 0                        causal: also j <= i
 *   STRIDED  |i - j| < l  or  (i - j) mod l == 0       causal: i - l < j <= i  or  ((i - j) mod l == 0, j <= i)
 *   FIXED    floor(j/l) == floor(i/l)  or  j mod l >= l - c                    causal: also j <= i
 */
#ifndef MB_ATTENTION_FAMILY_SPARSE_H
#define MB_ATTENTION_FAMILY_SPARSE_H

#include "attention/family.h"

enum mb_sparse_kind { MB_SPARSE_LOCAL, MB_SPARSE_ATROUS, MB_SPARSE_STRIDED, MB_SPARSE_FIXED };
#define MB_SPARSE_KIND_COUNT (MB_SPARSE_FIXED + 1)

/* A pattern kernel's variant data (k->variant): which pattern, and what rank = 0 means. One entry per kind; the
 * mechanism oracles (sparse.local ...) read the same table. */
struct mb_sparse_pattern {
    enum mb_sparse_kind kind;
    int64_t default_l; /* l at rank = 0; 0: ceil(sqrt(n)) */
};
extern const struct mb_sparse_pattern mb_sparse_patterns[MB_SPARSE_KIND_COUNT]; /* indexed by kind */

#define MB_SPARSE_TOPK_DEFAULT_K 32

/* A resolved pattern of one point: defaults applied (rank = 0 -> the pattern's default). */
struct mb_sparse {
    enum mb_sparse_kind kind;
    int64_t n;
    int causal;
    int64_t l; /* window w (LOCAL), dilation (ATROUS), stride (STRIDED), block (FIXED); >= 1 */
    int64_t c; /* FIXED: summary columns per block, 1 <= c <= l */
};

/* Resolve the pattern of point p (reads n, causal, rank and, for FIXED, the declared parameter c; p parsed). */
void mb_sparse_resolve(struct mb_sparse *sp, const struct mb_sparse_pattern *pattern, const struct mb_point *p);
/* The formula: is key j allowed for query i? (direct, used by the oracle and the tests) */
int mb_sparse_allowed(const struct mb_sparse *sp, int64_t i, int64_t j);
/* idx[0..count) <- the allowed keys of row i, ascending (idx: room for n); returns count. */
int64_t mb_sparse_row_keys(const struct mb_sparse *sp, int64_t i, int64_t *idx);
/* |A(i)| in O(1), and sum_i |A(i)| in O(n). */
int64_t mb_sparse_row_count(const struct mb_sparse *sp, int64_t i);
double mb_sparse_total_count(const struct mb_sparse *sp);

/* Masked-softmax oracle (double): exact softmax of row i of `head` restricted to {j : allowed(ctx, i, j)};
 * zeros when no key is allowed. scratch: room for n doubles. */
typedef int (*mb_sparse_allowed_fn)(const void *ctx, int64_t i, int64_t j);
void mb_sparse_oracle_masked(const struct mb_attn *a, int64_t head, int64_t i, mb_sparse_allowed_fn allowed,
                             const void *ctx, double *scratch, double *out);

/* Double-precision scaled score q.k / sqrt(d) (sum in index order), shared by the top-k oracle and the top-k
 * kernel's exact tie-break so that both select the same keys. */
double mb_sparse_score_double(const float *q, const float *k, int64_t d);

/* Row engine, fp32: out[0..d) = softmax(scores) V[idx], where scores[t] = scale * q.k_{idx[t]} are computed here
 * (AVX-512 dot products, 4 keys at a time) when compute_scores, else taken as given. scores: room for m floats
 * (overwritten by the probabilities). m = 0 gives zeros. */
void mb_sparse_attend_row(const float *q, const float *k, const float *v, int64_t d, float scale, const int64_t *idx,
                          int64_t m, int compute_scores, float *scores, float *out);

/* The pattern kernels' shared setup / run / teardown / models: one implementation, the pattern from
 * k->variant (a struct mb_sparse_pattern). run uses the block engine (sgemm on blocks of rows that share their
 * keys, see family_sparse.c) when blocks hold >= 8 rows, else the row engine above. Every point is supported. */
int mb_sparse_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen);
void mb_sparse_run(void *state);
void mb_sparse_teardown(void *state);
double mb_sparse_flops(const struct mb_kernel *k, const struct mb_point *p);     /* (4 d + 3) per allowed (i, j) */
double mb_sparse_workspace(const struct mb_kernel *k, const struct mb_point *p); /* key lists, panels */

/* The descriptor fields every pattern kernel shares; its file adds name, mechanism, summary, complexity,
 * rank_meaning (and params):
 *   const struct mb_kernel mb_kernel_attention_sparse_local = { MB_SPARSE_PATTERN_KERNEL(MB_SPARSE_LOCAL), ... }; */
#define MB_SPARSE_PATTERN_KERNEL(KIND)                                                                              \
    .family = &mb_family_attention, .approximates = "softmax", .axes = MB_ATTN_AXES | MB_AXIS_BIT(rank),            \
    .variant = &mb_sparse_patterns[KIND], MB_KERNEL_SOURCE, .setup = mb_sparse_setup, .run = mb_sparse_run,         \
    .teardown = mb_sparse_teardown, .flops = mb_sparse_flops, .bytes = mb_attn_io_bytes,                            \
    .workspace_bytes = mb_sparse_workspace

#endif
