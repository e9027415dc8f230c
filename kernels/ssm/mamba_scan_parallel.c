/* ssm.mamba.scan_parallel: Mamba's selective scan as a chunked (two-level) associative scan.
 *
 * The recurrence h_t = a_t (.) h_{t-1} + x_t, a_t = exp(dt_t A), x_t = dt_t u_t B_t, is associative in
 * (a, x): (a1, x1) o (a2, x2) = (a1 a2, a2 x1 + x2). L is cut in chunks of `block` steps (0 = default: one chunk
 * per channel when batch * D >= 4 threads, else ~4 chunks per thread, >= 256 steps):
 *   1. per (channel, chunk), in parallel: chunk 0 is scanned for real (its carry is 0); chunk c > 0 computes its
 *      local end state E_c from 0 and its total decay P_c = exp(A sum_t dt_t);
 *   2. per channel: carries H_c = P_c (.) H_{c-1} + E_c (O(chunks N));
 *   3. per (channel, chunk > 0), in parallel: rescan chunk c from H_{c-1}, writing y (C . h, skip, gate).
 * Pass 1 stores the decays exp(dt_t A) of the chunks > 0 (batch D L N floats, when <= 64 MB; the default chunking
 * splits L only when batch * D is small) so pass 3 does no exp. Measured on one thread (D = 1, N = 16, 8 chunks):
 * 1.4x the sequential time at L = 4096 (decays in cache), ~1.5-1.9x at L = 65536 (decays through memory).
 * Work: ~ (1 + f) x the sequential scan, f = the state-only pass's share (no C dot, no output), spread over
 * batch x D x chunks work items; can only win when batch * D < threads (else the default is one chunk = scan_seq). Same per-step kernel as scan_seq
 * (mb_mamba_scan_range, AVX-512 over N); the driver (mb_ssm_chunked_scan) is shared with ssm.lru.scan_parallel.
 * Shapes as scan_seq; workspace: transposed B, C (batch, L, N) when D > 4 (as scan_seq) + 2 N floats per
 * (channel, chunk) + the stored decays.
 * Source: Gu & Dao 2023, "Mamba", sec. 3.3.2 (parallel scan); Blelloch 1990, "Prefix sums and their applications";
 * Martin & Cundy 2018, "Parallelizing linear recurrent neural nets over sequence length".
 */
#include "ssm/family_mamba.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct scan_parallel {
    struct mb_mamba m;
    int64_t chunk;
    float *Bt, *Ct; /* (batch, L, N) */
    float *work;    /* chunk carries */
    float *dA;      /* (batch D, L, N) exp(dt A) of the chunks > 0, stored by pass 1, read by pass 3; NULL = recompute */
};

#define DA_MAX_BYTES (64.0 * 1024 * 1024)

static double dA_bytes(const struct mb_point *p, int64_t chunk) {
    return chunk >= p->n ? 0.0 : 4.0 * (double)p->batch * p->d * p->n * p->rank;
}

static int64_t chunk_of(const struct mb_point *p) {
    int threads = p->threads > 0 ? (int)p->threads : omp_get_max_threads();
    return p->block > 0 ? p->block : mb_ssm_default_chunk(p->batch * p->d, p->n, threads);
}

static void release(struct scan_parallel *s) {
    mb_free(s->Bt);
    mb_free(s->Ct);
    mb_free(s->work);
    mb_free(s->dA);
    free(s);
}

static int setup(void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct scan_parallel *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_mamba_bind(&s->m, w);
    s->chunk = chunk_of(&w->point);
    size_t bytes = (size_t)(s->m.batch * s->m.L * s->m.N) * sizeof(float);
    if (mb_mamba_use_transpose(&w->point)) {
        s->Bt = mb_alloc(bytes);
        s->Ct = mb_alloc(bytes);
    }
    s->work = mb_alloc((size_t)mb_ssm_chunk_workspace(s->m.batch * s->m.D, s->m.L, s->chunk, (int)s->m.N) * sizeof(float));
    const double dab = dA_bytes(&w->point, s->chunk);
    if (dab > 0 && dab <= DA_MAX_BYTES) s->dA = mb_alloc((size_t)dab);
    if ((mb_mamba_use_transpose(&w->point) && (!s->Bt || !s->Ct)) || !s->work || (dab > 0 && dab <= DA_MAX_BYTES && !s->dA)) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for the transposed B, C and the chunk carries");
    }
    *state = s;
    return 0;
}

static void op_scan(void *ctx, int64_t seq, int64_t t0, int64_t t1, float *h) {
    struct scan_parallel *s = ctx;
    float *dA = s->dA ? s->dA + seq * s->m.L * s->m.N : NULL;
    mb_mamba_scan_range(&s->m, s->Bt, s->Ct, seq / s->m.D, seq % s->m.D, t0, t1, h, 1, dA,
                        dA && t0 > 0 ? MB_MAMBA_DA_LOAD : MB_MAMBA_DA_NONE); /* t0 > 0: a rescan */
}

static void op_local(void *ctx, int64_t seq, int64_t t0, int64_t t1, float *h, float *decay) {
    struct scan_parallel *s = ctx;
    const int64_t d = seq % s->m.D, N = s->m.N;
    float *dA = s->dA ? s->dA + seq * s->m.L * N : NULL;
    const double dtsum = mb_mamba_scan_range(&s->m, s->Bt, s->Ct, seq / s->m.D, d, t0, t1, h, 0, dA,
                                             dA ? MB_MAMBA_DA_STORE : MB_MAMBA_DA_NONE);
    for (int64_t n = 0; n < N; n++) decay[n] = (float)exp(-exp((double)s->m.A_log[d * N + n]) * dtsum);
}

static void op_combine(void *ctx, float *carry, const float *decay, const float *h) {
    struct scan_parallel *s = ctx;
    for (int64_t n = 0; n < s->m.N; n++) carry[n] = decay[n] * carry[n] + h[n];
}

static void run(void *state) {
    struct scan_parallel *s = state;
    const struct mb_ssm_chunk_ops ops = {.ctx = s, .sequences = s->m.batch * s->m.D, .length = s->m.L,
                                         .chunk = s->chunk, .state = (int)s->m.N, .scan = op_scan,
                                         .local = op_local, .combine = op_combine};
#pragma omp parallel
    {
        if (s->Bt) mb_mamba_transpose_bc(&s->m, s->Bt, s->Ct);
        mb_ssm_chunked_scan(&ops, s->work);
    }
}

static void teardown(void *state) { release(state); }

/* full pass (7N + 10 per step) + state-only pass over chunks 1.. (4N + 3 per step) */
static double flops(const struct mb_point *p) {
    const int64_t chunk = chunk_of(p), first = chunk < p->n ? chunk : p->n;
    return (double)p->batch * p->d * ((double)p->n * (7.0 * p->rank + 10.0) + (double)(p->n - first) * (4.0 * p->rank + 3.0));
}

static double bytes(const struct mb_point *p) {
    const double bc = mb_mamba_use_transpose(p) ? 8.0 : 3.0 * p->d;
    return 4.0 * (5.0 * p->batch * p->d * p->n + bc * p->batch * p->rank * p->n + 3.0 * p->d * p->rank) +
           2.0 * (dA_bytes(p, chunk_of(p)) <= DA_MAX_BYTES ? dA_bytes(p, chunk_of(p)) : 0.0);
}

static double workspace(const struct mb_point *p) {
    const double dab = dA_bytes(p, chunk_of(p));
    return (dab <= DA_MAX_BYTES ? dab : 0.0) + 4.0 * ((mb_mamba_use_transpose(p) ? 2.0 : 0.0) * p->batch * p->n * p->rank + (double)mb_ssm_chunk_workspace(p->batch * p->d, p->n, chunk_of(p), (int)p->rank));
}

const struct mb_kernel mb_kernel_ssm_mamba_scan_parallel = {
    .name = "ssm.mamba.scan_parallel",
    .family = &mb_family_ssm_mamba,
    .mechanism = "selective_scan",
    .summary = "selective scan, chunked associative scan over L: local scans, chunk carries, rescans; OpenMP over batch x D x chunks",
    .complexity = "O(batch D L N) time (1.4-1.9x the sequential work when L is split), O(batch D L N) workspace",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(rank) | MB_AXIS_BIT(block),
    .rank_meaning = "N, SSM state size per channel (block = chunk length in steps, 0 = auto)",
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
