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

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    return mb_sparse_supports(MB_SPARSE_FIXED, p, why, len);
}
static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    return mb_sparse_setup(state, w, MB_SPARSE_FIXED, err, errlen);
}
static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_sparse_flops(MB_SPARSE_FIXED, p); }
static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_sparse_workspace(MB_SPARSE_FIXED, p); }

const struct mb_kernel mb_kernel_attention_sparse_fixed = {
    .name = "attention.sparse.fixed",
    .family = &mb_family_attention,
    .mechanism = "sparse.fixed",
    .approximates = "softmax",
    .summary = "Sparse Transformer fixed: own block of l U last c columns of every block; only those computed",
    .complexity = "O(n (l + c n/l) d) time = O(n sqrt(n) d) at l = sqrt(n) and fixed c, O(n d) workspace per thread",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(heads) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(causal) |
            MB_AXIS_BIT(rank),
    .rank_meaning = "l, block: floor(j/l) == floor(i/l) or j mod l >= l-c (0 = ceil(sqrt(n)); param c)",
    .params = fixed_params,
    .n_params = (int)(sizeof fixed_params / sizeof fixed_params[0]),
    MB_KERNEL_SOURCE,
    .supports = supports,
    .setup = setup,
    .run = mb_sparse_run,
    .teardown = mb_sparse_teardown,
    .flops = flops,
    .bytes = mb_attn_io_bytes,
    .workspace_bytes = workspace,
};
