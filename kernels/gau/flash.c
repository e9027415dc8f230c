/* gau.flash: FLASH, the GAU with mixed chunk attention (Hua et al. 2022, "Transformer Quality in Linear Time",
 * sec. 3.2, eq. 6-8 and Code 8; Su, kexue.fm 8934).
 *
 *   U = silu(X W_u), V = silu(X W_v) (n, e); Z = silu(X W_z) (n, s); Qq, Kq, Ql, Kl = Z * gamma_r + beta_r, r = 0..3
 *   chunks g of c tokens (the last one ragged: the paper pads; a padded token has V = silu(0) = 0 and is excluded
 *   here, so padding cannot change the real tokens, and the denominators stay c and n):
 *     local_g  = relu(Qq_g Kq_g^T / sqrt(s))^2 / c V_g      (norm=su; norm=paper: relu(Qq Kq^T / c)^2 V_g)
 *                causal: masked inside the chunk (j <= i)
 *     global_g = Ql_g (sum_h Kl_h^T V_h) / n                 causal: exclusive prefix over chunks h < g
 *     O_g = [U_g * (local_g + global_g)] W_o
 * Phase 1 per (batch, chunk): projections and P_h = Kl_h^T V_h (s x e) with sgemm; phase 2: sum (or exclusive
 * prefix) of the P_h over chunks; phase 3 per (batch, chunk): local scores (c x c sgemm, relu^2, mask), T = S V_g,
 * T += Ql_g P / n (sgemm), O_g = (U_g * T) W_o.
 * Cost: 2nd(2e+s) + 4nse + 2nc(s+e) + 2ned FLOPs: linear in n; memory O(n (2e + 3s) + (n/c) s e).
 * Parameters 3de + ds + 8s (all four rows of gamma, beta).
 */
#include "gau/family.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct flash {
    struct mb_gau g;
    int64_t chunks;        /* per batch element */
    float *u, *v;          /* (batch*n, e) */
    float *qq, *kq, *ql;   /* (batch*n, s) */
    float *p;              /* (batch, chunks, s, e): Kl_h^T V_h, then their sum / exclusive prefix */
    int slots;
    size_t stride;
    float *ws;             /* slots x [S (c x c) | T (c x e) | Z (c x s) | Kl (c x s)] */
};

static int64_t chunk(const struct mb_point *p) { return mb_gau_c(p) < p->n ? mb_gau_c(p) : p->n; }

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct flash *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_gau_bind(&s->g, w);
    const struct mb_gau *g = &s->g;
    const size_t rows = (size_t)(g->batch * g->n), c = (size_t)chunk(&w->point), e = (size_t)g->e, sd = (size_t)g->s;
    s->chunks = (g->n + (int64_t)g->c - 1) / g->c;
    s->slots = omp_get_max_threads() > w->point.threads ? omp_get_max_threads() : (int)w->point.threads;
    s->stride = (c * c + c * e + 2 * c * sd + 15) & ~(size_t)15;
    s->u = mb_alloc(rows * e * sizeof(float));
    s->v = mb_alloc(rows * e * sizeof(float));
    s->qq = mb_alloc(rows * sd * sizeof(float));
    s->kq = mb_alloc(rows * sd * sizeof(float));
    s->ql = mb_alloc(rows * sd * sizeof(float));
    s->p = mb_alloc((size_t)(g->batch * s->chunks) * sd * e * sizeof(float));
    s->ws = mb_alloc((size_t)s->slots * s->stride * sizeof(float));
    if (!s->u || !s->v || !s->qq || !s->kq || !s->ql || !s->p || !s->ws) {
        mb_free(s->u), mb_free(s->v), mb_free(s->qq), mb_free(s->kq), mb_free(s->ql), mb_free(s->p), mb_free(s->ws);
        free(s);
        return mb_errorf(err, errlen, "cannot allocate the FLASH workspaces");
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct flash *s = state;
    const struct mb_gau *g = &s->g;
    const int64_t n = g->n, d = g->d, e = g->e, sd = g->s, c = g->c, chunks = s->chunks, tasks = g->batch * chunks;
    const int64_t se = sd * e;
    float post;
    const float pre = mb_gau_quad_scale(g->norm, sd, c, &post);
#pragma omp parallel
    {
        float *sc = s->ws + (size_t)omp_get_thread_num() * s->stride;
        const int64_t cc = c < n ? c : n;
        float *t = sc + cc * cc, *z = t + cc * e, *kl = z + cc * sd;
        /* phase 1: projections, P_h = Kl_h^T V_h */
#pragma omp for schedule(dynamic)
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t b = task / chunks, h = task % chunks, i0 = b * n + h * c, r = n - h * c < c ? n - h * c : c;
            const float *x = g->x + i0 * d;
            mb_gau_proj_silu(x, r, d, g->w_u, e, s->u + i0 * e);
            mb_gau_proj_silu(x, r, d, g->w_v, e, s->v + i0 * e);
            mb_gau_proj_silu(x, r, d, g->w_z, sd, z);
            mb_gau_affine(g, z, r, 0, s->qq + i0 * sd);
            mb_gau_affine(g, z, r, 1, s->kq + i0 * sd);
            mb_gau_affine(g, z, r, 2, s->ql + i0 * sd);
            mb_gau_affine(g, z, r, 3, kl);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)sd, (int)e, (int)r, 1.0f, kl, (int)sd,
                        s->v + i0 * e, (int)e, 0.0f, s->p + task * se, (int)e);
        }
        /* phase 2: sum over chunks into chunk 0 (non-causal) or exclusive prefix (causal), per element */
#pragma omp for schedule(static)
        for (int64_t idx = 0; idx < g->batch * se; idx++) {
            float *p = s->p + (idx / se) * chunks * se + idx % se;
            if (g->causal) {
                float run = 0.0f;
                for (int64_t h = 0; h < chunks; h++) {
                    const float cur = p[h * se];
                    p[h * se] = run;
                    run += cur;
                }
            } else {
                float sum = 0.0f;
                for (int64_t h = 0; h < chunks; h++) sum += p[h * se];
                p[0] = sum;
            }
        }
        /* phase 3: local quadratic + global linear, gate, output projection */
#pragma omp for schedule(dynamic)
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t b = task / chunks, h = task % chunks, i0 = b * n + h * c, r = n - h * c < c ? n - h * c : c;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)r, (int)r, (int)sd, 1.0f, s->qq + i0 * sd, (int)sd,
                        s->kq + i0 * sd, (int)sd, 0.0f, sc, (int)r);
            for (int64_t rr = 0; rr < r; rr++) {
                const int64_t len = g->causal ? rr + 1 : r;
                mb_gau_relu2(sc + rr * r, len, pre, post);
                memset(sc + rr * r + len, 0, (size_t)(r - len) * sizeof(float));
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)e, (int)r, 1.0f, sc, (int)r,
                        s->v + i0 * e, (int)e, 0.0f, t, (int)e);
            const float *p = s->p + (g->causal ? task : b * chunks) * se;
            if (!g->causal || h > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)e, (int)sd, 1.0f / (float)n,
                            s->ql + i0 * sd, (int)sd, p, (int)e, 1.0f, t, (int)e);
            mb_gau_mul(t, s->u + i0 * e, r * e);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)d, (int)e, 1.0f, t, (int)e, g->w_o, (int)d,
                        0.0f, g->out + i0 * d, (int)d);
        }
    }
}

static void teardown(void *state) {
    struct flash *s = state;
    mb_free(s->u), mb_free(s->v), mb_free(s->qq), mb_free(s->kq), mb_free(s->ql), mb_free(s->p), mb_free(s->ws);
    free(s);
}

/* local score entries per batch element: r^2 per chunk (computed in full, masked when causal) */
static double local_entries(const struct mb_point *p) {
    const int64_t c = mb_gau_c(p), full = p->n / c, rest = p->n % c;
    return (double)full * (double)c * (double)c + (double)rest * (double)rest;
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double rows = (double)p->batch * (double)p->n, d = (double)p->d, e = (double)mb_gau_e(p), s = (double)mb_gau_s(p);
    const double chunks = (double)p->batch * (double)((p->n + mb_gau_c(p) - 1) / mb_gau_c(p));
    return mb_gau_proj_flops(p, 1) + 8.0 * rows * s + 4.0 * rows * s * e + chunks * s * e +
           (double)p->batch * local_entries(p) * (2.0 * s + 2.0 * e + 3.0) + rows * e + 2.0 * rows * e * d;
}

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double rows = (double)p->batch * (double)p->n, e = (double)mb_gau_e(p), s = (double)mb_gau_s(p);
    const double chunks = (double)p->batch * (double)((p->n + mb_gau_c(p) - 1) / mb_gau_c(p));
    return mb_gau_io_bytes(p, "flash") + 8.0 * rows * (2.0 * e + 3.0 * s) + 4.0 * 4.0 * chunks * s * e +
           12.0 * (double)p->batch * local_entries(p);
}

/* setup's buffers, or the oracle check's (family.h) when larger */
static double workspace(const struct mb_kernel *kernel, const struct mb_point *p) {
    const double rows = (double)p->batch * (double)p->n, e = (double)mb_gau_e(p), s = (double)mb_gau_s(p);
    const double c = (double)chunk(p), threads = p->threads > 0 ? (double)p->threads : 1.0;
    const double chunks = (double)p->batch * (double)((p->n + mb_gau_c(p) - 1) / mb_gau_c(p));
    return fmax(4.0 * (rows * (2.0 * e + 3.0 * s) + chunks * s * e + threads * (c * c + c * e + 2.0 * c * s)),
                mb_gau_oracle_bytes(kernel->mechanism, p));
}

const struct mb_kernel mb_kernel_gau_flash = {
    .name = "gau.flash",
    .family = &mb_family_gau,
    .mechanism = "flash",
    .summary = "FLASH mixed chunk attention: local relu^2 within chunks of c + global linear over chunks (causal: "
               "exclusive chunk prefix); params 3de+ds+8s (d=512,e=1024,s=128: 1.639M)",
    .complexity = "O(n d (e+s) + n c (s+e) + n s e) time, O(n (e+s) + (n/c) s e) memory",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(causal) | MB_AXIS_BIT(rank) |
            MB_AXIS_BIT(block),
    .rank_meaning = "s: width of Z and the four Q/K maps (0 = 128)",
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
