/* attention.performer: Performer FAVOR+ (positive orthogonal random features) approximating softmax attention.
 *
 *   x' = x / d^(1/4)                                    (so that E[phi(q').phi(k')] = exp(q.k / sqrt(d)))
 *   phi(x) = exp(W x' - |x'|^2 / 2) / sqrt(m)           W (m x d): rows N(0, I_d), orthogonal in blocks of d
 *   non-causal: O = phi(Q) (phi(K)^T V) / (phi(Q) (phi(K)^T 1))
 *   causal:     O_i = phi(q_i)^T S_i / phi(q_i)^T z_i,  S_i = sum_{j<=i} phi(k_j) v_j^T,  z_i = sum_{j<=i} phi(k_j)
 *
 * Stabilisation (as the reference softmax_kernel_transformation, without its additive 1e-6): the exponent of
 * phi(q_i) is shifted by its own row maximum, that of phi(K) by the maximum over the whole head; both shifts, and
 * 1/sqrt(m), are common factors of a numerator and its denominator, so the result is the formula above exactly.
 * Features (family_lowrank.c): seeded from the workload seed, d, m; shared by every head. Orthogonal blocks come
 * from LAPACK QR, row norms re-drawn from chi_d; params features=orthogonal (default) | iid.
 * Causal: chunks of CHUNK rows: per chunk phi(K_c)^T V_c (sgemm), an exclusive prefix over chunks, then
 * phi(Q_c) S_{<c} + tril(phi(Q_c) phi(K_c)^T) V_c (sgemm): GEMM-shaped, parallel over heads and chunks.
 * Shapes: Q, K, V, O (batch, heads, n, d); phi(Q), phi(K) (n, m) per head. Rank axis: m (0 = 256).
 * Cost per head: 4 n m d (feature projections) + 4 n m d (phi(K)^T V and phi(Q) S) + 2 n m exp
 * (+ 4 n CHUNK (m + d) for the causal diagonal blocks). O(n m d) time, O(n m + (n / CHUNK) m d) memory.
 * Source: Choromanski et al. 2020, "Rethinking Attention with Performers", eq. 5-7 (FAVOR+), Lemma 1 and
 * section 2.4 (orthogonal random features); kexue.fm/archives/7921.
 */
#include "attention/family_lowrank.h"
#include "attention/family_softmax.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 64
#define DEFAULT_M 256

static int64_t performer_m(const struct mb_point *p) { return p->rank > 0 ? p->rank : DEFAULT_M; }

static const struct mb_param_decl performer_params[] = {
    {"features", MB_PARAM_ENUM, 0, 0, 0, "orthogonal|iid",
     "random feature draw: orthogonal blocks with chi norms (FAVOR+) or iid Gaussian rows"},
};

/* features=orthogonal (1) | iid (0) */
static int performer_orthogonal(const struct mb_point *p) { return mb_param_enum(p, "features") == 0; }

/* x[0..len) <- exp(x - shift), vectorised */
static void exp_shift(float *x, int64_t len, float shift) { (void)mb_attn_exp_sum(x, len, shift); }

static float half_sq_norm(const float *x, int64_t d, float scale2) {
    float s = 0;
    for (int64_t c = 0; c < d; c++) s += x[c] * x[c];
    return 0.5f * s * scale2;
}

struct performer {
    struct mb_attn a;
    int64_t m, chunks, threads;
    float *w;        /* (m, d) */
    float *phi_q;    /* (batch*heads, n, m) */
    float *phi_k;    /* (batch*heads, n, m) */
    float *kmax;     /* (batch*heads, chunks): max exponent of phi(K) per chunk */
    float *s;        /* (batch*heads, chunks + 1, m, d): per-chunk phi(K_c)^T V_c -> exclusive prefix; [chunks] = total */
    float *z;        /* (batch*heads, chunks + 1, m) */
    float *local;    /* (threads, CHUNK, CHUNK): causal diagonal block */
    float *denom;    /* (threads, CHUNK) */
};

static void release(struct performer *s) {
    mb_free(s->w);
    mb_free(s->phi_q);
    mb_free(s->phi_k);
    mb_free(s->kmax);
    mb_free(s->s);
    mb_free(s->z);
    mb_free(s->local);
    mb_free(s->denom);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    const int orthogonal = performer_orthogonal(&w->point);
    struct performer *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    const int64_t n = s->a.n, d = s->a.d, m = s->m = performer_m(&w->point), heads = mb_attn_head_count(&s->a);
    s->chunks = (n + CHUNK - 1) / CHUNK;
    s->threads = omp_get_max_threads();
    if (w->point.threads > s->threads) s->threads = w->point.threads;
    s->w = mb_alloc((size_t)(m * d) * sizeof(float));
    s->phi_q = mb_alloc((size_t)(heads * n * m) * sizeof(float));
    s->phi_k = mb_alloc((size_t)(heads * n * m) * sizeof(float));
    s->kmax = mb_alloc((size_t)(heads * s->chunks) * sizeof(float));
    s->s = mb_alloc((size_t)(heads * (s->chunks + 1) * m * d) * sizeof(float));
    s->z = mb_alloc((size_t)(heads * (s->chunks + 1) * m) * sizeof(float));
    s->local = mb_alloc((size_t)(s->threads * CHUNK * CHUNK) * sizeof(float));
    s->denom = mb_alloc((size_t)(s->threads * CHUNK) * sizeof(float));
    double *wd = malloc((size_t)(m * d) * sizeof(double));
    if (!s->w || !s->phi_q || !s->phi_k || !s->kmax || !s->s || !s->z || !s->local || !s->denom || !wd) {
        free(wd);
        release(s);
        return mb_errorf(err, errlen, "out of memory for m = %lld features", (long long)m);
    }
    if (mb_lowrank_performer_features(w->seed, d, m, orthogonal, wd)) {
        free(wd);
        release(s);
        return mb_errorf(err, errlen, "LAPACK QR failed drawing orthogonal features");
    }
    for (int64_t e = 0; e < m * d; e++) s->w[e] = (float)wd[e];
    free(wd);
    *state = s;
    return 0;
}

static void run(void *state) {
    struct performer *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, m = s->m, heads = mb_attn_head_count(a), chunks = s->chunks;
    const int64_t items = heads * chunks, md = m * d;
    const float xscale = 1.0f / sqrtf(sqrtf((float)d)), scale2 = xscale * xscale;
#pragma omp parallel
    {
        const int64_t t = omp_get_thread_num();
        float *local = s->local + t * CHUNK * CHUNK, *denom = s->denom + t * CHUNK;
        /* 1. exponents W x' - |x'|^2/2; phi(Q) finished with its row max; the max of phi(K)'s per chunk */
#pragma omp for schedule(static)
        for (int64_t item = 0; item < items; item++) {
            const int64_t head = item / chunks, i0 = (item % chunks) * CHUNK, rows = n - i0 < CHUNK ? n - i0 : CHUNK;
            const int64_t xoff = head * n * d + i0 * d, foff = head * n * m + i0 * m;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)m, (int)d, xscale, a->q + xoff,
                        (int)d, s->w, (int)d, 0.0f, s->phi_q + foff, (int)m);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)m, (int)d, xscale, a->k + xoff,
                        (int)d, s->w, (int)d, 0.0f, s->phi_k + foff, (int)m);
            float kmax = -INFINITY;
            for (int64_t r = 0; r < rows; r++) {
                float *pq = s->phi_q + foff + r * m, *pk = s->phi_k + foff + r * m;
                exp_shift(pq, m, mb_attn_row_max(pq, m) + half_sq_norm(a->q + xoff + r * d, d, scale2));
                const float hk = half_sq_norm(a->k + xoff + r * d, d, scale2);
                for (int64_t f = 0; f < m; f++) pk[f] -= hk;
                const float rm = mb_attn_row_max(pk, m);
                kmax = rm > kmax ? rm : kmax;
            }
            s->kmax[item] = kmax;
        }
        /* 2. phi(K) with the head's max; per chunk S_c = phi(K_c)^T V_c, z_c = phi(K_c)^T 1 */
#pragma omp for schedule(static)
        for (int64_t item = 0; item < items; item++) {
            const int64_t head = item / chunks, c = item % chunks, i0 = c * CHUNK, rows = n - i0 < CHUNK ? n - i0 : CHUNK;
            const int64_t foff = head * n * m + i0 * m;
            const float gmax = mb_attn_row_max(s->kmax + head * chunks, chunks);
            exp_shift(s->phi_k + foff, rows * m, gmax);
            float *sc = s->s + (head * (chunks + 1) + c) * md, *zc = s->z + (head * (chunks + 1) + c) * m;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)d, (int)rows, 1.0f, s->phi_k + foff,
                        (int)m, a->v + head * n * d + i0 * d, (int)d, 0.0f, sc, (int)d);
            memset(zc, 0, (size_t)m * sizeof(float));
            for (int64_t r = 0; r < rows; r++)
                for (int64_t f = 0; f < m; f++) zc[f] += s->phi_k[foff + r * m + f];
        }
        /* 3. exclusive prefix over chunks (row f of S and z per task); slot [chunks] gets the total */
#pragma omp for schedule(static)
        for (int64_t item = 0; item < heads * m; item++) {
            const int64_t head = item / m, f = item % m;
            float *s0 = s->s + head * (chunks + 1) * md + f * d, *z0 = s->z + head * (chunks + 1) * m + f;
            float zrun = 0, run_row[d];
            memset(run_row, 0, sizeof run_row);
            for (int64_t c = 0; c <= chunks; c++) {
                float *row = s0 + c * md;
                for (int64_t e = 0; e < d; e++) {
                    const float x = c < chunks ? row[e] : 0.0f;
                    row[e] = run_row[e];
                    run_row[e] += x;
                }
                const float zx = c < chunks ? z0[c * m] : 0.0f;
                z0[c * m] = zrun;
                zrun += zx;
            }
        }
        /* 4. outputs per chunk */
#pragma omp for schedule(static)
        for (int64_t item = 0; item < items; item++) {
            const int64_t head = item / chunks, c = item % chunks, i0 = c * CHUNK, rows = n - i0 < CHUNK ? n - i0 : CHUNK;
            const int64_t foff = head * n * m + i0 * m, xoff = head * n * d + i0 * d;
            const int64_t slot = a->causal ? c : chunks;
            const float *sp = s->s + (head * (chunks + 1) + slot) * md, *zp = s->z + (head * (chunks + 1) + slot) * m;
            const float *pq = s->phi_q + foff;
            float *o = a->out + xoff;
            for (int64_t r = 0; r < rows; r++) {
                float acc = 0;
                for (int64_t f = 0; f < m; f++) acc += pq[r * m + f] * zp[f];
                denom[r] = acc;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)m, 1.0f, pq, (int)m, sp,
                        (int)d, 0.0f, o, (int)d);
            if (a->causal) { /* diagonal block: tril(phi(Q_c) phi(K_c)^T) V_c */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)rows, (int)m, 1.0f, pq, (int)m,
                            s->phi_k + foff, (int)m, 0.0f, local, CHUNK);
                for (int64_t r = 0; r < rows; r++) {
                    float acc = 0;
                    for (int64_t j = 0; j <= r; j++) acc += local[r * CHUNK + j];
                    for (int64_t j = r + 1; j < rows; j++) local[r * CHUNK + j] = 0.0f;
                    denom[r] += acc;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)rows, 1.0f, local,
                            CHUNK, a->v + xoff, (int)d, 1.0f, o, (int)d);
            }
            for (int64_t r = 0; r < rows; r++) {
                const float inv = 1.0f / denom[r];
                for (int64_t e = 0; e < d; e++) o[r * d + e] *= inv;
            }
        }
    }
}

static void teardown(void *state) { release(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double m = (double)performer_m(p), n = (double)p->n, d = (double)p->d;
    double per_head = 8.0 * n * m * d + 6.0 * n * m + 2.0 * n * d;
    if (p->causal) per_head += 2.0 * n * CHUNK * (m + d);
    return (double)p->batch * p->heads * per_head;
}

/* io, phi(Q) and phi(K) written and read (twice for phi(K)), the per-chunk S written, prefixed, read */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double m = (double)performer_m(p), heads = (double)p->batch * p->heads, chunks = ceil((double)p->n / CHUNK);
    return mb_attn_io_bytes(kernel, p) + heads * 4.0 * (5.0 * p->n * m + 3.0 * (chunks + 1) * m * (p->d + 1));
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double m = (double)performer_m(p), heads = (double)p->batch * p->heads, chunks = ceil((double)p->n / CHUNK);
    const double t = p->threads > 0 ? (double)p->threads : 1.0;
    return 4.0 * (m * p->d + heads * (2.0 * p->n * m + chunks + (chunks + 1) * m * (p->d + 1)) +
                  t * CHUNK * (CHUNK + 1));
}

/* ------------------------------------------------------------------------------------------ oracle */
struct w_ctx {
    uint64_t seed;
    int64_t d, m;
    int orthogonal;
};

static void fill_w(void *data, const void *ctx) {
    const struct w_ctx *c = ctx;
    if (mb_lowrank_performer_features(c->seed, c->d, c->m, c->orthogonal, data))
        for (int64_t e = 0; e < c->m * c->d; e++) ((double *)data)[e] = NAN;
}

/* phi(x) in double, exponent shifted by `shift` (a common factor) and without 1/sqrt(m) (another) */
static void phi_double(const double *w, const float *x, int64_t d, int64_t m, double *out, double *max_out) {
    const double xs = pow((double)d, -0.25);
    double sq = 0, mx = -INFINITY;
    for (int64_t c = 0; c < d; c++) sq += (double)x[c] * x[c];
    for (int64_t f = 0; f < m; f++) {
        double dot = 0;
        for (int64_t c = 0; c < d; c++) dot += w[f * d + c] * x[c];
        out[f] = dot * xs - 0.5 * sq * xs * xs;
        if (out[f] > mx) mx = out[f];
    }
    if (max_out) *max_out = mx;
}

struct phik_ctx {
    const double *w;
    const float *k; /* the head's keys */
    int64_t n, d, m;
};

/* exp(W k_j' - |k_j'|^2/2 - max over the head), (n, m) */
static void fill_phik(void *data, const void *ctx) {
    const struct phik_ctx *c = ctx;
    double *phi = data, gmax = -INFINITY;
    for (int64_t j = 0; j < c->n; j++) {
        double mx;
        phi_double(c->w, c->k + j * c->d, c->d, c->m, phi + j * c->m, &mx);
        if (mx > gmax) gmax = mx;
    }
    for (int64_t e = 0; e < c->n * c->m; e++) phi[e] = exp(phi[e] - gmax);
}

/* out_i = sum_{j <= last} (phi(q_i).phi(k_j)) v_j / sum_{j <= last} phi(q_i).phi(k_j), all in double; phi(K)
 * of the head is computed once per check and cached (keyed by the seed, the shapes and a checksum of the keys). */
void mb_attn_oracle_performer(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i,
                              double *scratch, double *out) {
    const int64_t n = a->n, d = a->d, m = performer_m(&w->point), off = head * n * d;
    const int orthogonal = performer_orthogonal(&w->point);
    const struct w_ctx wc = {w->seed, d, m, orthogonal};
    const uint64_t wkey[8] = {MB_LOWRANK_TAG_PERFORMER_W, w->seed, (uint64_t)d, (uint64_t)m, (uint64_t)orthogonal};
    void *wh = NULL, *kh = NULL;
    const double *wf = mb_lowrank_cache_get(wkey, (size_t)(m * d) * sizeof(double), fill_w, &wc, &wh);
    const double *phik = NULL;
    double *phiq = malloc((size_t)m * sizeof(double));
    if (wf) {
        const struct phik_ctx kc = {wf, a->k + off, n, d, m};
        const uint64_t kkey[8] = {MB_LOWRANK_TAG_PERFORMER_NORMS, w->seed, (uint64_t)n, (uint64_t)d, (uint64_t)m,
                                  (uint64_t)orthogonal, (uint64_t)head, mb_lowrank_checksum(a->k + off, n * d)};
        phik = mb_lowrank_cache_get(kkey, (size_t)(n * m) * sizeof(double), fill_phik, &kc, &kh);
    }
    if (!wf || !phik || !phiq) {
        for (int64_t c = 0; c < d; c++) out[c] = NAN;
    } else {
        double mx;
        phi_double(wf, a->q + off + i * d, d, m, phiq, &mx);
        for (int64_t f = 0; f < m; f++) phiq[f] = exp(phiq[f] - mx);
        const int64_t last = mb_attn_last_key(a, i);
        for (int64_t j = 0; j <= last; j++) {
            double s = 0;
            for (int64_t f = 0; f < m; f++) s += phiq[f] * phik[j * m + f];
            scratch[j] = s;
        }
        mb_attn_weighted_rows(a, a->v + off, last, scratch, 0.0, out);
    }
    free(phiq);
    mb_lowrank_cache_release(kh);
    mb_lowrank_cache_release(wh);
}

const struct mb_kernel mb_kernel_attention_performer = {
    .name = "attention.performer",
    .family = &mb_family_attention,
    .mechanism = "performer",
    .approximates = "softmax",
    .summary = "Performer FAVOR+: positive orthogonal random features, phi(Q) (phi(K)^T V) normalised; causal by "
               "chunked prefix sums (sgemm); params features=orthogonal|iid",
    .complexity = "O(n m d) time, O(n m) memory",
    .axes = MB_ATTN_AXES | MB_AXIS_BIT(rank),
    .rank_meaning = "m, the number of random features (0 = 256)",
    .params = performer_params,
    .n_params = (int)(sizeof performer_params / sizeof performer_params[0]),
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
