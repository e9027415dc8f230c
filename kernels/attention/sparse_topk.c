/* attention.sparse.topk: Explicit Sparse Transformer: keep the k largest scores of each row, softmax over them.
 *
 *   s_ij = q_i.k_j / sqrt(d)   (j <= i when causal)
 *   T(i) = the k keys of largest s_ij; among equal scores the lowest index is kept      (rank = k, 0 = default 32)
 *   out_i = sum_{j in T(i)} e^{s_ij} v_j / sum_{j in T(i)} e^{s_ij}      (all keys when k >= the row's key count)
 *
 * Shapes: Q, K, V, O (batch, heads, n, d). Per block of 64 query rows: S = Q_blk K^T (OpenBLAS sgemm, only the
 * causal prefix of keys when causal), then per row a quickselect finds the k-th largest fp32 score t (O(n));
 * scores above t + delta are in, scores within delta of t are re-scored in double (mb_sparse_score_double, as
 * the oracle does) and the ties resolved by (score desc, index asc), so the kept set is the oracle's exactly
 * (delta = 2 x a bound of the fp32 score error, (d + 3) eps ||q_i|| max_j ||k_j|| / sqrt(d)). The quickselect runs
 * on a prefilter: the minimum of the maxima of k groups of the row is <= the k-th largest, so only scores above
 * it (minus delta) are kept (AVX-512 compress). Then softmax of the
 * k kept scores (SLEEF exp) and the weighted sum of their k value rows.
 * Cost per head: 2 n^2 d (scores; n(n+1) d when causal) + O(n^2) selection + (2 d + 3) n k FLOPs: O(n^2 d) time,
 * O(64 n) floats workspace per thread. Approximates softmax.
 * Source: Zhao et al. 2019, "Explicit Sparse Transformer: Concentrated Attention Through Explicit Selection",
 * sec. 2 (top-k masking before the softmax).
 */
#include "attention/family_sparse.h"

#include <cblas.h>
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ROW_BLOCK 64

struct topk {
    struct mb_attn a;
    int64_t k;           /* kept keys per row */
    int threads;
    float *kmax;         /* (batch*heads): max_j ||k_j|| of each head */
    float *scores;       /* (threads, ROW_BLOCK, n) */
    float *tmp;          /* (threads, n): selection copy */
    float *kept;         /* (threads, n): fp32 scores of the kept keys, then their probabilities */
    int64_t *idx;        /* (threads, n): kept keys */
    int64_t *cand;       /* (threads, n): tie candidates (fp32 score within delta of the k-th largest) */
    float *pre;          /* (threads, n + 16): prefiltered scores (>= a lower bound of the k-th largest) */
    int32_t *pre_idx;    /* (threads, n + 16): their key indices */
    double *exact;       /* (threads, n): double scores of the tie candidates */
};

static int64_t resolve_k(const struct mb_point *p) { return p->rank > 0 ? p->rank : MB_SPARSE_TOPK_DEFAULT_K; }

/* ------------------------------------------------------------------------------------------ oracle */
struct kept_set {
    const unsigned char *keep;
};
static int kept_allowed(const void *ctx, int64_t i, int64_t j) {
    (void)i;
    return ((const struct kept_set *)ctx)->keep[j];
}

struct scored {
    double s;
    int64_t j;
};
static int by_score_then_index(const void *x, const void *y) {
    const struct scored *a = x, *b = y;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return a->j < b->j ? -1 : a->j > b->j;
}

/* Sort row i's keys by (double score desc, index asc), keep the first k, masked-softmax over them. */
void mb_attn_oracle_sparse_topk(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i,
                                double *scratch, double *out) {
    const int64_t n = a->n, d = a->d, off = head * mb_attn_head_stride(a), len = mb_attn_last_key(a, i) + 1;
    const int64_t k = resolve_k(&w->point);
    unsigned char *keep = calloc((size_t)n, 1);
    struct scored *all = malloc((size_t)len * sizeof *all);
    if (!keep || !all) { /* the check cannot fail: make the row visibly wrong */
        for (int64_t c = 0; c < d; c++) out[c] = NAN;
        free(keep);
        free(all);
        return;
    }
    for (int64_t j = 0; j < len; j++) {
        all[j].s = mb_sparse_score_double(a->q + off + i * d, a->k + off + j * d, d);
        all[j].j = j;
    }
    qsort(all, (size_t)len, sizeof *all, by_score_then_index);
    for (int64_t t = 0; t < len && t < k; t++) keep[all[t].j] = 1;
    struct kept_set ctx = {keep};
    mb_sparse_oracle_masked(a, head, i, kept_allowed, &ctx, scratch, out);
    free(keep);
    free(all);
}

/* ------------------------------------------------------------------------------------------ kernel */
static void release(struct topk *s) {
    mb_free(s->kmax);
    mb_free(s->scores);
    mb_free(s->tmp);
    mb_free(s->kept);
    mb_free(s->idx);
    mb_free(s->cand);
    mb_free(s->pre);
    mb_free(s->pre_idx);
    mb_free(s->exact);
    free(s);
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct topk *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    s->k = resolve_k(&w->point);
    s->threads = w->point.threads > 0 ? (int)w->point.threads : 1;
    const size_t n = (size_t)s->a.n, t = (size_t)s->threads;
    s->kmax = mb_alloc((size_t)mb_attn_head_count(&s->a) * sizeof(float));
    s->scores = mb_alloc(t * ROW_BLOCK * n * sizeof(float));
    s->tmp = mb_alloc(t * n * sizeof(float));
    s->kept = mb_alloc(t * n * sizeof(float));
    s->idx = mb_alloc(t * n * sizeof(int64_t));
    s->cand = mb_alloc(t * n * sizeof(int64_t));
    s->pre = mb_alloc(t * (n + 16) * sizeof(float));
    s->pre_idx = mb_alloc(t * (n + 16) * sizeof(int32_t));
    s->exact = mb_alloc(t * n * sizeof(double));
    if (!s->kmax || !s->scores || !s->tmp || !s->kept || !s->idx || !s->cand || !s->pre || !s->pre_idx || !s->exact) {
        const int threads = s->threads;
        release(s);
        return mb_errorf(err, errlen, "out of memory for the %d x %d x %lld score blocks", threads, ROW_BLOCK,
                         (long long)n);
    }
    *state = s;
    return 0;
}

/* x[0..len) is permuted so that x[pos] is the value of rank pos in ascending order (quickselect, O(len)). */
static float select_ascending(float *x, int64_t len, int64_t pos) {
    int64_t lo = 0, hi = len - 1;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        float a = x[lo], b = x[mid], c = x[hi]; /* median of three */
        const float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (x[i] < pivot) i++;
            while (x[j] > pivot) j--;
            if (i <= j) {
                const float t = x[i];
                x[i++] = x[j];
                x[j--] = t;
            }
        }
        if (pos <= j) hi = j;
        else if (pos >= i) lo = i;
        else return x[pos];
    }
    return x[pos];
}

static float norm2(const float *x, int64_t d) {
    float s = 0.0f;
    for (int64_t c = 0; c < d; c++) s += x[c] * x[c];
    return sqrtf(s);
}

static float range_max(const float *x, int64_t j0, int64_t j1) {
    float mx = -INFINITY;
    int64_t j = j0;
#if defined(__AVX512F__)
    if (j1 - j0 >= 16) {
        __m512 vm = _mm512_loadu_ps(x + j);
        for (j += 16; j + 16 <= j1; j += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + j));
        mx = _mm512_reduce_max_ps(vm);
    }
#endif
    for (; j < j1; j++) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

/* pre[0..C), pre_idx[0..C) <- the scores >= thr and their indices, in index order; returns C. */
static int64_t prefilter(const float *x, int64_t len, float thr, float *pre, int32_t *pre_idx) {
    int64_t count = 0, j = 0;
#if defined(__AVX512F__)
    const __m512 vt = _mm512_set1_ps(thr);
    const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (; j + 16 <= len; j += 16) {
        const __m512 v = _mm512_loadu_ps(x + j);
        const __mmask16 mk = _mm512_cmp_ps_mask(v, vt, _CMP_GE_OQ);
        if (!mk) continue;
        /* compress in registers, full stores (room for 16 past the end): memory compress is slow on some cores */
        _mm512_storeu_ps(pre + count, _mm512_maskz_compress_ps(mk, v));
        _mm512_storeu_si512(pre_idx + count,
                            _mm512_maskz_compress_epi32(mk, _mm512_add_epi32(lanes, _mm512_set1_epi32((int)j))));
        count += __builtin_popcount(mk);
    }
#endif
    for (; j < len; j++)
        if (x[j] >= thr) {
            pre[count] = x[j];
            pre_idx[count++] = (int32_t)j;
        }
    return count;
}

/* Kept keys of one row: idx[0..k) and their fp32 scores kept[0..k). Returns the count.
 * 1. thr = min over k groups of the group's max is <= the k-th largest score: keep the scores >= thr - delta
 *    (usually a few times k of them); 2. quickselect the k-th largest t among those; 3. scores > t + delta are in,
 *    scores within delta of t are decided in double, (score desc, index asc). */
static int64_t select_row(const struct topk *s, const float *srow, int64_t len, float err_bound, float *tmp,
                          float *kept, int64_t *idx, int64_t *cand_idx, double *exact, float *pre, int32_t *pre_idx,
                          const float *qi, const float *kh) {
    const int64_t d = s->a.d, k = s->k;
    if (k >= len) {
        for (int64_t j = 0; j < len; j++) {
            idx[j] = j;
            kept[j] = srow[j];
        }
        return len;
    }
    const float delta = 2.0f * err_bound;
    const int64_t g = len / k;
    float thr = INFINITY;
    for (int64_t grp = 0; grp < k; grp++) {
        const float mx = range_max(srow, grp * g, grp == k - 1 ? len : (grp + 1) * g);
        thr = mx < thr ? mx : thr;
    }
    const int64_t count = prefilter(srow, len, thr - delta, pre, pre_idx);
    memcpy(tmp, pre, (size_t)count * sizeof(float));
    const float t = select_ascending(tmp, count, count - k);
    int64_t m = 0, cand = 0;
    for (int64_t c = 0; c < count; c++) {
        if (pre[c] > t + delta) {
            idx[m] = pre_idx[c];
            kept[m++] = pre[c];
        } else if (pre[c] >= t - delta) {
            cand_idx[cand++] = pre_idx[c];
        }
    }
    int64_t need = k - m;
    if (need == cand) {
        for (int64_t c = 0; c < cand; c++) {
            idx[m] = cand_idx[c];
            kept[m] = srow[idx[m]];
            m++;
        }
        return m;
    }
    for (int64_t c = 0; c < cand; c++) exact[c] = mb_sparse_score_double(qi, kh + cand_idx[c] * d, d);
    /* partial selection sort of the candidates (in index order) by (exact desc, index asc) */
    for (int64_t r = 0; r < need; r++) {
        int64_t best = -1;
        for (int64_t c = 0; c < cand; c++) {
            if (exact[c] == -INFINITY) continue; /* taken */
            if (best < 0 || exact[c] > exact[best]) best = c; /* strict >: the lowest index wins ties */
        }
        idx[m] = cand_idx[best];
        kept[m] = srow[idx[m]];
        m++;
        exact[best] = -INFINITY;
    }
    return m;
}

static void run(void *state) {
    struct topk *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, heads = mb_attn_head_count(a), blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
    const float scale = 1.0f / sqrtf((float)d);
#pragma omp parallel num_threads(s->threads)
    {
        const int tid = omp_get_thread_num();
        float *sblk = s->scores + (size_t)tid * ROW_BLOCK * (size_t)n, *tmp = s->tmp + (size_t)tid * (size_t)n,
              *kept = s->kept + (size_t)tid * (size_t)n;
        int64_t *idx = s->idx + (size_t)tid * (size_t)n, *cand = s->cand + (size_t)tid * (size_t)n;
        float *pre = s->pre + (size_t)tid * (size_t)(n + 16);
        int32_t *pre_idx = s->pre_idx + (size_t)tid * (size_t)(n + 16);
        double *exact = s->exact + (size_t)tid * (size_t)n;
#pragma omp for schedule(static)
        for (int64_t h = 0; h < heads; h++) {
            const float *kh = a->k + h * mb_attn_head_stride(a);
            float mx = 0.0f;
            for (int64_t j = 0; j < n; j++) {
                const float nj = norm2(kh + j * d, d);
                mx = nj > mx ? nj : mx;
            }
            s->kmax[h] = mx;
        }
#pragma omp for schedule(dynamic)
        for (int64_t task = 0; task < heads * blocks; task++) {
            const int64_t h = task / blocks, i0 = (task % blocks) * ROW_BLOCK, off = h * mb_attn_head_stride(a);
            const int64_t rows = n - i0 < ROW_BLOCK ? n - i0 : ROW_BLOCK, cols = a->causal ? i0 + rows : n;
            const float *q = a->q + off, *kh = a->k + off, *v = a->v + off;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)d, scale, q + i0 * d,
                        (int)d, kh, (int)d, 0.0f, sblk, (int)n);
            for (int64_t r = 0; r < rows; r++) {
                const int64_t i = i0 + r, len = a->causal ? i + 1 : n;
                const float *qi = q + i * d;
                const float bound = (float)(d + 3) * FLT_EPSILON * scale * norm2(qi, d) * s->kmax[h] + 1e-30f;
                const int64_t m = select_row(s, sblk + r * n, len, bound, tmp, kept, idx, cand, exact, pre, pre_idx, qi, kh);
                mb_sparse_attend_row(qi, kh, v, d, scale, idx, m, 0, kept, a->out + off + i * d);
            }
        }
    }
}

static void teardown(void *state) { release(state); }

static double kept_per_head(const struct mb_point *p) {
    const double k = (double)resolve_k(p), n = (double)p->n;
    if (!p->causal) return n * (k < n ? k : n);
    double total = 0; /* row i keeps min(k, i + 1) */
    const double full = k < n ? k : n;
    total = full * (full + 1) / 2 + (n - full) * k;
    return total;
}

static double scores_per_head(const struct mb_point *p) {
    const double n = (double)p->n;
    return p->causal ? n * (n + 1) / 2 : n * n;
}

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return (double)p->batch * p->heads *
           (2.0 * p->d * scores_per_head(p) + (2.0 * p->d + 3.0) * kept_per_head(p));
}

/* inputs and output once; each score is written by sgemm, read by the selection copy and the pass over the row */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return mb_attn_io_bytes(kernel, p) + 3.0 * 4.0 * p->batch * p->heads * scores_per_head(p);
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double t = p->threads > 0 ? (double)p->threads : 1.0, n = (double)p->n;
    return 4.0 * p->batch * p->heads + t * (n * (4.0 * ROW_BLOCK + 4.0 + 4.0 + 8.0 + 8.0 + 8.0) + (n + 16) * 8.0);
}

const struct mb_kernel mb_kernel_attention_sparse_topk = {
    .name = "attention.sparse.topk",
    .family = &mb_family_attention,
    .mechanism = "sparse.topk",
    .approximates = "softmax",
    .summary = "explicit sparse: all scores (sgemm by row blocks), quickselect the k largest per row, softmax over them",
    .complexity = "O(n^2 d + n k d) time, O(n) memory per thread (64-row score blocks)",
    .axes = MB_ATTN_AXES | MB_AXIS_BIT(rank),
    .rank_meaning = "k, kept scores per row; ties keep the lowest index (0 = 32)",
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
