/* attention.linear.elu_chunked: causal linear attention (phi = elu + 1) in chunked form (GEMM-shaped).
 *
 * Chunks of C rows (C = the block axis, 0 = 64). With S_c = sum_{chunks c' < c} phi(K_c')^T V_c' (d x d) and
 * z_c = sum_{c' < c} colsum phi(K_c'):
 *   O_c = [tril(phi(Q_c) phi(K_c)^T) V_c + phi(Q_c) S_c] / [rowsum tril(phi(Q_c) phi(K_c)^T) + phi(Q_c) z_c + eps]
 * (tril keeps j <= i, diagonal included). Three parallel phases over all (head, chunk) pairs, so a single head
 * still uses every thread: per-chunk phi(K_c)^T V_c (sgemm), an exclusive prefix sum of the chunk states, then
 * every chunk's outputs (three sgemm). Shared with attention.linear.cos: kernels/attention/family_linear.c.
 * Cost per head: ~4 n d^2 + 4 n C d (intra-chunk, full C x C blocks) + O(n d) FLOPs, memory O((n / C) d^2 + threads C (C + d)).
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
    .summary = "causal linear attention, phi = elu + 1, chunked: masked intra-chunk block + prefix of chunk states (sgemm)",
    .complexity = "O(n d^2 + n C d) time, O((n/C) d^2 + threads C (C + d)) memory",
    .supports = supports,
};
