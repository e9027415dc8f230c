/* attention.sparse.atrous: dilated ("atrous") softmax attention; only every l-th key is computed.
 *
 *   out_i = sum_{j in A(i)} softmax_j(q_i.k_j / sqrt(d)) v_j
 *   A(i) = {j : |i - j| mod l == 0}    causal: also j <= i                    (rank = l, 0 = default 8)
 *
 * Shapes: Q, K, V, O (batch, heads, n, d). The pattern is dense attention within each residue class r = i mod l:
 * gather the rows r, r + l, ... of Q, K, V and run blocks of 64 of them through sgemm, softmax (SLEEF exp), sgemm
 * (causal: a prefix of the class); OpenMP over batch * heads * residues * blocks. Fewer than 8 rows per class:
 * per-row gathered dot products instead. Cost: (4 d + 3) FLOPs per allowed (i, j), i.e. O(n^2 d / l) time,
 * O(n d) workspace per thread. With l = 1 it is exact softmax attention.
 * Su's "sparse" attention (local U atrous, kexue.fm/archives/6853) with window l - 1 and dilation l is the
 * pattern of attention.sparse.strided (non-causal form), so it is not a separate kernel.
 * Approximates softmax. Source: kexue.fm/archives/6853 ("Atrous Self Attention"); Child et al. 2019 (strided A2).
 */
#include "attention/family_sparse.h"

const struct mb_kernel mb_kernel_attention_sparse_atrous = {
    .name = "attention.sparse.atrous",
    .mechanism = "sparse.atrous",
    MB_SPARSE_PATTERN_KERNEL(MB_SPARSE_ATROUS),
    .summary = "dilated softmax attention: keys with (i-j) mod l == 0 (causal j <= i); only those are computed",
    .complexity = "O(n^2 d / l) time, O(n d) workspace per thread",
    .rank_meaning = "l, dilation: (i-j) mod l == 0 (0 = 8)",
};
