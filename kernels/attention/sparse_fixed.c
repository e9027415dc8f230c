/* attention.sparse.fixed: the "fixed" pattern of the Sparse Transformer; only allowed entries are computed.
 *
 *   out_i = sum_{j in A(i)} softmax_j(q_i.k_j / sqrt(d)) v_j,  one softmax over A(i) = A1(i) U A2(i)
 *   A1 = {j : floor(j/l) == floor(i/l)}  (own block),  A2 = {j : j mod l >= l - c}  (summary columns)
 *   causal: also j <= i.   rank = l, block (0 = ceil(sqrt(n))); parameter c=C, summary width (default
 *   max(1, l/8), clamped to l)
 *
 * As for strided, the paper splits A1 and A2 across heads or layers; here one head attends to the union.
 * Shapes: Q, K, V, O (batch, heads, n, d). The rows of one block share their keys: gather (summary columns of
 * the other blocks, own block) once per block of rows and run sgemm, softmax (SLEEF exp), sgemm (causal: a
 * prefix); OpenMP over batch * heads * blocks. l < 8: per-row gathered dot products instead.
 * Cost: (4 d + 3) FLOPs per allowed (i, j): O(n (l + c n / l) d) time, O(n sqrt(n) d) at l = sqrt(n) and fixed c
 * (the default c = l/8 grows with l, so the summary part is then ~n^2/8 entries).
 * Approximates softmax. Source: Child et al. 2019, "Generating Long Sequences with Sparse Transformers", sec. 4.2.
 */
#include "attention/family_sparse.h"

static const struct mb_param_decl fixed_params[] = {
    {"c", MB_PARAM_INT, 0, 0, 1 << 30, NULL, "summary columns per block: j mod l >= l - c (0 = max(1, l/8))"},
};

const struct mb_kernel mb_kernel_attention_sparse_fixed = {
    .name = "attention.sparse.fixed",
    .mechanism = "sparse.fixed",
    MB_SPARSE_PATTERN_KERNEL(MB_SPARSE_FIXED),
    .summary = "Sparse Transformer fixed: own block of l U last c columns of every block; only those computed",
    .complexity = "O(n (l + c n/l) d) time = O(n sqrt(n) d) at l = sqrt(n) and fixed c, O(n d) workspace per thread",
    .rank_meaning = "l, block: floor(j/l) == floor(i/l) or j mod l >= l-c (0 = ceil(sqrt(n)); param c)",
    .params = fixed_params,
    .n_params = (int)(sizeof fixed_params / sizeof fixed_params[0]),
};
