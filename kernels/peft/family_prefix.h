/* peft.prefix family (family_prefix.c): softmax attention with trained prefix keys and values (Prefix-Tuning).
 *
 *   q, k, v, out                (batch, heads, n, d)   the attention family's tensors and names
 *   prefix_key, prefix_value    (heads, L_p, d)        P_k, P_v: the trained prefix of every head, shared by the batch
 *   K' = [P_k; K],  V' = [P_v; V]   ((L_p + n) x d per head)
 *   out_i = sum_{j in S_i} e^{s_j - m} v'_j / sum_{j in S_i} e^{s_j - m},  s_j = q_i . k'_j / sqrt(d),  m = max s_j
 *   S_i = every prefix slot and every real token (non-causal), or every prefix slot and the real tokens j <= i
 *   (causal: the mask applies to the real tokens only; the prefix is visible to every token)
 * Axes: n, d, heads, batch, causal, rank = L_p (0 = ordinary softmax attention).
 * Source: Li & Liang 2021, "Prefix-Tuning: Optimizing Continuous Prompts for Generation", Sec. 4.2 (the prefix
 * activations P_idx of every layer, here the keys and values the attention reads; the MLP reparameterisation
 * P = MLP(P') of Sec. 4.3 is a training device and is not modelled).
 */
#ifndef MB_PEFT_FAMILY_PREFIX_H
#define MB_PEFT_FAMILY_PREFIX_H

#include "core/mechbench.h"

extern const struct mb_family mb_family_peft_prefix;

enum { MB_PREFIX_Q, MB_PREFIX_K, MB_PREFIX_V, MB_PREFIX_KEY, MB_PREFIX_VALUE };

/* Shapes and pointers of a prefix workload. Head (b, h) of q, k, v, out starts at (b * heads + h) * n * d, its
   prefix at h * L_p * d. */
struct mb_prefix {
    int64_t batch, heads, n, d, lp;
    int causal;
    const float *q, *k, *v;   /* (batch, heads, n, d) */
    const float *pk, *pv;     /* (heads, L_p, d) */
    float *out;               /* (batch, heads, n, d) */
};
void mb_prefix_bind(struct mb_prefix *a, const struct mb_workload *w);

#endif
