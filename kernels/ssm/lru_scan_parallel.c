/* ssm.lru.scan_parallel: the Linear Recurrent Unit with a chunked associative scan over time.
 *
 * As ssm.lru.scan_seq (sgemm in, scan, sgemm out), but the diagonal complex recurrence x_t = lambda x_{t-1} + X_t
 * is scanned in chunks of `block` steps (0 = auto) by the driver shared with ssm.mamba.scan_parallel
 * (mb_ssm_chunked_scan): chunk 0 scanned for real, local end states E_c of the other chunks, carries
 * H_c = lambda^(B_c) H_{c-1} + E_c (lambda^m = exp(-m e^nu) (cos(m e^theta) + i sin(m e^theta)), in double), then
 * rescans. Work items: batch x N/16 x chunks. Cost: as scan_seq plus ~one extra read-only scan pass.
 * Source: Orvieto et al. 2023, "LRU", sec. 3 ("parallel scan"); Blelloch 1990; Martin & Cundy 2018.
 */
#include "ssm/family_lru.h"
#include "ssm/family_mamba.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct lru_parallel {
    struct mb_lru r;
    struct mb_lru_work k;
    int64_t chunk, nb;
    float *work;
};

static int64_t chunk_of(const struct mb_point *p) {
    const int threads = p->threads > 0 ? (int)p->threads : omp_get_max_threads();
    return p->block > 0 ? p->block : mb_ssm_default_chunk(p->batch * ((p->rank + 15) / 16), p->n, threads);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct lru_parallel *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_lru_bind(&s->r, w);
    s->chunk = chunk_of(&w->point);
    s->nb = (s->r.N + 15) / 16;
    if (mb_lru_work_alloc(&s->k, &s->r)) {
        free(s);
        return mb_errorf(err, errlen, "out of memory for the LRU states");
    }
    s->work = mb_alloc((size_t)mb_ssm_chunk_workspace(s->r.batch * s->nb, s->r.L, s->chunk, 32) * sizeof(float));
    if (!s->work) {
        mb_lru_work_free(&s->k);
        free(s);
        return mb_errorf(err, errlen, "out of memory for the chunk carries");
    }
    *state = s;
    return 0;
}

static void op_scan(void *ctx, int64_t seq, int64_t t0, int64_t t1, float *h) {
    struct lru_parallel *s = ctx;
    mb_lru_scan_range(&s->r, &s->k, seq / s->nb, (seq % s->nb) * 16, t0, t1, h, 1);
}

static void op_local(void *ctx, int64_t seq, int64_t t0, int64_t t1, float *h, float *decay) {
    struct lru_parallel *s = ctx;
    const int64_t n0 = (seq % s->nb) * 16;
    mb_lru_scan_range(&s->r, &s->k, seq / s->nb, n0, t0, t1, h, 0);
    for (int64_t j = 0; j < 16; j++) {
        if (n0 + j >= s->r.N) {
            decay[j] = decay[16 + j] = 0.0f;
            continue;
        }
        const double m = (double)(t1 - t0), mod = exp(-m * exp((double)s->r.nu_log[n0 + j]));
        const double ph = m * exp((double)s->r.theta_log[n0 + j]);
        decay[j] = (float)(mod * cos(ph));
        decay[16 + j] = (float)(mod * sin(ph));
    }
}

static void op_combine(void *ctx, float *carry, const float *decay, const float *h) {
    (void)ctx;
    for (int j = 0; j < 16; j++) {
        const float cr = carry[j], ci = carry[16 + j];
        carry[j] = decay[j] * cr - decay[16 + j] * ci + h[j];
        carry[16 + j] = decay[j] * ci + decay[16 + j] * cr + h[16 + j];
    }
}

static void run(void *state) {
    struct lru_parallel *s = state;
    const struct mb_ssm_chunk_ops ops = {.ctx = s, .sequences = s->r.batch * s->nb, .length = s->r.L,
                                         .chunk = s->chunk, .state = 32, .scan = op_scan, .local = op_local,
                                         .combine = op_combine};
#pragma omp parallel
    {
        mb_lru_input(&s->r, &s->k);
        mb_ssm_chunked_scan(&ops, s->work);
        mb_lru_output(&s->r, &s->k);
    }
}

static void teardown(void *state) {
    struct lru_parallel *s = state;
    mb_lru_work_free(&s->k);
    mb_free(s->work);
    free(s);
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const int64_t c = chunk_of(p), first = c < p->n ? c : p->n;
    return mb_lru_flops(kernel, p) + 8.0 * (double)p->batch * (double)(p->n - first) * p->rank;
}

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double io = 4.0 * (2.0 * p->batch * p->n * p->d + 4.0 * p->rank * p->d + p->d + 2.0 * p->rank);
    return io + 4.0 * 2.0 * 5.0 * (double)p->batch * p->n * p->rank;
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return mb_lru_work_bytes(kernel, p) +
           4.0 * (double)mb_ssm_chunk_workspace(p->batch * ((p->rank + 15) / 16), p->n, chunk_of(p), 32);
}

const struct mb_kernel mb_kernel_ssm_lru_scan_parallel = {
    .name = "ssm.lru.scan_parallel",
    MB_LRU_KERNEL(MB_AXIS_BIT(block)),
    .summary = "LRU: sgemm in, chunked associative complex diagonal scan (shared driver with mamba), sgemm out",
    .complexity = "O(batch L N H) time (GEMMs) + O(batch L N) scan, O(batch L N) workspace",
    .rank_meaning = "N, number of complex states (block = chunk length in steps, 0 = auto)",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
