/* gau.mha_ffn: the baseline Transformer block with the parameter budget of two GAUs (Vaswani et al. 2017; the
 * "Transformer" baseline of Hua et al. 2022, sec. 4): multi-head softmax attention then a GELU FFN, no residual
 * and no normalisation (as every kernel of this family).
 *
 *   Q, K, V = X W_q, X W_k, X W_v_attn              (n, d), split into heads = d / 64 heads of 64
 *   A_h = softmax(Q_h K_h^T / 8 [+ causal mask]) V_h  by the registered kernel attention.softmax.flash (falls back
 *                                                    to attention.softmax.naive), driven through its contract on a
 *                                                    private workload over our (batch, heads, n, 64) buffers
 *   Y = concat_h(A_h) W_o_attn;  O = gelu(Y W_1) W_2  W_1 (d, 4d), W_2 (4d, d); GELU erf form (PyTorch default)
 * Cost: 8 n d^2 (projections) + the attention kernel's (4 n^2 d, ~half causal) + 16 n d^2 (FFN) FLOPs.
 * Parameters 4d^2 + 8d^2 = 12 d^2 (no biases).
 */
#include "gau/family.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define RB 64

struct mha {
    struct mb_gau g;
    int64_t heads;
    float *q, *k, *v, *att;        /* (batch, heads, n, 64) */
    const struct mb_kernel *attn;
    struct mb_workload aw;         /* the attention kernel's private workload over q, k, v, att */
    void *astate;
    int slots;
    size_t stride;
    float *ws;                     /* slots x 6 * RB * d */
};

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (p->d % MB_GAU_HEAD_DIM) return mb_errorf(why, len, "heads = d / 64: d = %lld is not a multiple of 64", (long long)p->d), 1;
    return 0;
}

static const struct mb_kernel *attention_kernel(void) {
    const struct mb_kernel *k = mb_kernel_find("attention.softmax.flash");
    return k ? k : mb_kernel_find("attention.softmax.naive");
}

static void free_state(struct mha *s) {
    mb_free(s->q), mb_free(s->k), mb_free(s->v), mb_free(s->att), mb_free(s->ws);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct mha *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_gau_bind(&s->g, w);
    const struct mb_gau *g = &s->g;
    s->heads = g->d / MB_GAU_HEAD_DIM;
    s->attn = attention_kernel();
    if (!s->attn) return free(s), mb_errorf(err, errlen, "no softmax attention kernel registered");
    const size_t elems = (size_t)(g->batch * g->n * g->d);
    s->slots = omp_get_max_threads() > w->point.threads ? omp_get_max_threads() : (int)w->point.threads;
    s->stride = ((size_t)6 * RB * (size_t)g->d + 15) & ~(size_t)15;
    s->q = mb_alloc(elems * sizeof(float));
    s->k = mb_alloc(elems * sizeof(float));
    s->v = mb_alloc(elems * sizeof(float));
    s->att = mb_alloc(elems * sizeof(float));
    s->ws = mb_alloc((size_t)s->slots * s->stride * sizeof(float));
    if (!s->q || !s->k || !s->v || !s->att || !s->ws) return free_state(s), mb_errorf(err, errlen, "cannot allocate q, k, v");
    struct mb_workload *aw = &s->aw;
    memset(aw, 0, sizeof *aw);
    aw->family = s->attn->family;
    aw->seed = w->seed;
    aw->point.batch = g->batch;
    aw->point.heads = s->heads;
    aw->point.n = g->n;
    aw->point.d = MB_GAU_HEAD_DIM;
    aw->point.causal = g->causal;
    aw->point.threads = w->point.threads;
    mb_point_complete(s->attn, &aw->point, ~UINT64_C(0));
    char why[MB_MESSAGE_LEN];
    if (mb_kernel_supports(s->attn, &aw->point, why, sizeof why))
        return mb_errorf(err, errlen, "%s: %s", s->attn->name, why), free_state(s), -1;
    if (aw->family->layout(aw, err, errlen)) return free_state(s), -1;
    struct mb_tensor *tq = mb_workload_tensor(aw, "q"), *tk = mb_workload_tensor(aw, "k"),
                     *tv = mb_workload_tensor(aw, "v"), *to = mb_workload_tensor(aw, "out");
    if (!tq || !tk || !tv || !to || mb_tensor_numel(tq) != (int64_t)elems || mb_tensor_numel(to) != (int64_t)elems)
        return mb_errorf(err, errlen, "%s: unexpected tensor layout", s->attn->name), free_state(s), -1;
    tq->data = s->q, tk->data = s->k, tv->data = s->v, to->data = s->att;
    if (mb_kernel_setup(s->attn, &s->astate, aw, err, errlen)) return free_state(s), -1;
    *state = s;
    return 0;
}

static void run(void *state) {
    struct mha *s = state;
    const struct mb_gau *g = &s->g;
    const int64_t n = g->n, d = g->d, hd = MB_GAU_HEAD_DIM, heads = s->heads, blocks = (n + RB - 1) / RB;
    const int64_t tasks = g->batch * blocks;
    /* Q, K, V projections, scattered into (batch, heads, n, 64) */
#pragma omp parallel for schedule(dynamic)
    for (int64_t task = 0; task < tasks; task++) {
        const int64_t b = task / blocks, i0 = (task % blocks) * RB, r = n - i0 < RB ? n - i0 : RB;
        float *tmp = s->ws + (size_t)omp_get_thread_num() * s->stride;
        const float *x = g->x + (b * n + i0) * d;
        const float *wts[3] = {g->w_q, g->w_k, g->w_v_attn};
        float *dst[3] = {s->q, s->k, s->v};
        for (int m = 0; m < 3; m++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)d, (int)d, 1.0f, x, (int)d, wts[m],
                        (int)d, 0.0f, tmp, (int)d);
            for (int64_t h = 0; h < heads; h++)
                for (int64_t rr = 0; rr < r; rr++)
                    memcpy(dst[m] + ((b * heads + h) * n + i0 + rr) * hd, tmp + rr * d + h * hd, (size_t)hd * sizeof(float));
        }
    }
    s->attn->run(s->astate);
    /* concat heads, W_o_attn, FFN */
#pragma omp parallel for schedule(dynamic)
    for (int64_t task = 0; task < tasks; task++) {
        const int64_t b = task / blocks, i0 = (task % blocks) * RB, r = n - i0 < RB ? n - i0 : RB;
        float *cat = s->ws + (size_t)omp_get_thread_num() * s->stride, *y = cat + RB * d, *hid = y + RB * d;
        for (int64_t h = 0; h < heads; h++)
            for (int64_t rr = 0; rr < r; rr++)
                memcpy(cat + rr * d + h * hd, s->att + ((b * heads + h) * n + i0 + rr) * hd, (size_t)hd * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)d, (int)d, 1.0f, cat, (int)d, g->w_o_attn,
                    (int)d, 0.0f, y, (int)d);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)(4 * d), (int)d, 1.0f, y, (int)d, g->w_1,
                    (int)(4 * d), 0.0f, hid, (int)(4 * d));
        mb_gau_gelu(hid, r * 4 * d);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)d, (int)(4 * d), 1.0f, hid, (int)(4 * d),
                    g->w_2, (int)d, 0.0f, g->out + (b * n + i0) * d, (int)d);
    }
}

static void teardown(void *state) {
    struct mha *s = state;
    s->attn->teardown(s->astate);
    free_state(s);
}

static struct mb_point attention_point(const struct mb_point *p) {
    struct mb_point a;
    memset(&a, 0, sizeof a);
    a.batch = p->batch, a.heads = p->d / MB_GAU_HEAD_DIM, a.n = p->n, a.d = MB_GAU_HEAD_DIM, a.causal = p->causal;
    a.threads = p->threads;
    return a;
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const struct mb_kernel *k = attention_kernel();
    const struct mb_point a = attention_point(p);
    const double rows = (double)p->batch * (double)p->n, d = (double)p->d;
    return 8.0 * rows * d * d + (k ? mb_kernel_flops(k, &a) : 0.0) + 16.0 * rows * d * d + 20.0 * rows * d;
}

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const struct mb_kernel *k = attention_kernel();
    const struct mb_point a = attention_point(p);
    const double rows = (double)p->batch * (double)p->n, d = (double)p->d;
    return mb_gau_io_bytes(p, "mha_ffn") + 4.0 * 4.0 * rows * d + (k ? mb_kernel_bytes(k, &a) : 0.0);
}

/* setup's buffers and the attention kernel's workspace, or the oracle check's (family.h) when larger */
static double workspace(const struct mb_kernel *kernel, const struct mb_point *p) {
    const struct mb_kernel *k = attention_kernel();
    const struct mb_point a = attention_point(p);
    const double rows = (double)p->batch * (double)p->n, d = (double)p->d;
    const double threads = p->threads > 0 ? (double)p->threads : 1.0;
    return fmax(4.0 * (4.0 * rows * d + threads * 6.0 * RB * d) + (k ? mb_kernel_workspace(k, &a) : 0.0),
                mb_gau_oracle_bytes(kernel->mechanism, p));
}

const struct mb_kernel mb_kernel_gau_mha_ffn = {
    .name = "gau.mha_ffn",
    .family = &mb_family_gau,
    .mechanism = "mha_ffn",
    .summary = "baseline block: MHA (heads = d/64, via attention.softmax.flash) + GELU FFN (4d), no residual/norm; "
               "params 12d^2 (d=512: 3.146M)",
    .complexity = "O(n d^2 + n^2 d) time, O(n d) memory + the attention kernel's",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(causal),
    MB_KERNEL_SOURCE,
    .supports = supports,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
