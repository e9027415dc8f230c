/* attention.linear.cos: linear attention with the "1 + cos" similarity (Su), causal and non-causal.
 *
 *   sim(q, k) = 1 + (q/|q|).(k/|k|) = phi(q).phi(k),  phi(x) = [1, x/|x|]  (dimension f = d + 1; x/|x| := 0 at 0)
 *   O_i = sum_{j in A(i)} sim(q_i, k_j) v_j / (sum_{j in A(i)} sim(q_i, k_j) + eps),  eps = 1e-6,
 *   A(i) = {j <= i} (causal) or all j.  sim >= 0 and bounded by 2, so no exp is needed.
 * Su's "Taylor" linear attention is the same function: the first-order expansion e^{q.k} ~ 1 + q.k is made
 * non-negative by l2-normalising q and k first, which gives exactly 1 + cos(q, k) (kexue.fm/archives/7546,
 * section "Taylor expansion"); one kernel therefore serves both "linear.cos" and "linear.taylor".
 * Non-causal: associative product phi(Q) (phi(K)^T V) (phi(K)^T V summed over chunks in parallel);
 * causal: the chunked scheme (masked intra-chunk block + running state per head, in cache), chunk C = block axis
 * (0 = 64). Both from kernels/attention/family_linear.c and family_linear_causal.c, shared with
 * attention.linear.elu_chunked. Shapes: Q, K, V, O (batch, heads, n, d). Cost per head: ~4 n (d+1) d
 * (+ n C (2d+1) causal) FLOPs, memory O((n / C) d^2 + threads C d) (non-causal), O(d^2 + threads C (C + d)) causal.
 * Source: Su Jianlin, "线性Attention的探索" (kexue.fm/archives/7546), 2020.
 */
#include "attention/family_linear.h"

const struct mb_kernel mb_kernel_attention_linear_cos = {
    .name = "attention.linear.cos",
    .mechanism = "linear.cos",
    MB_LIN_CHUNKED_KERNEL(mb_lin_feature_cos),
    .summary = "linear attention, sim = 1 + cos(q, k) (= normalised Taylor 1 + q.k), phi = [1, x/|x|]; chunked causal",
    .complexity = "O(n d^2) time (+ O(n C d) causal), O((n/C) d^2) memory (O(d^2 + threads C (C + d)) causal)",
};
