/* attention.reformer_lsh: Reformer LSH attention (shared QK, angular LSH, sorted chunks, multi-round).
 *
 *   shared QK: the keys are the l2-normalised queries, khat_j = q_j / |q_j|; the input k is NOT read
 *   hash, per round r:  h_r(x) = argmax([x R_r ; -x R_r]),  R_r (d x b/2) ~ N(0, 1) seeded (family_lowrank.c)
 *   sort positions by (bucket, position) (a stable counting sort by bucket); cut the sorted sequence into chunks
 *   of C; the candidates of query i are the positions of its own chunk and of the previous chunk (chunk 0 has no
 *   previous chunk: no wrap-around), whatever their bucket (as the trax LSHSelfAttention / HF Reformer default:
 *   no cross-bucket mask);  causal: drop j > i (original positions);  drop j = i unless it is the only candidate.
 *   s_ij = q_i . khat_j / sqrt(d);  lse_r(i) = log sum_j e^{s_ij};  o_r(i) = sum_j e^{s_ij - lse_r(i)} v_j
 *   rounds:  out_i = sum_r exp(lse_r(i) - logsumexp_r' lse_r'(i)) o_r(i)   (paper section 3, multi-round LSH;
 *   duplicate candidates across rounds are not de-duplicated, as in the paper's formula without N_{i,j})
 *
 * Rank axis: b, the number of buckets (even; 0 = 2 ceil(n / C), the "about 2 n / chunk" rule of the reference);
 * params rounds=R (default 1), chunk=C (default 64). R_r is shared by every head (trax draws per head; here
 * one draw per (seed, d, b, round)). Shapes: Q, V, O (batch, heads, n, d).
 * Cost per head and round: hashing n d b FLOPs (n d b/2 multiply-adds, AVX-512), a counting sort O(n + b), and
 * per query 2C candidate keys: 4 (2C) d FLOPs (scores and P V, sgemm on gathered chunks) + 2C exp (SLEEF):
 * O(R n (b d + C d)) time, O(R n d) memory. The sort is O(n) here (the paper's O(n log n) is a comparison sort).
 * Source: Kitaev, Kaiser, Levskaya 2020, "Reformer: The Efficient Transformer", sections 2-3 (eq. 2-4).
 */
#include "attention/family_lowrank.h"
#include "attention/family_softmax.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_param_decl lsh_params[] = {
    {"rounds", MB_PARAM_INT, 1, 1, 64, NULL, "hashing rounds R, combined by logsumexp weights"},
    {"chunk", MB_PARAM_INT, 64, 1, 4096, NULL, "chunk length C: sorted chunks attend to themselves and the previous one"},
};

struct lsh_cfg {
    int64_t b, rounds, chunk;
};

/* 0, or 1 with a message (unsupported point) */
static int lsh_config(const struct mb_point *p, struct lsh_cfg *c, char *why, size_t len) {
    c->rounds = mb_param_int(p, "rounds");
    c->chunk = mb_param_int(p, "chunk");
    c->b = p->rank > 0 ? p->rank : 2 * ((p->n + c->chunk - 1) / c->chunk);
    if (c->b % 2) return mb_errorf(why, len, "rank (buckets) = %lld: must be even", (long long)c->b), 1;
    return 0;
}

struct reformer {
    struct mb_attn a;
    struct lsh_cfg c;
    int64_t chunks, threads;
    float *rot;      /* (rounds, d, b/2) */
    float *khat;     /* (batch*heads, n, d): normalised queries = the keys */
    int32_t *bucket; /* (batch*heads, rounds, n) */
    int32_t *order;  /* (batch*heads, rounds, n): positions sorted by (bucket, position) */
    int32_t *count;  /* (batch*heads, rounds, b + 1): counting-sort offsets */
    float *ro;       /* (batch*heads, rounds, n, d): per-round outputs */
    float *lse;      /* (batch*heads, rounds, n) */
    float *scratch;  /* per thread: q (C, d), k (2C, d), v (2C, d), s (C, 2C), o (C, d) */
};

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    struct lsh_cfg c;
    return lsh_config(p, &c, why, len);
}

static void release(struct reformer *s) {
    mb_free(s->rot);
    mb_free(s->khat);
    mb_free(s->bucket);
    mb_free(s->order);
    mb_free(s->count);
    mb_free(s->ro);
    mb_free(s->lse);
    mb_free(s->scratch);
    free(s);
}

static int64_t scratch_floats(int64_t chunk, int64_t d) { return chunk * (6 * d + 2 * chunk); }

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct reformer *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    if (lsh_config(&w->point, &s->c, err, errlen)) {
        free(s);
        return -1;
    }
    mb_attn_bind(&s->a, w);
    const int64_t n = s->a.n, d = s->a.d, heads = mb_attn_head_count(&s->a), R = s->c.rounds, b = s->c.b;
    s->chunks = (n + s->c.chunk - 1) / s->c.chunk;
    s->threads = omp_get_max_threads();
    if (w->point.threads > s->threads) s->threads = w->point.threads;
    s->rot = mb_alloc((size_t)(R * (b / 2) * d) * sizeof(float));
    s->khat = mb_alloc((size_t)(heads * n * d) * sizeof(float));
    s->bucket = mb_alloc((size_t)(heads * R * n) * sizeof(int32_t));
    s->order = mb_alloc((size_t)(heads * R * n) * sizeof(int32_t));
    s->count = mb_alloc((size_t)(heads * R * (b + 1)) * sizeof(int32_t));
    s->ro = mb_alloc((size_t)(heads * R * n * d) * sizeof(float));
    s->lse = mb_alloc((size_t)(heads * R * n) * sizeof(float));
    s->scratch = mb_alloc((size_t)(s->threads * scratch_floats(s->c.chunk, d)) * sizeof(float));
    if (!s->rot || !s->khat || !s->bucket || !s->order || !s->count || !s->ro || !s->lse || !s->scratch) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for %lld rounds of LSH attention", (long long)R);
    }
    for (int64_t r = 0; r < R; r++) mb_lowrank_lsh_rotations(w->seed, d, b, r, s->rot + r * (b / 2) * d);
    *state = s;
    return 0;
}

static void run(void *state) {
    struct reformer *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, heads = mb_attn_head_count(a), R = s->c.rounds, b = s->c.b, C = s->c.chunk;
    const int64_t chunks = s->chunks;
    const float scale = 1.0f / sqrtf((float)d);
#pragma omp parallel
    {
        float *qs = s->scratch + (int64_t)omp_get_thread_num() * scratch_floats(C, d);
        float *ks = qs + C * d, *vs = ks + 2 * C * d, *ss = vs + 2 * C * d, *os = ss + 2 * C * C;
        /* 1. normalised keys and the buckets of every position and round */
#pragma omp for schedule(static)
        for (int64_t row = 0; row < heads * n; row++) {
            const float *x = a->q + row * d;
            float sq = 0;
            for (int64_t c = 0; c < d; c++) sq += x[c] * x[c];
            const float inv = sq > 0 ? 1.0f / sqrtf(sq) : 0.0f;
            for (int64_t c = 0; c < d; c++) s->khat[row * d + c] = x[c] * inv;
            const int64_t head = row / n, i = row % n;
            for (int64_t r = 0; r < R; r++)
                s->bucket[(head * R + r) * n + i] = mb_lowrank_lsh_bucket(x, s->rot + r * (b / 2) * d, d, b);
        }
        /* 2. stable counting sort by bucket, per head and round */
#pragma omp for schedule(static)
        for (int64_t hr = 0; hr < heads * R; hr++) {
            const int32_t *bk = s->bucket + hr * n;
            int32_t *cnt = s->count + hr * (b + 1), *ord = s->order + hr * n;
            memset(cnt, 0, (size_t)(b + 1) * sizeof(int32_t));
            for (int64_t i = 0; i < n; i++) cnt[bk[i] + 1]++;
            for (int64_t f = 0; f < b; f++) cnt[f + 1] += cnt[f];
            for (int64_t i = 0; i < n; i++) ord[cnt[bk[i]]++] = (int32_t)i;
        }
        /* 3. attention inside (previous chunk, chunk) of the sorted order */
#pragma omp for schedule(dynamic, 4)
        for (int64_t item = 0; item < heads * R * chunks; item++) {
            const int64_t hr = item / chunks, head = hr / R, c = item % chunks;
            const int64_t q0 = c * C, q1 = q0 + C < n ? q0 + C : n, k0 = c > 0 ? q0 - C : q0;
            const int64_t nq = q1 - q0, nk = q1 - k0, off = head * n * d;
            const int32_t *ord = s->order + hr * n;
            for (int64_t t = 0; t < nk; t++) {
                const int32_t j = ord[k0 + t];
                memcpy(ks + t * d, s->khat + off + (int64_t)j * d, (size_t)d * sizeof(float));
                memcpy(vs + t * d, a->v + off + (int64_t)j * d, (size_t)d * sizeof(float));
            }
            for (int64_t t = 0; t < nq; t++)
                memcpy(qs + t * d, a->q + off + (int64_t)ord[q0 + t] * d, (size_t)d * sizeof(float));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)d, scale, qs, (int)d, ks,
                        (int)d, 0.0f, ss, (int)nk);
            for (int64_t t = 0; t < nq; t++) {
                const int32_t i = ord[q0 + t];
                float *row = ss + t * nk;
                int64_t self = -1, kept = 0;
                for (int64_t u = 0; u < nk; u++) {
                    const int32_t j = ord[k0 + u];
                    if ((a->causal && j > i)) row[u] = -INFINITY;
                    else if (j == i) self = u;
                    else kept++;
                }
                if (kept && self >= 0) row[self] = -INFINITY; /* self only when alone */
                const float m = mb_attn_row_max(row, nk), z = mb_attn_exp_sum(row, nk, m); /* -inf -> 0 */
                mb_attn_scale(row, nk, 1.0f / z);
                s->lse[hr * n + i] = m + logf(z);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)d, (int)nk, 1.0f, ss, (int)nk, vs,
                        (int)d, 0.0f, os, (int)d);
            for (int64_t t = 0; t < nq; t++)
                memcpy(s->ro + (hr * n + ord[q0 + t]) * d, os + t * d, (size_t)d * sizeof(float));
        }
        /* 4. combine the rounds with their logsumexp weights */
#pragma omp for schedule(static)
        for (int64_t row = 0; row < heads * n; row++) {
            const int64_t head = row / n, i = row % n;
            float *o = a->out + row * d;
            if (R == 1) {
                memcpy(o, s->ro + row * d, (size_t)d * sizeof(float));
                continue;
            }
            float m = -INFINITY, z = 0;
            for (int64_t r = 0; r < R; r++) m = fmaxf(m, s->lse[(head * R + r) * n + i]);
            for (int64_t r = 0; r < R; r++) z += expf(s->lse[(head * R + r) * n + i] - m);
            memset(o, 0, (size_t)d * sizeof(float));
            for (int64_t r = 0; r < R; r++) {
                const float wr = expf(s->lse[(head * R + r) * n + i] - m) / z;
                const float *src = s->ro + ((head * R + r) * n + i) * d;
                for (int64_t c = 0; c < d; c++) o[c] += wr * src[c];
            }
        }
    }
}

static void teardown(void *state) { release(state); }

static struct lsh_cfg cfg_or_default(const struct mb_point *p) {
    struct lsh_cfg c;
    char why[MB_MESSAGE_LEN];
    if (lsh_config(p, &c, why, sizeof why)) c = (struct lsh_cfg){2, 1, 64};
    return c;
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const struct lsh_cfg c = cfg_or_default(p);
    const double n = (double)p->n, d = (double)p->d, keys = 2.0 * c.chunk < n ? 2.0 * c.chunk : n;
    return (double)p->batch * p->heads * (3.0 * n * d + c.rounds * (n * d * c.b + 4.0 * n * keys * d + 3.0 * n * keys + 3.0 * n * d));
}

/* io, khat written and gathered, q and v gathered per round (keys twice), per-round outputs written and read */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const struct lsh_cfg c = cfg_or_default(p);
    const double heads = (double)p->batch * p->heads, nd = (double)p->n * p->d;
    return mb_attn_io_bytes(kernel, p) + heads * 4.0 * (nd + c.rounds * (5.0 * nd + 2.0 * nd + 4.0 * p->n));
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const struct lsh_cfg c = cfg_or_default(p);
    const double heads = (double)p->batch * p->heads, n = (double)p->n, d = (double)p->d;
    const double t = p->threads > 0 ? (double)p->threads : 1.0;
    return 4.0 * (c.rounds * (c.b / 2.0) * d + heads * (n * d + c.rounds * (4.0 * n + (c.b + 1) + n * d)) +
                  t * (double)scratch_floats(c.chunk, p->d));
}

/* ------------------------------------------------------------------------------------------ oracle */
struct bucket_ctx {
    uint64_t seed;
    const float *q; /* the head's queries */
    int64_t n, d;
    struct lsh_cfg c;
};

static void fill_buckets(void *data, const void *ctx) {
    const struct bucket_ctx *c = ctx;
    int32_t *bk = data;
    const int64_t half = c->c.b / 2;
    float *rot = malloc((size_t)(half * c->d + 1) * sizeof(float));
    for (int64_t r = 0; r < c->c.rounds; r++) {
        if (rot) mb_lowrank_lsh_rotations(c->seed, c->d, c->c.b, r, rot);
        for (int64_t i = 0; i < c->n; i++)
            bk[r * c->n + i] = rot ? mb_lowrank_lsh_bucket(c->q + i * c->d, rot, c->d, c->c.b) : -1;
    }
    free(rot);
}

/* Per row i, in double: for each round, the sorted index of every position (bucket, then position) from the
 * hashes, the candidate set {j : sorted index in the window of i's chunk and the previous one}, the masks, the
 * softmax and its logsumexp; then the rounds combined. The buckets of a head are cached per check. */
void mb_attn_oracle_reformer_lsh(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i,
                                 double *scratch, double *out) {
    const int64_t n = a->n, d = a->d, off = head * n * d;
    struct lsh_cfg c;
    char why[MB_MESSAGE_LEN];
    if (lsh_config(&w->point, &c, why, sizeof why)) c = (struct lsh_cfg){2, 1, 64};
    const struct bucket_ctx bc = {w->seed, a->q + off, n, d, c};
    const uint64_t key[8] = {MB_LOWRANK_TAG_REFORMER_R, w->seed, (uint64_t)n, (uint64_t)d, (uint64_t)c.b,
                             (uint64_t)c.rounds, (uint64_t)head, mb_lowrank_checksum(a->q + off, n * d)};
    void *handle;
    const int32_t *bk = mb_lowrank_cache_get(key, (size_t)(c.rounds * n) * sizeof(int32_t), fill_buckets, &bc, &handle);
    int64_t *start = malloc((size_t)(c.b + 1) * sizeof(int64_t));
    double *lse = malloc((size_t)c.rounds * (size_t)(d + 1) * sizeof(double)), *o = lse ? lse + c.rounds : NULL;
    if (!bk || !start || !lse || bk[0] < 0) {
        for (int64_t e = 0; e < d; e++) out[e] = NAN;
        goto done;
    }
    const float *q = a->q + off, *v = a->v + off, *qi = q + i * d;
    for (int64_t r = 0; r < c.rounds; r++) {
        const int32_t *b = bk + r * n;
        for (int64_t f = 0; f <= c.b; f++) start[f] = 0;
        for (int64_t j = 0; j < n; j++) start[b[j] + 1]++;
        for (int64_t f = 0; f < c.b; f++) start[f + 1] += start[f];
        /* sorted index of i, then the window [lo, hi) of sorted indices it may attend to */
        int64_t si = start[b[i]];
        for (int64_t j = 0; j < i; j++) si += b[j] == b[i];
        const int64_t ci = si / c.chunk, lo = ci > 0 ? (ci - 1) * c.chunk : 0, hi = (ci + 1) * c.chunk;
        /* scratch[j] = score, or NAN when j is not a candidate */
        int64_t others = 0;
        for (int64_t j = 0; j < n; j++) {
            const int64_t sj = start[b[j]]++; /* positions of one bucket are numbered in position order */
            scratch[j] = NAN;
            if (sj < lo || sj >= hi || (a->causal && j > i)) continue;
            double dot = 0, sq = 0;
            for (int64_t e = 0; e < d; e++) dot += (double)qi[e] * q[j * d + e], sq += (double)q[j * d + e] * q[j * d + e];
            scratch[j] = sq > 0 ? dot / sqrt(sq) / sqrt((double)d) : 0.0;
            others += j != i;
        }
        if (others) scratch[i] = NAN;
        double m = -INFINITY, z = 0;
        for (int64_t j = 0; j < n; j++)
            if (!isnan(scratch[j]) && scratch[j] > m) m = scratch[j];
        double *orr = o + r * d;
        for (int64_t e = 0; e < d; e++) orr[e] = 0;
        for (int64_t j = 0; j < n; j++) {
            if (isnan(scratch[j])) continue;
            const double p = exp(scratch[j] - m);
            z += p;
            for (int64_t e = 0; e < d; e++) orr[e] += p * v[j * d + e];
        }
        for (int64_t e = 0; e < d; e++) orr[e] /= z;
        lse[r] = m + log(z);
    }
    double m = -INFINITY, z = 0;
    for (int64_t r = 0; r < c.rounds; r++) m = lse[r] > m ? lse[r] : m;
    for (int64_t r = 0; r < c.rounds; r++) z += exp(lse[r] - m);
    for (int64_t e = 0; e < d; e++) out[e] = 0;
    for (int64_t r = 0; r < c.rounds; r++)
        for (int64_t e = 0; e < d; e++) out[e] += exp(lse[r] - m) / z * o[r * d + e];
done:
    free(start);
    free(lse);
    mb_lowrank_cache_release(handle);
}

const struct mb_kernel mb_kernel_attention_reformer_lsh = {
    .name = "attention.reformer_lsh",
    .family = &mb_family_attention,
    .mechanism = "reformer.lsh",
    .approximates = "softmax",
    .summary = "Reformer LSH attention: shared QK (keys = normalised q; k unused), angular LSH buckets, sorted "
               "chunks attend to themselves and the previous chunk; params rounds=R, chunk=C",
    .complexity = "O(R n (b d + C d)) time, O(R n d) memory",
    .axes = MB_ATTN_AXES | MB_AXIS_BIT(rank),
    .rank_meaning = "b, the number of hash buckets (even; 0 = 2 ceil(n / chunk))",
    .params = lsh_params,
    .n_params = (int)(sizeof lsh_params / sizeof lsh_params[0]),
    MB_KERNEL_SOURCE,
    .supports = supports,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
