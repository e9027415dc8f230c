/* attention.linear.elu_rnn: causal linear attention (phi = elu + 1) in its recurrent (RNN) form.
 *
 *   S_i = S_{i-1} + phi(k_i) v_i^T    (d x d)        z_i = z_{i-1} + phi(k_i)    (d)
 *   O_i = phi(q_i)^T S_i / (phi(q_i)^T z_i + eps)                               eps = 1e-6
 *
 * Shapes: Q, K, V, O (batch, heads, n, d). Sequential in n within a head; OpenMP over batch*heads (a head count
 * below the team size leaves threads idle: that is the point of the chunked form). Each step is one fused pass
 * over S (rank-1 update and the read-out, vectorised over d): 4 d^2 + O(d) FLOPs, so O(n d^2) time, O(d^2) state.
 * Causal only: the non-causal form is attention.linear.elu.
 * Source: Katharopoulos et al. 2020, "Transformers are RNNs", sec. 3.4, eq. 16-20; kexue.fm/archives/7546.
 */
#include "attention/family_linear.h"

#include <stdlib.h>
#include <string.h>

struct elu_rnn {
    struct mb_attn a;
    float *phi;           /* (batch*heads, 2, d): phi(q_i), phi(k_i) of the current token */
    float *S;             /* (batch*heads, d, d) */
    float *z;             /* (batch*heads, d) */
};

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (p->causal) return 0;
    mb_errorf(why, len, "causal only (the recurrent form; the non-causal kernel is attention.linear.elu)");
    return 1;
}

static void release(struct elu_rnn *s) {
    mb_free(s->phi);
    mb_free(s->S);
    mb_free(s->z);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct elu_rnn *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    const size_t heads = (size_t)mb_attn_head_count(&s->a), d = (size_t)s->a.d;
    s->phi = mb_alloc(heads * 2 * d * sizeof(float));
    s->S = mb_alloc(heads * d * d * sizeof(float));
    s->z = mb_alloc(heads * d * sizeof(float));
    if (!s->phi || !s->S || !s->z) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for the recurrent state");
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct elu_rnn *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, heads = mb_attn_head_count(a);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t head = 0; head < heads; head++) {
        const int64_t off = head * n * d;
        float *S = s->S + head * d * d, *z = s->z + head * d, *phi_q = s->phi + head * 2 * d, *phi_k = phi_q + d;
        memset(S, 0, (size_t)(d * d) * sizeof(float));
        memset(z, 0, (size_t)d * sizeof(float));
        for (int64_t i = 0; i < n; i++) {
            mb_lin_feature_elu1.map(a->q + off + i * d, phi_q, 1, d);
            mb_lin_feature_elu1.map(a->k + off + i * d, phi_k, 1, d);
            mb_lin_rnn_step(S, z, S, z, phi_k, a->v + off + i * d, phi_q, d, d, a->out + off + i * d);
        }
    }
}

static void teardown(void *state) { release(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double n = (double)p->n, d = (double)p->d;
    return (double)p->batch * p->heads * n * (4.0 * d * d + 5.0 * d + 4.0 * d); /* steps + features */
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double d = (double)p->d;
    return 4.0 * (double)p->batch * p->heads * (d * d + 3.0 * d);
}

const struct mb_kernel mb_kernel_attention_linear_elu_rnn = {
    .name = "attention.linear.elu_rnn",
    .family = &mb_family_attention,
    .mechanism = "linear.elu",
    .approximates = "softmax",
    .summary = "causal linear attention, phi = elu + 1, recurrent form: S += phi(k) v^T, o = phi(q)^T S / phi(q)^T z",
    .complexity = "O(n d^2) time, O(d^2) state",
    .axes = MB_ATTN_AXES,
    MB_KERNEL_SOURCE,
    .supports = supports,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = mb_attn_io_bytes, /* io once; the d x d state and the current token's features stay in cache */
    .workspace_bytes = workspace,
};
