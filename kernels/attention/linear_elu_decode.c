/* attention.linear.elu_decode: one autoregressive decode step of causal linear attention (phi = elu + 1).
 *
 * Setup (untimed) plays the prompt, tokens 0 .. n-2, into the state (accumulated in double, stored in float):
 *   S_prev = sum_{j < n-1} phi(k_j) v_j^T  (d x d),   z_prev = sum_{j < n-1} phi(k_j)  (d)
 * Run (timed) is the step for the new token t = n-1, O(d^2) whatever n (the claim: O(1) per token in n):
 *   S_new = S_prev + phi(k_t) v_t^T,  z_new = z_prev + phi(k_t),  out_t = phi(q_t)^T S_new / (phi(q_t)^T z_new + eps)
 * S_new is a separate buffer, so every timed repetition starts from the same S_prev (idempotent, still O(d^2)).
 * Only the last row of each head is written (MB_KERNEL_LAST_ROW); it equals row n-1 of attention.linear.elu_rnn.
 * Shapes: Q, K, V, O (batch, heads, n, d). Per head: 4 d^2 + O(d) FLOPs, 8 d^2 bytes of state traffic.
 * Source: Katharopoulos et al. 2020, "Transformers are RNNs", sec. 3.4 (eq. 18-20) and sec. 4.3 (generation).
 */
#include "attention/family_linear.h"

#include <math.h>
#include <stdlib.h>

struct elu_decode {
    struct mb_attn a;
    float *S_prev, *S_new; /* (batch*heads, d, d) */
    float *z_prev, *z_new; /* (batch*heads, d) */
    float *phi;            /* (batch*heads, 2, d): phi(q_t), phi(k_t) */
};

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (p->causal) return 0;
    mb_errorf(why, len, "causal only (a decode step attends to the past)");
    return 1;
}

static void release(struct elu_decode *s) {
    mb_free(s->S_prev);
    mb_free(s->S_new);
    mb_free(s->z_prev);
    mb_free(s->z_new);
    mb_free(s->phi);
    free(s);
}

static double elu1(double x) { return x > 0 ? x + 1 : exp(x); }

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct elu_decode *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    const int64_t heads = mb_attn_head_count(&s->a), n = s->a.n, d = s->a.d;
    s->S_prev = mb_alloc((size_t)(heads * d * d) * sizeof(float));
    s->S_new = mb_alloc((size_t)(heads * d * d) * sizeof(float));
    s->z_prev = mb_alloc((size_t)(heads * d) * sizeof(float));
    s->z_new = mb_alloc((size_t)(heads * d) * sizeof(float));
    s->phi = mb_alloc((size_t)(heads * 2 * d) * sizeof(float));
    if (!s->S_prev || !s->S_new || !s->z_prev || !s->z_new || !s->phi) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for the decode state");
    }
    int failed = 0;
#pragma omp parallel
    {
        double *acc = malloc((size_t)(d * d + 2 * d) * sizeof(double));
        if (!acc) {
#pragma omp atomic write
            failed = 1;
        } else {
            double *za = acc + d * d, *pk = za + d;
#pragma omp for schedule(dynamic, 1)
            for (int64_t head = 0; head < heads; head++) {
                const int64_t off = head * n * d;
                for (int64_t e = 0; e < d * d + d; e++) acc[e] = 0;
                for (int64_t j = 0; j + 1 < n; j++) {
                    for (int64_t r = 0; r < d; r++) pk[r] = elu1(s->a.k[off + j * d + r]);
                    const float *vj = s->a.v + off + j * d;
                    for (int64_t r = 0; r < d; r++) {
                        za[r] += pk[r];
                        for (int64_t c = 0; c < d; c++) acc[r * d + c] += pk[r] * vj[c];
                    }
                }
                for (int64_t e = 0; e < d * d; e++) s->S_prev[head * d * d + e] = (float)acc[e];
                for (int64_t r = 0; r < d; r++) s->z_prev[head * d + r] = (float)za[r];
            }
        }
        free(acc);
    }
    if (failed) {
        release(s);
        return mb_errorf(err, errlen, "out of memory building the decode state");
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct elu_decode *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, heads = mb_attn_head_count(a);
#pragma omp parallel for schedule(static)
    for (int64_t head = 0; head < heads; head++) {
        const int64_t row = head * n * d + (n - 1) * d;
        float *phi_q = s->phi + head * 2 * d, *phi_k = phi_q + d;
        mb_lin_feature_elu1.map(a->q + row, phi_q, 1, d);
        mb_lin_feature_elu1.map(a->k + row, phi_k, 1, d);
        mb_lin_rnn_step(s->S_prev + head * d * d, s->z_prev + head * d, s->S_new + head * d * d, s->z_new + head * d,
                        phi_k, a->v + row, phi_q, d, d, a->out + row);
    }
}

static void teardown(void *state) { release(state); }

/* per head: the step (4 d^2 + 4 d) and two feature maps (~4 d); independent of n */
static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double d = (double)p->d;
    return (double)p->batch * p->heads * (4.0 * d * d + 8.0 * d);
}

/* per head: read S_prev, write S_new (d^2 floats each), z, and the rows q_t, k_t, v_t, out_t */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double d = (double)p->d;
    return 4.0 * (double)p->batch * p->heads * (2.0 * d * d + 2.0 * d + 4.0 * d);
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double d = (double)p->d;
    return 4.0 * (double)p->batch * p->heads * (2.0 * d * d + 4.0 * d);
}

const struct mb_kernel mb_kernel_attention_linear_elu_decode = {
    .name = "attention.linear.elu_decode",
    .family = &mb_family_attention,
    .mechanism = "linear.elu",
    .approximates = "softmax",
    .summary = "one causal decode step of linear attention (phi = elu + 1) from a prompt state: O(d^2), independent of n",
    .complexity = "O(d^2) time per token, O(d^2) state",
    .axes = MB_ATTN_AXES,
    MB_KERNEL_SOURCE,
    .flags = MB_KERNEL_LAST_ROW,
    .supports = supports,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
