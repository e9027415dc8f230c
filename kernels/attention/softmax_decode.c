/* attention.softmax.decode: one KV-cache decode step of exact softmax attention. The new token's query q_{n-1}
 * attends to the whole cache k_0..k_{n-1}, v_0..v_{n-1} (the causal last row equals the non-causal one):
 *
 *   s_j = q_{n-1} . k_j / sqrt(d),  m = max_j s_j,  out_{n-1} = sum_j e^{s_j - m} v_j / sum_j e^{s_j - m}
 *
 * Only row n-1 of each head of `out` is written (MB_KERNEL_LAST_ROW). Each (head, split) work item streams its
 * slice of the cache in chunks of CHUNK keys with an online softmax: AVX-512 dot products q.k_j, e^{s - m} (SLEEF),
 * acc += V^T p with the accumulator in registers, keeping (max, sum, acc[d]). When batch * heads < threads the cache of a head is split into
 * per-thread slices whose partial (max, sum, acc) are merged at the end:
 *   M = max_t m_t,  out = sum_t e^{m_t - M} acc_t / sum_t e^{m_t - M} l_t.
 *
 * Shapes: q, k, v, out (batch, heads, n, d); row n-1 of q and out per head. Cost per head: 4 n d FLOPs (two
 * matrix-vector products) + n exp, 2 n d * 4 bytes read (K and V): memory-bound. Workspace: a CHUNK-float score
 * buffer per thread and (d + 2) floats per work item.
 * Source: Vaswani et al. 2017, eq. 1 (one row); KV caching of autoregressive decoders; split-K merge as in
 * "Flash-Decoding" (Dao et al. 2023).
 */
#include "attention/family.h"
#include "core/vmask.h"
#include "attention/family_softmax.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 512           /* keys per score chunk */
#define MIN_SPLIT_KEYS 1024 /* do not split a head's cache into slices shorter than this */

struct softmax_decode {
    struct mb_attn a;
    int slots;          /* per-thread score buffers */
    int64_t splits;     /* cache slices per head */
    size_t item_floats; /* floats per partial: [m, l, acc (d)] rounded up */
    float *scores;      /* slots x CHUNK */
    float *partial;     /* heads x splits x item_floats */
};

static int64_t split_count(int64_t heads, int64_t n, int threads) {
    if (heads >= threads) return 1;
    int64_t splits = (threads + heads - 1) / heads, most = n / MIN_SPLIT_KEYS;
    if (splits > most) splits = most;
    return splits < 1 ? 1 : splits;
}

static size_t partial_floats(int64_t d) { return ((size_t)d + 2 + 15) & ~(size_t)15; }

static void release(struct softmax_decode *s) {
    mb_free(s->scores);
    mb_free(s->partial);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct softmax_decode *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    s->slots = omp_get_max_threads();
    if (w->point.threads > s->slots) s->slots = (int)w->point.threads;
    s->splits = split_count(mb_attn_head_count(&s->a), s->a.n, s->slots);
    s->item_floats = partial_floats(s->a.d);
    s->scores = mb_alloc((size_t)s->slots * CHUNK * sizeof(float));
    s->partial = mb_alloc((size_t)(mb_attn_head_count(&s->a) * s->splits) * s->item_floats * sizeof(float));
    if (!s->scores || !s->partial) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for the decode workspace");
    }
    *state = s;
    return 0;
}

/* scores[j] = scale * q . k_j for j in [0, len), k rows of length d */
static void dots(const float *q, const float *k, int64_t len, int64_t d, float scale, float *scores) {
    int64_t j = 0;
#if defined(__AVX512F__)
    for (; j < len; j++) {
        const float *kj = k + j * d;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        int64_t c = 0;
        for (; c + 32 <= d; c += 32) {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + c), _mm512_loadu_ps(kj + c), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + c + 16), _mm512_loadu_ps(kj + c + 16), acc1);
        }
        for (; c < d; c += 16) {
            const __mmask16 mk = mb_mask16_first(d - c);
            acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, q + c), _mm512_maskz_loadu_ps(mk, kj + c), acc0);
        }
        scores[j] = scale * _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    }
#endif
    for (; j < len; j++) {
        float sum = 0.0f;
        for (int64_t c = 0; c < d; c++) sum += q[c] * k[j * d + c];
        scores[j] = scale * sum;
    }
}

/* acc[0..d) += sum_j p[j] v_j for j in [0, len); the accumulator is kept in registers 64 columns at a time */
static void weighted_sum(const float *p, const float *v, int64_t len, int64_t d, float *acc) {
    int64_t c0 = 0;
#if defined(__AVX512F__)
    for (; c0 < d; c0 += 64) {
        __mmask16 mk[4];
        __m512 a[4];
        for (int t = 0; t < 4; t++) {
            const int64_t left = d - c0 - 16 * t;
            mk[t] = mb_mask16_first(left);
            a[t] = _mm512_maskz_loadu_ps(mk[t], acc + c0 + 16 * t);
        }
        if (mk[3] == 0xffff) {
            for (int64_t j = 0; j < len; j++) {
                const __m512 pj = _mm512_set1_ps(p[j]);
                const float *vj = v + j * d + c0;
                a[0] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj), a[0]);
                a[1] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 16), a[1]);
                a[2] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 32), a[2]);
                a[3] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 48), a[3]);
            }
        } else {
            for (int64_t j = 0; j < len; j++) {
                const __m512 pj = _mm512_set1_ps(p[j]);
                const float *vj = v + j * d + c0;
                for (int t = 0; t < 4; t++)
                    a[t] = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(mk[t], vj + 16 * t), a[t]);
            }
        }
        for (int t = 0; t < 4; t++) _mm512_mask_storeu_ps(acc + c0 + 16 * t, mk[t], a[t]);
    }
#endif
    for (; c0 < d; c0++)
        for (int64_t j = 0; j < len; j++) acc[c0] += p[j] * v[j * d + c0];
}

/* Online softmax of q over keys [j0, j1) of one head: part = [m, l, acc (d)]. */
static void slice(const struct mb_attn *a, const float *q, const float *k, const float *v, int64_t j0, int64_t j1,
                  float *scores, float *part) {
    const int64_t d = a->d;
    const float scale = 1.0f / sqrtf((float)d);
    float m = -INFINITY, l = 0.0f, *acc = part + 2;
    memset(acc, 0, (size_t)d * sizeof(float));
    for (int64_t c0 = j0; c0 < j1; c0 += CHUNK) {
        const int64_t len = j1 - c0 < CHUNK ? j1 - c0 : CHUNK;
        dots(q, k + c0 * d, len, d, scale, scores);
        const float mx = mb_attn_row_max(scores, len), mnew = mx > m ? mx : m;
        const float alpha = expf(m - mnew);
        l = l * alpha + mb_attn_exp_sum(scores, len, mnew);
        if (alpha != 1.0f && c0 > j0) mb_attn_scale(acc, d, alpha);
        m = mnew;
        weighted_sum(scores, v + c0 * d, len, d, acc);
    }
    part[0] = m;
    part[1] = l;
}

static void run(void *state) {
    struct softmax_decode *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, heads = mb_attn_head_count(a), splits = s->splits;
#pragma omp parallel num_threads(s->slots)
    {
        float *scores = s->scores + (size_t)omp_get_thread_num() * CHUNK;
#pragma omp for schedule(static)
        for (int64_t item = 0; item < heads * splits; item++) {
            const int64_t head = item / splits, t = item % splits, off = head * mb_attn_head_stride(a);
            slice(a, a->q + off + (n - 1) * d, a->k + off, a->v + off, n * t / splits, n * (t + 1) / splits, scores,
                  s->partial + (size_t)item * s->item_floats);
        }
        /* merge the slices of each head into row n-1 of out */
#pragma omp for schedule(static)
        for (int64_t head = 0; head < heads; head++) {
            const float *part = s->partial + (size_t)(head * splits) * s->item_floats;
            float *o = a->out + head * mb_attn_head_stride(a) + (n - 1) * d;
            float mmax = -INFINITY, l = 0.0f;
            for (int64_t t = 0; t < splits; t++) mmax = part[t * s->item_floats] > mmax ? part[t * s->item_floats] : mmax;
            memset(o, 0, (size_t)d * sizeof(float));
            for (int64_t t = 0; t < splits; t++) {
                const float *p = part + t * s->item_floats, w = expf(p[0] - mmax);
                l += w * p[1];
                for (int64_t c = 0; c < d; c++) o[c] += w * p[2 + c];
            }
            mb_attn_scale(o, d, 1.0f / l);
        }
    }
}

static void teardown(void *state) { release(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return (double)p->batch * p->heads * 4.0 * (double)p->n * p->d; }

/* K and V of every head read once (q's last row and out's last row are negligible) */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return (double)p->batch * p->heads * 2.0 * p->n * p->d * 4.0; }

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const int threads = p->threads > 0 ? (int)p->threads : 1;
    const int64_t heads = p->batch * p->heads;
    return 4.0 * ((double)threads * CHUNK +
                  (double)(heads * split_count(heads, p->n, threads)) * (double)partial_floats(p->d));
}

const struct mb_kernel mb_kernel_attention_softmax_decode = {
    .name = "attention.softmax.decode",
    .family = &mb_family_attention,
    .mechanism = "softmax",
    .summary = "KV-cache decode step: the last query attends to all n cached keys (online softmax, split-K merge)",
    .complexity = "O(n d) time per head, O(threads + heads d) memory",
    .axes = MB_ATTN_AXES,
    .flags = MB_KERNEL_LAST_ROW,
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
