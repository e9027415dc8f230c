/* ssm.retnet.decode: one recurrent decoding step of retention.
 *
 * Setup (untimed) plays tokens 0 .. n-2 into the state S_{n-2} (d x d per head, the "retention cache"). The timed
 * run does token n-1:  S' = g S + k^T v,  o = q S'  (S' in a separate buffer: repeated runs are identical),
 * writing only row n-1 of each head (MB_KERNEL_LAST_ROW).
 * Shapes: q, k, v, out (batch, heads, n, d). Cost: 5 d^2 FLOPs per head, O(d^2), independent of n.
 * Source: Sun et al. 2023, "Retentive Network", eq. (6), sec. 2.2 (O(1) inference).
 */
#include "ssm/family_retnet.h"

#include <stdlib.h>
#include <string.h>

struct retnet_decode {
    struct mb_retnet r;
    float *cache, *next; /* heads_total x d x d */
};

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct retnet_decode *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_retnet_bind(&s->r, w);
    const struct mb_retnet *r = &s->r;
    const int64_t d = r->d, n = r->n, heads = mb_retnet_head_count(r);
    s->cache = mb_alloc((size_t)(heads * d * d) * sizeof(float));
    s->next = mb_alloc((size_t)(heads * d * d) * sizeof(float));
    if (!s->cache || !s->next) {
        mb_free(s->cache);
        mb_free(s->next);
        free(s);
        return mb_errorf(err, errlen, "out of memory for the retention cache");
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t head = 0; head < heads; head++) {
        const float g = (float)mb_retnet_gamma(r, head);
        const int64_t off = head * n * d;
        for (int64_t i = 0; i + 1 < n; i++)
            mb_retnet_step(d, g, s->cache + head * d * d, NULL, r->k + off + i * d, r->v + off + i * d, NULL);
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct retnet_decode *s = state;
    const struct mb_retnet *r = &s->r;
    const int64_t d = r->d, n = r->n, dd = d * d;
#pragma omp parallel for schedule(static)
    for (int64_t head = 0; head < mb_retnet_head_count(r); head++) {
        const int64_t row = (head * n + n - 1) * d;
        memcpy(s->next + head * dd, s->cache + head * dd, (size_t)dd * sizeof(float));
        mb_retnet_step(d, (float)mb_retnet_gamma(r, head), s->next + head * dd, r->q + row, r->k + row, r->v + row,
                       r->out + row);
    }
}

static void teardown(void *state) {
    struct retnet_decode *s = state;
    mb_free(s->cache);
    mb_free(s->next);
    free(s);
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return (double)p->batch * p->heads * 5.0 * p->d * p->d; }

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return 4.0 * (double)p->batch * p->heads * (3.0 * p->d * p->d + 4.0 * p->d);
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return 2.0 * 4.0 * (double)p->batch * p->heads * p->d * p->d; }

const struct mb_kernel mb_kernel_ssm_retnet_decode = {
    .name = "ssm.retnet.decode",
    MB_RETNET_KERNEL(0),
    .summary = "one retention decoding step from the d x d state of tokens 0..n-2 (built in setup); last row only",
    .complexity = "O(d^2) time per head per token, independent of n",
    .flags = MB_KERNEL_LAST_ROW,
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
