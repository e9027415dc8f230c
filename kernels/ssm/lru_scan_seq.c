/* ssm.lru.scan_seq: the Linear Recurrent Unit, sequential scan over time.
 *
 *   lambda = exp(-exp(nu_log) + i exp(theta_log)), gamma = sqrt(1 - |lambda|^2)
 *   X = (gamma (.) B) u            (batch L x N, complex: two sgemm)
 *   x_t = lambda (.) x_{t-1} + X_t (in place: X becomes the states)
 *   y = D (.) u + Re(C x) = D (.) u + X_re C_re^T - X_im C_im^T   (two sgemm)
 * Shapes: u, y (batch, L, H); B (N, H); C (H, N); nu_log, theta_log (N); D (H). The GEMMs run per block of rows
 * in parallel (OpenMP, single-threaded OpenBLAS inside); the scan runs one work item per (batch, block of 16
 * states), sequential over L, AVX-512 over the 16 states. Cost: 8 L N H (GEMMs) + 8 L N (scan) FLOPs per sequence;
 * workspace 2 batch L N floats. Parallelism of the scan: batch x N/16 items only.
 * Source: Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for Long Sequences", eq. (3), sec. 3.
 */
#include "ssm/family_lru.h"

#include <stdlib.h>
#include <string.h>

struct lru_seq {
    struct mb_lru r;
    struct mb_lru_work k;
};

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct lru_seq *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_lru_bind(&s->r, w);
    if (mb_lru_work_alloc(&s->k, &s->r)) {
        free(s);
        return mb_errorf(err, errlen, "out of memory for the LRU states (%.3g bytes)", mb_lru_work_bytes(kernel, &w->point));
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct lru_seq *s = state;
    const struct mb_lru *r = &s->r;
    const int64_t nb = (r->N + 15) / 16;
#pragma omp parallel
    {
        mb_lru_input(r, &s->k);
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < r->batch * nb; it++) {
            float x[32];
            memset(x, 0, sizeof x);
            mb_lru_scan_range(r, &s->k, it / nb, (it % nb) * 16, 0, r->L, x, 1);
        }
        mb_lru_output(r, &s->k);
    }
}

static void teardown(void *state) {
    struct lru_seq *s = state;
    mb_lru_work_free(&s->k);
    free(s);
}

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double io = 4.0 * (2.0 * p->batch * p->n * p->d + 4.0 * p->rank * p->d + p->d + 2.0 * p->rank);
    return io + 4.0 * 2.0 * 4.0 * (double)p->batch * p->n * p->rank; /* X written, scanned (read + write), read */
}

const struct mb_kernel mb_kernel_ssm_lru_scan_seq = {
    .name = "ssm.lru.scan_seq",
    MB_LRU_KERNEL(0),
    .summary = "LRU: sgemm (gamma B) u, sequential complex diagonal scan over L (AVX-512 over 16 states), sgemm Re(C x)",
    .complexity = "O(batch L N H) time (GEMMs) + O(batch L N) scan, O(batch L N) workspace",
    .rank_meaning = "N, number of complex states",
    MB_SSM_OPS(setup, run, teardown, mb_lru_flops, bytes, mb_lru_work_bytes),
};
