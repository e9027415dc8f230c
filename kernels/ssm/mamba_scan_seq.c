/* ssm.mamba.scan_seq: Mamba's selective scan, sequential over time (the reference recurrence).
 *
 *   dt_t = softplus(delta_t + delta_bias) (params delta_softplus=0: delta_t + delta_bias), A = -exp(A_log)
 *   h_t = exp(dt_t A) (.) h_{t-1} + dt_t u_t B_t,   y_t = (C_t . h_t + D_skip u_t) * silu(z_t)
 *
 * Shapes: u, delta, z, y (batch, D, L); A_log (D, N); B, C (batch, N, L); D_skip, delta_bias (D) (names=ref:
 * selective_scan_ref's A (D, N) and D (D) instead of A_log and D_skip; family_mamba.h).
 * When D > 4, B and C are first transposed to (batch, L, N) (workspace, inside the timed run) so a step reads N
 * contiguous floats (with D <= 4 each channel gathers 16 steps of B, C at a time instead: cheaper than the copies'
 * round trip through memory); then the channels (b, d) are scanned in parallel (OpenMP over batch x D). With AVX-512
 * and N <= 16, blocks of 16 channels sit in the vector lanes (mb_mamba_scan_lanes): state n of 16 channels is one
 * vector, so a step is 16 full-width exp / update / C h FMAs with no reduction across lanes; exp(dt A) by the
 * degree-4 2^x polynomial of harness/core/vexp.h (relative error 5.4e-6; the kernel's rel_l2 against the double
 * oracle ~1e-6); dt = softplus(.), the skip and the gate computed per 256-step span in passes of their own, on
 * 16 x 16 tiles transposed in registers. The other channels (D mod 16; all when N > 16 or when there are fewer than
 * 2 blocks of 16 per thread) are scanned in groups of MB_MAMBA_GROUP channels of one batch row (mb_mamba_scan_group:
 * the group's recurrences interleaved step by step, vectorised over N, the state in a register when N <= 16, y_t of
 * 16 steps reduced together). Cost: ~ (7 N + 10) FLOPs and N exp per step per channel: O(batch D L N) time,
 * O(batch L N) workspace.
 * Parallelism is over channels only: batch * D < threads leaves threads idle (see ssm.mamba.scan_parallel).
 * Source: Gu & Dao 2023, "Mamba", Algorithm 2 and eq. (2a)-(2b), (4); mamba_ssm selective_scan_ref.
 */
#include "ssm/family_mamba.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct scan_seq {
    struct mb_mamba m;
    float *Bt, *Ct; /* (batch, L, N) */
};

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct scan_seq *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_mamba_bind(&s->m, w);
    size_t bytes = (size_t)(s->m.batch * s->m.L * s->m.N) * sizeof(float);
    if (mb_mamba_use_transpose(&w->point)) {
        s->Bt = mb_alloc(bytes);
        s->Ct = mb_alloc(bytes);
    }
    if (mb_mamba_use_transpose(&w->point) && (!s->Bt || !s->Ct)) {
        mb_free(s->Bt);
        mb_free(s->Ct);
        free(s);
        return mb_errorf(err, errlen, "cannot allocate the transposed B, C (2 x %zu bytes)", bytes);
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct scan_seq *s = state;
    const struct mb_mamba *m = &s->m;
#pragma omp parallel
    {
        if (s->Bt) mb_mamba_transpose_bc(m, s->Bt, s->Ct);
        /* units of work: blocks of MB_MAMBA_LANES channels in the vector lanes (AVX-512, N <= 16, B and C
           transposed) while that leaves >= 2 blocks per thread, the rest of each batch row in groups of
           MB_MAMBA_GROUP channels of one batch row while that leaves >= 2 groups per thread, else single channels */
        const int threads = omp_get_num_threads();
        int64_t lanes = 0;
#if defined(__AVX512F__)
        if (s->Bt && m->N <= 16 && m->batch * (m->D / MB_MAMBA_LANES) >= 2 * threads) lanes = MB_MAMBA_LANES;
#endif
        const int64_t blocks = lanes ? m->D / lanes : 0, rest = m->D - blocks * lanes;
        const int64_t G = m->batch * m->D >= 2 * MB_MAMBA_GROUP * threads ? MB_MAMBA_GROUP : 1;
        const int64_t groups = (rest + G - 1) / G, units = blocks + groups;
        /* runs of consecutive units (~8 runs per thread, still balanced dynamically): the scan prefetches the next
           rows, which should be this thread's next unit, not a row another core is writing */
        const int64_t run_len = m->batch * units / (8 * threads);
        const int chunk = run_len > 1 ? (int)run_len : 1;
#pragma omp for schedule(dynamic, chunk)
        for (int64_t g = 0; g < m->batch * units; g++) {
            const int64_t b = g / units, unit = g % units;
#if defined(__AVX512F__)
            if (unit < blocks) {
                float hl[16 * MB_MAMBA_LANES] = {0};
                mb_mamba_scan_lanes(m, s->Bt, s->Ct, b, unit * lanes, 0, m->L, hl);
                continue;
            }
#endif
            float h[MB_MAMBA_GROUP * 256];
            const int64_t d0 = blocks * lanes + (unit - blocks) * G, count = m->D - d0 < G ? m->D - d0 : G;
            memset(h, 0, (size_t)(count * m->N) * sizeof(float));
            mb_mamba_scan_group(m, s->Bt, s->Ct, b, d0, count, 0, m->L, h);
        }
    }
}

static void teardown(void *state) {
    struct scan_seq *s = state;
    mb_free(s->Bt);
    mb_free(s->Ct);
    free(s);
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return (double)p->batch * p->d * p->n * (7.0 * p->rank + 10.0);
}

/* u, delta, z read, y written (batch D L); B, C read and the transposes written and read (batch N L each) */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double bc = mb_mamba_use_transpose(p) ? 6.0 : 2.0 * p->d;
    return 4.0 * (4.0 * p->batch * p->d * p->n + bc * p->batch * p->rank * p->n + 3.0 * p->d * p->rank);
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return mb_mamba_use_transpose(p) ? 2.0 * 4.0 * p->batch * p->n * p->rank : 0.0;
}

const struct mb_kernel mb_kernel_ssm_mamba_scan_seq = {
    .name = "ssm.mamba.scan_seq",
    MB_MAMBA_KERNEL(0),
    .summary = "selective scan, sequential over L; OpenMP over batch x D, AVX-512 over 16 channels (N <= 16) or N "
               "(polynomial exp)",
    .complexity = "O(batch D L N) time, O(batch L N) workspace; parallel over channels only",
    .rank_meaning = "N, SSM state size per channel",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
