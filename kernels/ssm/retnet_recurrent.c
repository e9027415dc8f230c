/* ssm.retnet.recurrent: retention in its recurrent (inference) form, token by token.
 *
 *   S_i = g S_{i-1} + k_i^T v_i   (d x d state),   o_i = q_i S_i
 *
 * Shapes: q, k, v, out (batch, heads, n, d). One head per OpenMP work item (parallel over batch x heads only);
 * the d x d update and the q S product are vectorised over columns (omp simd). Cost: 4 n d^2 FLOPs per head, state
 * O(d^2) per head. No normalisation (see family_retnet.h).
 * Source: Sun et al. 2023, "Retentive Network", eq. (6) (recurrent representation).
 */
#include "ssm/family_retnet.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct retnet_recurrent {
    struct mb_retnet r;
    int slots;
    float *state; /* slots x d x d */
};

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct retnet_recurrent *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_retnet_bind(&s->r, w);
    s->slots = omp_get_max_threads();
    if (w->point.threads > s->slots) s->slots = (int)w->point.threads;
    s->state = mb_alloc((size_t)s->slots * (size_t)(s->r.d * s->r.d) * sizeof(float));
    if (!s->state) {
        free(s);
        return mb_errorf(err, errlen, "out of memory for the d x d states");
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct retnet_recurrent *s = state;
    const struct mb_retnet *r = &s->r;
    const int64_t n = r->n, d = r->d;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t head = 0; head < mb_retnet_head_count(r); head++) {
        float *S = s->state + (size_t)omp_get_thread_num() * (size_t)(d * d);
        memset(S, 0, (size_t)(d * d) * sizeof(float));
        const float g = (float)mb_retnet_gamma(r, head);
        const int64_t off = head * n * d;
        for (int64_t i = 0; i < n; i++)
            mb_retnet_step(d, g, S, r->q + off + i * d, r->k + off + i * d, r->v + off + i * d, r->out + off + i * d);
    }
}

static void teardown(void *state) {
    struct retnet_recurrent *s = state;
    mb_free(s->state);
    free(s);
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return (double)p->batch * p->heads * p->n * 5.0 * p->d * p->d; }

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_retnet_io_bytes(p); }

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return 4.0 * (double)(p->threads > 0 ? p->threads : 1) * p->d * p->d;
}

const struct mb_kernel mb_kernel_ssm_retnet_recurrent = {
    .name = "ssm.retnet.recurrent",
    MB_RETNET_KERNEL(0),
    .summary = "retention, recurrent form S = g S + k^T v, o = q S, token by token; OpenMP over heads",
    .complexity = "O(n d^2) time, O(d^2) state per head",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
