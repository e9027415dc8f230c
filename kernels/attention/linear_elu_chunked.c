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

#include <stdlib.h>

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (p->causal) return 0;
    mb_errorf(why, len, "causal only (the chunked causal form; the non-causal kernel is attention.linear.elu)");
    return 1;
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    return mb_lin_chunked_create(state, w, &mb_lin_feature_elu1, err, errlen);
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_lin_chunked_flops(p, p->d); }
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_lin_chunked_bytes(p, p->d); }
static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_lin_chunked_workspace(p, p->d); }

const struct mb_kernel mb_kernel_attention_linear_elu_chunked = {
    .name = "attention.linear.elu_chunked",
    .family = &mb_family_attention,
    .mechanism = "linear.elu",
    .approximates = "softmax",
    .summary = "causal linear attention, phi = elu + 1, chunked: masked intra-chunk block + prefix of chunk states (sgemm)",
    .complexity = "O(n d^2 + n C d) time, O((n/C) d^2 + threads C (C + d)) memory",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(heads) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(causal) |
            MB_AXIS_BIT(block),
    MB_KERNEL_SOURCE,
    .supports = supports,
    .setup = setup,
    .run = mb_lin_chunked_run,
    .teardown = mb_lin_chunked_destroy,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
