/* attention.sparse.local: sliding-window softmax attention; only the window's entries are computed.
 *
 *   out_i = sum_{j in A(i)} softmax_j(q_i.k_j / sqrt(d)) v_j
 *   A(i) = {j : |i - j| <= w}          causal: {j : i - w <= j <= i}          (rank = w, 0 = default 64)
 *
 * Shapes: Q, K, V, O (batch, heads, n, d). Blocks of 64 query rows: S = Q_blk K_run^T over the contiguous keys of
 * their windows (sgemm, read in place, <= 64 + 2w columns), each row masked to its window, softmax (SLEEF exp),
 * O = P V_run (sgemm); OpenMP over batch * heads * row blocks. w < 8: per-row gathered dot products instead
 * (family_sparse.c). Model: (4 d + 3) FLOPs per allowed (i, j) (the block pass executes up to (64 + 2w)/(2w + 1)
 * times that), i.e. O(n w d) time, O(n d) workspace per thread. With w >= n it is exact softmax attention.
 * Approximates softmax (its error vs exact softmax is recorded). Source: Beltagy et al. 2020, "Longformer", sec.
 * 3.1 (sliding window); Child et al. 2019; kexue.fm/archives/6853 ("Local Self Attention").
 */
#include "attention/family_sparse.h"

const struct mb_kernel mb_kernel_attention_sparse_local = {
    .name = "attention.sparse.local",
    .mechanism = "sparse.local",
    MB_SPARSE_PATTERN_KERNEL(MB_SPARSE_LOCAL),
    .summary = "sliding-window softmax attention |i-j| <= w (causal i-w <= j <= i); only the window is computed",
    .complexity = "O(n w d) time, O(n d) workspace per thread",
    .rank_meaning = "w, window half-width: |i-j| <= w (0 = 64)",
};
