/* attention.linformer: Linformer self-attention, keys and values projected along the sequence to length k.
 *
 *   O = softmax(Q (E K)^T / sqrt(d)) (F V)        E, F in R^{k x n}, entries N(0, 1/k)
 *
 * Shapes: Q, K, V, O (batch, heads, n, d); E K and F V are k x d per head. E and F are random projections drawn
 * once from the workload seed, n and k (family_lowrank.c) and shared by every head and batch element (the paper's
 * "headwise sharing"); they are not trained here, so this measures the random-projection (Johnson-Lindenstrauss)
 * approximation the paper's Theorem 1 rests on. The rank axis is k, the projected length; rank 0 = min(n, 256).
 * k > n is allowed (the formula is well defined; the paper only uses k < n). E and F fix n: a sequence of another
 * length needs new projections (the paper pads to a maximal n; here the draws simply depend on n).
 * Non-causal only: every projected row mixes all n positions, so a causal mask is not expressible.
 * Cost per head: E K and F V, 4 n k d FLOPs (sgemm); scores and P (F V), 4 n k d; n k exp. O(n k d) time,
 * O(n k) memory (E, F, and the n x k scores of one row block per thread).
 * Source: Wang et al. 2020, "Linformer: Self-Attention with Linear Complexity", eq. 7 and section 4.
 */
#include "attention/family_lowrank.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ROW_BLOCK 64 /* query rows per task */
#define K_BLOCK 64   /* rows of E (or F) per projection task */

static int64_t linformer_k(const struct mb_point *p) {
    if (p->rank > 0) return p->rank;
    return p->n < 256 ? p->n : 256;
}

/* E then F, each (k, n), N(0, 1/k), from the workload seed: the one draw used by the kernel and the oracle */
static void draw_projections(uint64_t seed, int64_t n, int64_t k, double *ef) {
    const double sd = 1.0 / sqrt((double)k);
    mb_lowrank_gaussian(mb_lowrank_seed(seed, MB_LOWRANK_TAG_LINFORMER_E, n, k, 0), ef, k * n, sd);
    mb_lowrank_gaussian(mb_lowrank_seed(seed, MB_LOWRANK_TAG_LINFORMER_F, n, k, 0), ef + k * n, k * n, sd);
}

struct linformer {
    struct mb_attn a;
    int64_t k, threads;
    float *ef;     /* (2, k, n): E then F */
    float *ekfv;   /* (batch*heads, 2, k, d): E K then F V */
    float *scores; /* (threads, ROW_BLOCK, k) */
};

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (!p->causal) return 0;
    mb_errorf(why, len, "non-causal only: E K and F V mix all n positions, so the future leaks");
    return 1;
}

static void release(struct linformer *s) {
    mb_free(s->ef);
    mb_free(s->ekfv);
    mb_free(s->scores);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct linformer *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    const int64_t n = s->a.n, d = s->a.d, k = s->k = linformer_k(&w->point), heads = mb_attn_head_count(&s->a);
    s->threads = omp_get_max_threads();
    if (w->point.threads > s->threads) s->threads = w->point.threads;
    s->ef = mb_alloc((size_t)(2 * k * n) * sizeof(float));
    s->ekfv = mb_alloc((size_t)(heads * 2 * k * d) * sizeof(float));
    s->scores = mb_alloc((size_t)(s->threads * ROW_BLOCK * k) * sizeof(float));
    double *ef = malloc((size_t)(2 * k * n) * sizeof(double));
    if (!s->ef || !s->ekfv || !s->scores || !ef) {
        free(ef);
        release(s);
        return mb_errorf(err, errlen, "out of memory for the k = %lld projections", (long long)k);
    }
    draw_projections(w->seed, n, k, ef);
    for (int64_t e = 0; e < 2 * k * n; e++) s->ef[e] = (float)ef[e];
    free(ef);
    *state = s;
    return 0;
}

static void run(void *state) {
    struct linformer *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, k = s->k, heads = mb_attn_head_count(a);
    const int64_t k_blocks = (k + K_BLOCK - 1) / K_BLOCK, row_blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
    const float scale = 1.0f / sqrtf((float)d);
#pragma omp parallel
    {
        /* 1. E K and F V: (k, n) x (n, d), split into blocks of K_BLOCK projected rows */
#pragma omp for schedule(static)
        for (int64_t item = 0; item < heads * 2 * k_blocks; item++) {
            const int64_t head = item / (2 * k_blocks), which = (item / k_blocks) % 2, r0 = (item % k_blocks) * K_BLOCK;
            const int64_t rows = k - r0 < K_BLOCK ? k - r0 : K_BLOCK, off = head * n * d;
            const float *x = (which ? a->v : a->k) + off;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)n, 1.0f,
                        s->ef + (which * k + r0) * n, (int)n, x, (int)d, 0.0f,
                        s->ekfv + ((head * 2 + which) * k + r0) * d, (int)d);
        }
        /* 2. per block of query rows: P = softmax(Q_b (E K)^T / sqrt(d)), O_b = P (F V) */
        float *sc = s->scores + (int64_t)omp_get_thread_num() * ROW_BLOCK * k;
#pragma omp for schedule(static)
        for (int64_t item = 0; item < heads * row_blocks; item++) {
            const int64_t head = item / row_blocks, i0 = (item % row_blocks) * ROW_BLOCK;
            const int64_t rows = n - i0 < ROW_BLOCK ? n - i0 : ROW_BLOCK, off = head * n * d + i0 * d;
            const float *ek = s->ekfv + head * 2 * k * d, *fv = ek + k * d;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)k, (int)d, scale, a->q + off,
                        (int)d, ek, (int)d, 0.0f, sc, (int)k);
            for (int64_t r = 0; r < rows; r++) mb_attn_softmax_row(sc + r * k, k);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)k, 1.0f, sc, (int)k, fv,
                        (int)d, 0.0f, a->out + off, (int)d);
        }
    }
}

static void teardown(void *state) { release(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double k = (double)linformer_k(p), nkd = (double)p->n * k * p->d;
    return (double)p->batch * p->heads * (8.0 * nkd + 3.0 * (double)p->n * k);
}

/* inputs and output once, E and F once per head, E K and F V written once and read once per row block */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double k = (double)linformer_k(p), heads = (double)p->batch * p->heads;
    const double row_blocks = ceil((double)p->n / ROW_BLOCK);
    return mb_attn_io_bytes(kernel, p) + heads * 4.0 * (2.0 * k * p->n + 2.0 * k * p->d * (1.0 + row_blocks));
}

/* E and F (float), E K and F V, the score blocks; plus setup's float64 draw of E and F (freed after the conversion),
   which also bounds the oracle's cached float64 copy of E and F during the check */
static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double k = (double)linformer_k(p), t = p->threads > 0 ? (double)p->threads : 1.0;
    return 4.0 * (2.0 * k * p->n + (double)p->batch * p->heads * 2.0 * k * p->d + t * ROW_BLOCK * k) +
           8.0 * 2.0 * k * p->n;
}

/* ------------------------------------------------------------------------------------------ oracle */
struct ef_ctx {
    uint64_t seed;
    int64_t n, k;
};

static void fill_ef(void *data, const void *ctx) {
    const struct ef_ctx *c = ctx;
    draw_projections(c->seed, c->n, c->k, data);
}

/* Directly in double, O(n (d + k)) per row, without forming E K:
 *   t_j = q_i.k_j / sqrt(d);  s_l = sum_j E_lj t_j  (= q_i.(E K)_l / sqrt(d));  p = softmax(s);
 *   u_j = sum_l p_l F_lj;     out_i = sum_j u_j v_j  (= sum_l p_l (F V)_l). */
void mb_attn_oracle_linformer(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i,
                              double *scratch, double *out) {
    const int64_t n = a->n, d = a->d, k = linformer_k(&w->point), off = head * n * d;
    struct ef_ctx ctx = {w->seed, n, k};
    const uint64_t key[8] = {MB_LOWRANK_TAG_LINFORMER_E, w->seed, (uint64_t)n, (uint64_t)k, 0, 0, 0, 0};
    void *handle;
    const double *e = mb_lowrank_cache_get(key, (size_t)(2 * k * n) * sizeof(double), fill_ef, &ctx, &handle);
    double *s = malloc((size_t)k * sizeof(double));
    if (!e || !s) {
        for (int64_t c = 0; c < d; c++) out[c] = NAN;
        free(s);
        mb_lowrank_cache_release(handle);
        return;
    }
    const double *f = e + k * n;
    const float *qi = a->q + off + i * d, *kk = a->k + off, *v = a->v + off;
    for (int64_t j = 0; j < n; j++) {
        double t = 0;
        for (int64_t c = 0; c < d; c++) t += (double)qi[c] * kk[j * d + c];
        scratch[j] = t / sqrt((double)d);
    }
    double m = -INFINITY;
    for (int64_t l = 0; l < k; l++) {
        double acc = 0;
        for (int64_t j = 0; j < n; j++) acc += e[l * n + j] * scratch[j];
        s[l] = acc;
        if (acc > m) m = acc;
    }
    double z = 0;
    for (int64_t l = 0; l < k; l++) z += (s[l] = exp(s[l] - m));
    for (int64_t j = 0; j < n; j++) scratch[j] = 0;
    for (int64_t l = 0; l < k; l++)
        for (int64_t j = 0; j < n; j++) scratch[j] += s[l] / z * f[l * n + j];
    for (int64_t c = 0; c < d; c++) out[c] = 0;
    for (int64_t j = 0; j < n; j++)
        for (int64_t c = 0; c < d; c++) out[c] += scratch[j] * v[j * d + c];
    free(s);
    mb_lowrank_cache_release(handle);
}

const struct mb_kernel mb_kernel_attention_linformer = {
    .name = "attention.linformer",
    .family = &mb_family_attention,
    .mechanism = "linformer",
    .approximates = "softmax",
    .summary = "Linformer: softmax(Q (E K)^T / sqrt(d)) (F V) with seeded N(0, 1/k) projections E, F (sgemm)",
    .complexity = "O(n k d) time, O(n k) memory",
    .axes = MB_ATTN_AXES | MB_AXIS_BIT(rank),
    .rank_meaning = "k, the projected sequence length (0 = min(n, 256); k > n allowed)",
    MB_KERNEL_SOURCE,
    .supports = supports,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
