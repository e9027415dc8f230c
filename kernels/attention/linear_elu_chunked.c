/* attention.linear.elu_chunked: causal linear attention (phi = elu + 1) in chunked form (GEMM-shaped).
 *
 * Chunks of C rows (C = the block axis, 0 = 64), in order within a head, with the state of the rows before the
 * chunk, S = sum_{j < i0} phi(k_j) v_j^T (d x d) and z = sum_{j < i0} phi(k_j):
 *   O_c = [tril(phi(Q_c) phi(K_c)^T) V_c + phi(Q_c) S] / [rowsum tril(phi(Q_c) phi(K_c)^T) + phi(Q_c) z + eps]
 *   S += phi(K_c)^T V_c,  z += colsum phi(K_c)
 * (tril keeps j <= i, diagonal included). One cache-resident loop per head: S, z, the chunk's features and its
 * C x C block stay in L1/L2; the four products are register-blocked AVX-512 micro-kernels (6 x 64 tiles; the score
 * and A V tiles stop at the diagonal), e^x of elu by vexp.h. With fewer heads than threads, each head is cut into
 * segments started from a prefix of the earlier segments' phi(K)^T V. Shared with attention.linear.cos:
 * kernels/attention/family_linear.c, family_linear_causal.c.
 * Cost per head: ~4 n d^2 + 2 n C d (intra-chunk, lower triangle) + O(n d) FLOPs (+ 2 n d^2 (s - 1) / s with s
 * segments), memory O(s d^2 + threads C (C + d)).
 * Equals the recurrent form (attention.linear.elu_rnn) up to fp32 rounding. Causal only.
 * Source: Katharopoulos et al. 2020 (eq. 16-20); the chunkwise form as in Hua et al. 2022 (FLASH, sec. 3.2) and
 * Sun et al. 2023 (RetNet, chunkwise recurrence); kexue.fm/archives/7546.
 */
#include "attention/family_linear.h"

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (p->causal) return 0;
    mb_errorf(why, len, "causal only (the chunked causal form; the non-causal kernel is attention.linear.elu)");
    return 1;
}

const struct mb_kernel mb_kernel_attention_linear_elu_chunked = {
    .name = "attention.linear.elu_chunked",
    .mechanism = "linear.elu",
    MB_LIN_CHUNKED_KERNEL(mb_lin_feature_elu1),
    .summary = "causal linear attention, phi = elu + 1, chunked: masked intra-chunk block + running state, per head in cache",
    .complexity = "O(n d^2 + n C d) time, O(d^2 + threads C (C + d)) memory",
    .supports = supports,
};
