/* gau.glu_ffn: the gated linear unit FFN of GAU (Hua et al. 2022, eq. 1; Shazeer 2020 "GLU Variants").
 *
 *   U = silu(X W_u), V = silu(X W_v)   X (batch*n, d), W_u, W_v (d, e)
 *   O = (U * V) W_o                    W_o (e, d), O (batch*n, d)
 *
 * Tokens are independent: blocks of 128 rows in parallel (OpenMP), three sgemm per block, SiLU vectorised (SLEEF).
 * Cost: 6 n d e FLOPs (+ SiLU), O(threads * 128 * e) workspace. Parameters 3de.
 */
#include "gau/family.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#define RB 128

struct glu {
    struct mb_gau g;
    int slots;
    float *ws; /* slots x [U (RB x e) | V (RB x e)] */
};

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct glu *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_gau_bind(&s->g, w);
    s->slots = omp_get_max_threads() > w->point.threads ? omp_get_max_threads() : (int)w->point.threads;
    s->ws = mb_alloc((size_t)s->slots * 2 * RB * (size_t)s->g.e * sizeof(float));
    if (!s->ws) {
        free(s);
        return mb_errorf(err, errlen, "cannot allocate the U, V workspace");
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct glu *s = state;
    const struct mb_gau *g = &s->g;
    const int64_t rows = g->batch * g->n, d = g->d, e = g->e, blocks = (rows + RB - 1) / RB;
#pragma omp parallel for schedule(dynamic)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t i0 = blk * RB, r = rows - i0 < RB ? rows - i0 : RB;
        float *u = s->ws + (size_t)omp_get_thread_num() * 2 * RB * (size_t)e, *v = u + RB * e;
        mb_gau_proj_silu(g->x + i0 * d, r, d, g->w_u, e, u);
        mb_gau_proj_silu(g->x + i0 * d, r, d, g->w_v, e, v);
        mb_gau_mul(u, v, r * e);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)d, (int)e, 1.0f, u, (int)e, g->w_o, (int)d,
                    0.0f, g->out + i0 * d, (int)d);
    }
}

static void teardown(void *state) {
    struct glu *s = state;
    mb_free(s->ws);
    free(s);
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double n = (double)p->batch * (double)p->n, d = (double)p->d, e = (double)mb_gau_e(p);
    return 6.0 * n * d * e + 9.0 * n * e;
}

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return mb_gau_io_bytes(p, "glu_ffn");
}

/* the U, V row blocks of every thread, or the oracle check's float64 weights when larger (family.h) */
static double workspace(const struct mb_kernel *kernel, const struct mb_point *p) {
    return fmax(4.0 * 2 * RB * (double)mb_gau_e(p) * (p->threads > 0 ? p->threads : 1),
                mb_gau_oracle_bytes(kernel->mechanism, p));
}

const struct mb_kernel mb_kernel_gau_glu_ffn = {
    .name = "gau.glu_ffn",
    .family = &mb_family_gau,
    .mechanism = "glu_ffn",
    .summary = "GLU FFN O = (silu(X W_u) * silu(X W_v)) W_o; 128-row blocks, 3 sgemm each; params 3de (e = 2d: 6d^2)",
    .complexity = "O(n d e) time, O(threads * 128 * e) memory",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(batch),
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
