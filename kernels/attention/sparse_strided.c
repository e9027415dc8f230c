/* attention.sparse.strided: the "strided" pattern of the Sparse Transformer; only allowed entries are computed.
 *
 *   out_i = sum_{j in A(i)} softmax_j(q_i.k_j / sqrt(d)) v_j,  one softmax over A(i) = A1(i) U A2(i)
 *   causal:      A1 = {j : i - l < j <= i},  A2 = {j : (i - j) mod l == 0, j <= i}
 *   non-causal:  A1 = {j : |i - j| < l},     A2 = {j : |i - j| mod l == 0}
 *   rank = l, stride (0 = ceil(sqrt(n)))
 *
 * The paper splits A1 and A2 across heads or interleaved layers (its eq. for "strided attention"); here, as in
 * MECHANISMS.md, one head attends to the union with one softmax (the "merged" form of Child et al. sec. 4.2).
 * Shapes: Q, K, V, O (batch, heads, n, d). Two passes over blocks of 64 rows (sgemm, softmax, sgemm): the band
 * |i - j| < l on contiguous keys, keeping each row's softmax max and sum; then each residue class i mod l without
 * j = i (the only key in both sets), merged into the band's result by the two (max, sum) pairs, which gives the
 * one softmax over the union. l < 8 or < 8 rows per class: per-row gathered dot products instead.
 * Cost: (4 d + 3) FLOPs per allowed (i, j): O(n (l + n/l) d) time, O(n sqrt(n) d) with l ~ sqrt(n).
 * Approximates softmax. Source: Child et al. 2019, "Generating Long Sequences with Sparse Transformers", sec. 4.2.
 */
#include "attention/family_sparse.h"

const struct mb_kernel mb_kernel_attention_sparse_strided = {
    .name = "attention.sparse.strided",
    .mechanism = "sparse.strided",
    MB_SPARSE_PATTERN_KERNEL(MB_SPARSE_STRIDED),
    .summary = "Sparse Transformer strided: band |i-j| < l U every l-th key, one softmax; only those are computed",
    .complexity = "O(n (l + n/l) d) time = O(n sqrt(n) d) at l = sqrt(n), O(n d) workspace per thread",
    .rank_meaning = "l, stride: |i-j| < l or (i-j) mod l == 0 (0 = ceil(sqrt(n)))",
};
