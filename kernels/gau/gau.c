/* gau.gau (and its alias gau.flash_quad): one gated attention unit with quadratic attention over the whole
 * sequence (Hua et al. 2022, "Transformer Quality in Linear Time", sec. 2, eq. 3-5 and Code 1; Su, kexue.fm 8934).
 *
 *   U = silu(X W_u), V = silu(X W_v)              (n, e)      Z = silu(X W_z)  (n, s)
 *   Q = Z * gamma_0 + beta_0, K = Z * gamma_1 + beta_1        (n, s), per-dimension scale and offset
 *   A = relu(Q K^T / sqrt(s))^2 / n               norm=su (Su's form)
 *     = relu(Q K^T / n + b)^2, b = 0              norm=paper (the paper's code; its relative-position bias is
 *                                                 not implemented: b = 0)
 *   causal: A_ij = 0 for j > i, the denominator stays n (the paper's code normalises by the sequence length)
 *   O = (U * (A V)) W_o                           (n, d)
 *
 * Phase 1: 128-row blocks of projections (3 sgemm + SiLU + affine). Phase 2: per (batch, 128 query rows), S = Q K^T
 * over the keys the rows may see (causal: up to the block's last row), relu^2 in place, mask, T = S V, T *= U,
 * O = T W_o (sgemm). Cost: 2nd(2e+s) + 2 n^2 (s+e) (about half causal) + 2ned FLOPs; memory O(n (2e + 2s)) +
 * O(threads * 128 * n). Parameters 3de + ds + 4s (gamma, beta rows 0 and 1 of the (4, s) tensors count 2s each).
 * FLASH-Quad (the paper's quadratic baseline) is this layer: gau.flash_quad is an alias of the same code.
 */
#include "gau/family.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define RB 128 /* projection rows per task */
#define QB 128 /* query rows per task */

struct gau {
    struct mb_gau g;
    float *u, *v, *q, *k; /* (batch*n, e), (batch*n, e), (batch*n, s), (batch*n, s) */
    int slots;
    size_t stride;        /* floats per thread slot */
    float *ws;            /* slots x [S (QB x n) | T (QB x e) | Z (RB x s)] */
};

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct gau *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_gau_bind(&s->g, w);
    const struct mb_gau *g = &s->g;
    const size_t rows = (size_t)(g->batch * g->n);
    s->slots = omp_get_max_threads() > w->point.threads ? omp_get_max_threads() : (int)w->point.threads;
    s->stride = ((size_t)QB * (size_t)g->n + (size_t)QB * (size_t)g->e + (size_t)RB * (size_t)g->s + 15) & ~(size_t)15;
    s->u = mb_alloc(rows * (size_t)g->e * sizeof(float));
    s->v = mb_alloc(rows * (size_t)g->e * sizeof(float));
    s->q = mb_alloc(rows * (size_t)g->s * sizeof(float));
    s->k = mb_alloc(rows * (size_t)g->s * sizeof(float));
    s->ws = mb_alloc((size_t)s->slots * s->stride * sizeof(float));
    if (!s->u || !s->v || !s->q || !s->k || !s->ws) {
        mb_free(s->u), mb_free(s->v), mb_free(s->q), mb_free(s->k), mb_free(s->ws), free(s);
        return mb_errorf(err, errlen, "cannot allocate the U, V, Q, K and score workspaces");
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct gau *s = state;
    const struct mb_gau *g = &s->g;
    const int64_t n = g->n, d = g->d, e = g->e, sd = g->s, rows = g->batch * n;
    const int64_t pblocks = (rows + RB - 1) / RB, qblocks = (n + QB - 1) / QB;
    float post;
    const float pre = mb_gau_quad_scale(g->norm, sd, n, &post);
#pragma omp parallel
    {
        float *slot = s->ws + (size_t)omp_get_thread_num() * s->stride;
        float *sc = slot, *t = slot + (size_t)QB * n, *z = t + QB * e;
#pragma omp for schedule(dynamic)
        for (int64_t blk = 0; blk < pblocks; blk++) {
            const int64_t i0 = blk * RB, r = rows - i0 < RB ? rows - i0 : RB;
            const float *x = g->x + i0 * d;
            mb_gau_proj_silu(x, r, d, g->w_u, e, s->u + i0 * e);
            mb_gau_proj_silu(x, r, d, g->w_v, e, s->v + i0 * e);
            mb_gau_proj_silu(x, r, d, g->w_z, sd, z);
            mb_gau_affine(g, z, r, 0, s->q + i0 * sd);
            mb_gau_affine(g, z, r, 1, s->k + i0 * sd);
        }
#pragma omp for schedule(dynamic)
        for (int64_t task = 0; task < g->batch * qblocks; task++) {
            const int64_t b = task / qblocks, i0 = (task % qblocks) * QB, r = n - i0 < QB ? n - i0 : QB;
            const int64_t keys = g->causal ? i0 + r : n, base = b * n;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)r, (int)keys, (int)sd, 1.0f, s->q + (base + i0) * sd,
                        (int)sd, s->k + base * sd, (int)sd, 0.0f, sc, (int)keys);
            for (int64_t rr = 0; rr < r; rr++) {
                const int64_t len = g->causal ? i0 + rr + 1 : keys;
                mb_gau_relu2(sc + rr * keys, len, pre, post);
                memset(sc + rr * keys + len, 0, (size_t)(keys - len) * sizeof(float));
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)e, (int)keys, 1.0f, sc, (int)keys,
                        s->v + base * e, (int)e, 0.0f, t, (int)e);
            mb_gau_mul(t, s->u + (base + i0) * e, r * e);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)d, (int)e, 1.0f, t, (int)e, g->w_o, (int)d,
                        0.0f, g->out + (base + i0) * d, (int)d);
        }
    }
}

static void teardown(void *state) {
    struct gau *s = state;
    mb_free(s->u), mb_free(s->v), mb_free(s->q), mb_free(s->k), mb_free(s->ws);
    free(s);
}

/* score entries actually computed per batch element: all n^2, or per query block r * (i0 + r) when causal */
static double score_entries(const struct mb_point *p) {
    if (!p->causal) return (double)p->n * (double)p->n;
    double total = 0;
    for (int64_t i0 = 0; i0 < p->n; i0 += QB) {
        const int64_t r = p->n - i0 < QB ? p->n - i0 : QB;
        total += (double)r * (double)(i0 + r);
    }
    return total;
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double rows = (double)p->batch * (double)p->n, d = (double)p->d, e = (double)mb_gau_e(p), s = (double)mb_gau_s(p);
    return mb_gau_proj_flops(p, 1) + 4.0 * rows * s + (double)p->batch * score_entries(p) * (2.0 * s + 2.0 * e + 3.0) +
           rows * e + 2.0 * rows * e * d;
}

/* inputs and output once, U V Q K written and read, the score tiles written and read twice */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double rows = (double)p->batch * (double)p->n, e = (double)mb_gau_e(p), s = (double)mb_gau_s(p);
    return mb_gau_io_bytes(p, "gau") + 8.0 * rows * (2.0 * e + 2.0 * s) + 12.0 * (double)p->batch * score_entries(p);
}

/* setup's buffers, or the oracle check's (family.h) when larger */
static double workspace(const struct mb_kernel *kernel, const struct mb_point *p) {
    const double rows = (double)p->batch * (double)p->n, e = (double)mb_gau_e(p), s = (double)mb_gau_s(p);
    const double threads = p->threads > 0 ? (double)p->threads : 1.0;
    return fmax(4.0 * (rows * (2.0 * e + 2.0 * s) + threads * (QB * (double)p->n + QB * e + RB * s)),
                mb_gau_oracle_bytes(kernel->mechanism, p));
}

#define GAU_AXES (MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(causal) | MB_AXIS_BIT(rank))
#define GAU_RANK "s: width of Z, Q, K (0 = 128)"

const struct mb_kernel mb_kernel_gau_gau = {
    .name = "gau.gau",
    .aliases = "gau.flash_quad", /* FLASH-Quad = GAU over the whole sequence: one kernel, measured once */
    .family = &mb_family_gau,
    .mechanism = "gau",
    .summary = "single-head GAU, quadratic relu^2 attention (params e=, norm=su|paper); params 3de+ds+4s "
               "(d=512,e=1024,s=128: 1.639M; 2 GAU = 1.04 x MHA+FFN)",
    .complexity = "O(n d (e+s) + n^2 (s+e)) time, O(n (e+s) + threads * 128 n) memory",
    .axes = GAU_AXES,
    .rank_meaning = GAU_RANK,
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
