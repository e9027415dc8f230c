/* Sparse attention group: patterns, masked-softmax oracle, fp32 row engine (see family_sparse.h).
 * Sources: Child et al. 2019, "Generating Long Sequences with Sparse Transformers" (strided, fixed; sec. 4.2);
 * Beltagy et al. 2020 (local window); kexue.fm/archives/6853 (atrous, local); Zhao et al. 2019, "Explicit Sparse
 * Transformer" (top-k).
 */
#include "attention/family_sparse.h"
#include "attention/family_softmax.h"
#include "core/vmask.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <sleef.h>
#include <stdlib.h>
#include <string.h>

static int64_t ceil_sqrt(int64_t n) {
    int64_t r = (int64_t)sqrt((double)n);
    while (r * r < n) r++;
    while (r > 1 && (r - 1) * (r - 1) >= n) r--;
    return r < 1 ? 1 : r;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ------------------------------------------------------------------------------------------ patterns */
const struct mb_sparse_pattern mb_sparse_patterns[] = {
    [MB_SPARSE_LOCAL] = {MB_SPARSE_LOCAL, 64},    /* w */
    [MB_SPARSE_ATROUS] = {MB_SPARSE_ATROUS, 8},   /* l */
    [MB_SPARSE_STRIDED] = {MB_SPARSE_STRIDED, 0}, /* ceil(sqrt(n)) */
    [MB_SPARSE_FIXED] = {MB_SPARSE_FIXED, 0},     /* ceil(sqrt(n)) */
};
_Static_assert(sizeof mb_sparse_patterns / sizeof mb_sparse_patterns[0] == MB_SPARSE_KIND_COUNT,
               "one entry per enum mb_sparse_kind");

void mb_sparse_resolve(struct mb_sparse *sp, const struct mb_sparse_pattern *pattern, const struct mb_point *p) {
    sp->kind = pattern->kind;
    sp->n = p->n;
    sp->causal = (int)p->causal;
    sp->l = p->rank > 0 ? p->rank : pattern->default_l > 0 ? pattern->default_l : ceil_sqrt(p->n);
    sp->c = 0;
    if (sp->kind == MB_SPARSE_FIXED) { /* c = 0: max(1, l/8); at most l */
        const int64_t c = mb_param_int(p, "c");
        sp->c = min64(c > 0 ? c : max64(1, sp->l / 8), sp->l);
    }
}

int mb_sparse_allowed(const struct mb_sparse *sp, int64_t i, int64_t j) {
    if (j < 0 || j >= sp->n || i < 0 || i >= sp->n) return 0;
    if (sp->causal && j > i) return 0;
    const int64_t dist = i > j ? i - j : j - i, l = sp->l;
    switch (sp->kind) {
    case MB_SPARSE_LOCAL: return dist <= l;
    case MB_SPARSE_ATROUS: return dist % l == 0;
    case MB_SPARSE_STRIDED: return dist < l || dist % l == 0;
    case MB_SPARSE_FIXED: return j / l == i / l || j % l >= l - sp->c;
    }
    return 0;
}

int64_t mb_sparse_row_count(const struct mb_sparse *sp, int64_t i) {
    const int64_t n = sp->n, l = sp->l, hi = sp->causal ? i : n - 1;
    switch (sp->kind) {
    case MB_SPARSE_LOCAL: return min64(hi, i + l) - max64(0, i - l) + 1;
    case MB_SPARSE_ATROUS: return i / l + 1 + (sp->causal ? 0 : (n - 1 - i) / l);
    case MB_SPARSE_STRIDED: {
        const int64_t lo = max64(0, i - l + 1), band_hi = min64(hi, i + l - 1);
        return i / l + (band_hi - lo + 1) + (sp->causal ? 0 : (n - 1 - i) / l);
    }
    case MB_SPARSE_FIXED: {
        const int64_t b = i / l, c = sp->c, own = min64(hi, (b + 1) * l - 1) - b * l + 1;
        int64_t count = own + b * c; /* own block + the summary columns of the (full) blocks before it */
        if (!sp->causal) {
            const int64_t full = n / l, rest = n - full * l; /* blocks after b: full ones, then a partial one */
            count += max64(0, full - b - 1) * c;
            if (rest > 0 && full > b) count += max64(0, rest - (l - c));
        }
        return count;
    }
    }
    return 0;
}

double mb_sparse_total_count(const struct mb_sparse *sp) {
    double total = 0;
    for (int64_t i = 0; i < sp->n; i++) total += (double)mb_sparse_row_count(sp, i);
    return total;
}

int64_t mb_sparse_row_keys(const struct mb_sparse *sp, int64_t i, int64_t *idx) {
    const int64_t n = sp->n, l = sp->l, hi = sp->causal ? i : n - 1;
    int64_t m = 0;
    switch (sp->kind) {
    case MB_SPARSE_LOCAL:
        for (int64_t j = max64(0, i - l); j <= min64(hi, i + l); j++) idx[m++] = j;
        break;
    case MB_SPARSE_ATROUS:
        for (int64_t j = i % l; j <= hi; j += l) idx[m++] = j;
        break;
    case MB_SPARSE_STRIDED: {
        const int64_t lo = max64(0, i - l + 1), band_hi = min64(hi, i + l - 1);
        for (int64_t j = i % l; j < lo; j += l) idx[m++] = j; /* residues below the band */
        for (int64_t j = lo; j <= band_hi; j++) idx[m++] = j;  /* the band (holds the residue j = i) */
        for (int64_t j = i + l; j <= hi; j += l) idx[m++] = j; /* residues above (non-causal) */
        break;
    }
    case MB_SPARSE_FIXED: {
        const int64_t b = i / l, c = sp->c, own_lo = b * l, own_hi = min64(hi, (b + 1) * l - 1);
        for (int64_t blk = 0; blk < b; blk++)
            for (int64_t j = blk * l + l - c; j < blk * l + l; j++) idx[m++] = j;
        for (int64_t j = own_lo; j <= own_hi; j++) idx[m++] = j;
        if (!sp->causal)
            for (int64_t blk = b + 1; blk * l < n; blk++)
                for (int64_t j = blk * l + l - c; j < min64(n, blk * l + l); j++) idx[m++] = j;
        break;
    }
    }
    return m;
}

/* ------------------------------------------------------------------------------------------ oracle */
double mb_sparse_score_double(const float *q, const float *k, int64_t d) {
    double s = 0;
    for (int64_t c = 0; c < d; c++) s += (double)q[c] * (double)k[c];
    return s / sqrt((double)d);
}

void mb_sparse_oracle_masked(const struct mb_attn *a, int64_t head, int64_t i, mb_sparse_allowed_fn allowed,
                             const void *ctx, double *scratch, double *out) {
    const int64_t n = a->n, d = a->d, off = head * mb_attn_head_stride(a);
    const float *qi = a->q + off + i * d, *k = a->k + off, *v = a->v + off;
    double m = -INFINITY;
    int any = 0;
    for (int64_t j = 0; j < n; j++) {
        if (!allowed(ctx, i, j)) continue;
        any = 1;
        scratch[j] = mb_sparse_score_double(qi, k + j * d, d);
        if (scratch[j] > m) m = scratch[j];
    }
    for (int64_t c = 0; c < d; c++) out[c] = 0;
    if (!any) return; /* fully masked row: zero output */
    double denom = 0;
    for (int64_t j = 0; j < n; j++) {
        if (!allowed(ctx, i, j)) continue;
        const double e = exp(scratch[j] - m);
        denom += e;
        for (int64_t c = 0; c < d; c++) out[c] += e * v[j * d + c];
    }
    for (int64_t c = 0; c < d; c++) out[c] /= denom;
}

static int pattern_allowed(const void *ctx, int64_t i, int64_t j) { return mb_sparse_allowed(ctx, i, j); }

/* The oracle of each pattern mechanism (mechanisms.def): the masked softmax over the resolved pattern. */
static void oracle_pattern(enum mb_sparse_kind kind, const struct mb_attn *a, const struct mb_workload *w,
                           int64_t head, int64_t i, double *scratch, double *out) {
    struct mb_point p = w->point;
    p.n = a->n;
    p.causal = a->causal;
    struct mb_sparse sp;
    mb_sparse_resolve(&sp, &mb_sparse_patterns[kind], &p);
    mb_sparse_oracle_masked(a, head, i, pattern_allowed, &sp, scratch, out);
}
#define PATTERN_ORACLE(fn, kind)                                                                                    \
    void fn(const struct mb_attn *a, const struct mb_workload *w, int64_t head, int64_t i, double *scratch,        \
            double *out) {                                                                                          \
        oracle_pattern(kind, a, w, head, i, scratch, out);                                                          \
    }
PATTERN_ORACLE(mb_attn_oracle_sparse_local, MB_SPARSE_LOCAL)
PATTERN_ORACLE(mb_attn_oracle_sparse_atrous, MB_SPARSE_ATROUS)
PATTERN_ORACLE(mb_attn_oracle_sparse_strided, MB_SPARSE_STRIDED)
PATTERN_ORACLE(mb_attn_oracle_sparse_fixed, MB_SPARSE_FIXED)
#undef PATTERN_ORACLE

/* ------------------------------------------------------------------------------------------ row engine */

static void scores_of(const float *q, const float *k, int64_t d, float scale, const int64_t *idx, int64_t m,
                      float *s) {
    int64_t t = 0;
#if defined(__AVX512F__)
    for (; t + 4 <= m; t += 4) {
        const float *k0 = k + idx[t] * d, *k1 = k + idx[t + 1] * d, *k2 = k + idx[t + 2] * d, *k3 = k + idx[t + 3] * d;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t c = 0; c < d; c += 16) {
            const __mmask16 mk = mb_mask16_first(d - c);
            const __m512 qv = _mm512_maskz_loadu_ps(mk, q + c);
            a0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mk, k0 + c), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mk, k1 + c), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mk, k2 + c), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mk, k3 + c), a3);
        }
        s[t] = scale * _mm512_reduce_add_ps(a0);
        s[t + 1] = scale * _mm512_reduce_add_ps(a1);
        s[t + 2] = scale * _mm512_reduce_add_ps(a2);
        s[t + 3] = scale * _mm512_reduce_add_ps(a3);
    }
#endif
    for (; t < m; t++) {
        const float *kj = k + idx[t] * d;
        float acc = 0.0f;
        for (int64_t c = 0; c < d; c++) acc += q[c] * kj[c];
        s[t] = scale * acc;
    }
}

void mb_sparse_attend_row(const float *q, const float *k, const float *v, int64_t d, float scale, const int64_t *idx,
                          int64_t m, int compute_scores, float *scores, float *out) {
    if (m == 0) {
        memset(out, 0, (size_t)d * sizeof(float));
        return;
    }
    if (compute_scores) scores_of(q, k, d, scale, idx, m, scores);
    mb_attn_softmax_row(scores, m);
    int64_t c = 0;
#if defined(__AVX512F__)
    for (; c < d; c += 64) { /* 64 output columns in 4 registers; every probability once per column chunk */
        const __mmask16 m0 = mb_mask16_first(d - c), m1 = mb_mask16_first(d - c - 16), m2 = mb_mask16_first(d - c - 32),
                        m3 = mb_mask16_first(d - c - 48);
        __m512 o0 = _mm512_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        for (int64_t t = 0; t < m; t++) {
            const float *vj = v + idx[t] * d + c;
            const __m512 p = _mm512_set1_ps(scores[t]);
            o0 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m0, vj), o0);
            if (m1) o1 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m1, vj + 16), o1);
            if (m2) o2 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m2, vj + 32), o2);
            if (m3) o3 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m3, vj + 48), o3);
        }
        _mm512_mask_storeu_ps(out + c, m0, o0);
        if (m1) _mm512_mask_storeu_ps(out + c + 16, m1, o1);
        if (m2) _mm512_mask_storeu_ps(out + c + 32, m2, o2);
        if (m3) _mm512_mask_storeu_ps(out + c + 48, m3, o3);
    }
#else
    for (; c < d; c++) out[c] = 0.0f;
    for (int64_t t = 0; t < m; t++) {
        const float *vj = v + idx[t] * d;
        for (c = 0; c < d; c++) out[c] += scores[t] * vj[c];
    }
#endif
}

/* ------------------------------------------------------------------------------------------ block engine */
/* Dense attention of a block of query rows over a panel of keys (gathered, or a contiguous run read in place):
 * S = Q K^T scale (sgemm), row r masked to panel positions [lo_r, hi_r) minus ex_r (-1: none), softmax of each
 * row (SLEEF exp), O = P V (sgemm over the block's column range). The patterns are unions of such blocks:
 *   local    64 consecutive rows x the contiguous keys of their windows (in place)
 *   atrous   rows of one residue i mod l x the keys of that residue (gathered), causal = prefix
 *   fixed    rows of one block x (summary columns of the other blocks + own block) (gathered), causal = prefix
 *   strided  the local pass (band, |i-j| < l) then the atrous pass without j = i, merged row by row with the
 *            band's softmax statistics (max, sum): one softmax over the union. */
#define PANEL_ROWS 64

enum panel_mode { PANEL_FINAL, PANEL_STATS, PANEL_MERGE };

struct panel {
    int64_t rows;         /* query rows, <= PANEL_ROWS */
    const int64_t *qrows; /* their indices, or NULL: row0, row0 + 1, ... */
    int64_t row0;
    int64_t m;            /* keys in the panel */
    const int64_t *keys;  /* their indices, or NULL: key0, key0 + 1, ... */
    int64_t key0;
    int64_t lo[PANEL_ROWS], hi[PANEL_ROWS], ex[PANEL_ROWS];
};

struct panel_ws {
    float *qp, *kp, *vp; /* (PANEL_ROWS, d), (n, d), (n, d): gathered rows */
    float *s;            /* (PANEL_ROWS, n) probabilities */
    float *op;           /* (PANEL_ROWS, d) block output */
};

/* In place softmax of x[0..len) (entries may be -inf); *mx, *sum: the max and the sum of e^{x - max}.
 * All -inf: zeros, sum = 0. */
static void softmax_stats(float *x, int64_t len, float *mx, float *sum) {
    *mx = mb_attn_row_max(x, len);
    if (*mx == -INFINITY) {
        memset(x, 0, (size_t)len * sizeof(float));
        *sum = 0.0f;
        return;
    }
    *sum = mb_attn_exp_sum(x, len, *mx);
    mb_attn_scale(x, len, 1.0f / *sum);
}

static void panel_attend(const struct mb_attn *a, int64_t off, float scale, const struct panel *pn,
                         const struct panel_ws *ws, enum panel_mode mode, float *stats) {
    const int64_t d = a->d, rows = pn->rows;
    const float *q = a->q + off, *k = a->k + off, *v = a->v + off;
    float *out = a->out + off;
    const float *Q = q + pn->row0 * d, *K = k + pn->key0 * d, *V = v + pn->key0 * d;
    if (pn->qrows) {
        for (int64_t r = 0; r < rows; r++) memcpy(ws->qp + r * d, q + pn->qrows[r] * d, (size_t)d * sizeof(float));
        Q = ws->qp;
    }
    int64_t c0 = pn->m, c1 = 0; /* the block's column range */
    for (int64_t r = 0; r < rows; r++)
        if (pn->hi[r] > pn->lo[r]) {
            c0 = pn->lo[r] < c0 ? pn->lo[r] : c0;
            c1 = pn->hi[r] > c1 ? pn->hi[r] : c1;
        }
    if (pn->keys) {
        for (int64_t t = c0; t < c1; t++) {
            memcpy(ws->kp + t * d, k + pn->keys[t] * d, (size_t)d * sizeof(float));
            memcpy(ws->vp + t * d, v + pn->keys[t] * d, (size_t)d * sizeof(float));
        }
        K = ws->kp;
        V = ws->vp;
    }
    float mx[PANEL_ROWS], sum[PANEL_ROWS];
    const int64_t cols = c1 - c0;
    if (cols > 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)d, scale, Q, (int)d,
                    K + c0 * d, (int)d, 0.0f, ws->s, (int)cols);
        for (int64_t r = 0; r < rows; r++) {
            float *row = ws->s + r * cols;
            const int64_t lo = pn->lo[r] - c0, hi = pn->hi[r] - c0, ex = pn->ex[r] - c0;
            if (hi <= lo) {
                memset(row, 0, (size_t)cols * sizeof(float));
                mx[r] = -INFINITY;
                sum[r] = 0.0f;
                continue;
            }
            if (pn->ex[r] >= 0 && ex >= lo && ex < hi) row[ex] = -INFINITY;
            softmax_stats(row + lo, hi - lo, &mx[r], &sum[r]);
            memset(row, 0, (size_t)lo * sizeof(float));
            memset(row + hi, 0, (size_t)(cols - hi) * sizeof(float));
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)cols, 1.0f, ws->s,
                    (int)cols, V + c0 * d, (int)d, 0.0f, ws->op, (int)d);
    } else {
        memset(ws->op, 0, (size_t)(rows * d) * sizeof(float));
        for (int64_t r = 0; r < rows; r++) mx[r] = -INFINITY, sum[r] = 0.0f;
    }
    for (int64_t r = 0; r < rows; r++) {
        const int64_t i = pn->qrows ? pn->qrows[r] : pn->row0 + r;
        float *o = out + i * d;
        const float *ob = ws->op + r * d;
        if (mode == PANEL_MERGE) {
            const float ma = stats[2 * i], sa = stats[2 * i + 1];
            if (sum[r] == 0.0f) continue;
            if (sa == 0.0f) {
                memcpy(o, ob, (size_t)d * sizeof(float));
                continue;
            }
            const float top = ma > mx[r] ? ma : mx[r], wa = sa * expf(ma - top), wb = sum[r] * expf(mx[r] - top);
            const float inv = 1.0f / (wa + wb);
            for (int64_t c = 0; c < d; c++) o[c] = (wa * o[c] + wb * ob[c]) * inv;
        } else {
            memcpy(o, ob, (size_t)d * sizeof(float));
            if (mode == PANEL_STATS) {
                stats[2 * i] = mx[r];
                stats[2 * i + 1] = sum[r];
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ pattern kernels */
struct sparse_state {
    struct mb_attn a;
    struct mb_sparse sp;
    int threads;
    int blocked;   /* 1: block engine (sgemm), 0: row engine (tiny windows, blocks or residues) */
    float *scores; /* (threads, n): row engine scores */
    int64_t *idx;  /* (threads, n): row engine key list / block engine panel keys */
    int64_t *qidx; /* (threads, PANEL_ROWS): block engine query rows */
    float *ws;     /* (threads, 2 n d + PANEL_ROWS (n + 2 d)): block engine panels */
    float *stats;  /* (batch*heads, n, 2): strided band statistics (max, sum) */
};

/* Whether the block engine pays: blocks of >= 8 rows sharing their keys. */
static int use_blocks(const struct mb_sparse *sp) {
    const int64_t per_residue = (sp->n + sp->l - 1) / sp->l;
    switch (sp->kind) {
    case MB_SPARSE_LOCAL: return sp->l >= 8;
    case MB_SPARSE_ATROUS: return per_residue >= 8;
    case MB_SPARSE_FIXED: return sp->l >= 8;
    case MB_SPARSE_STRIDED: return sp->l >= 8 && per_residue >= 8;
    }
    return 0;
}

static size_t ws_floats(int64_t n, int64_t d) { return (size_t)(2 * n * d + PANEL_ROWS * (n + 2 * d)); }

void mb_sparse_teardown(void *state) {
    struct sparse_state *s = state;
    if (!s) return;
    mb_free(s->scores);
    mb_free(s->idx);
    mb_free(s->qidx);
    mb_free(s->ws);
    mb_free(s->stats);
    free(s);
}

int mb_sparse_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct sparse_state *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    mb_sparse_resolve(&s->sp, k->variant, &w->point);
    s->threads = w->point.threads > 0 ? (int)w->point.threads : 1; /* the runner's team size */
    s->blocked = use_blocks(&s->sp);
    const size_t n = (size_t)s->a.n, t = (size_t)s->threads;
    s->idx = mb_alloc(t * n * sizeof(int64_t));
    int ok = s->idx != NULL;
    if (s->blocked) {
        s->qidx = mb_alloc(t * PANEL_ROWS * sizeof(int64_t));
        s->ws = mb_alloc(t * ws_floats(s->a.n, s->a.d) * sizeof(float));
        ok = ok && s->qidx && s->ws;
        if (s->sp.kind == MB_SPARSE_STRIDED) {
            s->stats = mb_alloc((size_t)mb_attn_head_count(&s->a) * n * 2 * sizeof(float));
            ok = ok && s->stats;
        }
    } else {
        s->scores = mb_alloc(t * n * sizeof(float));
        ok = ok && s->scores;
    }
    if (!ok) {
        mb_sparse_teardown(s);
        return mb_errorf(err, errlen, "out of memory for the per-thread key lists and panels");
    }
    *state = s;
    return 0;
}

static struct panel_ws thread_ws(const struct sparse_state *s, int tid) {
    const int64_t n = s->a.n, d = s->a.d;
    float *base = s->ws + (size_t)tid * ws_floats(n, d);
    struct panel_ws ws = {.kp = base, .vp = base + n * d, .s = base + 2 * n * d};
    ws.qp = ws.s + PANEL_ROWS * n;
    ws.op = ws.qp + PANEL_ROWS * d;
    return ws;
}

/* Band pass: rows [i0, i0 + 64) over the contiguous keys |i - j| <= w (causal i - w <= j <= i). */
static void band_pass(const struct sparse_state *s, int64_t w, enum panel_mode mode) {
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, blocks = (n + PANEL_ROWS - 1) / PANEL_ROWS, heads = mb_attn_head_count(a);
    const float scale = 1.0f / sqrtf((float)a->d);
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < heads * blocks; task++) {
        const int64_t head = task / blocks, i0 = (task % blocks) * PANEL_ROWS;
        struct panel pn = {.rows = min64(PANEL_ROWS, n - i0), .row0 = i0};
        pn.key0 = max64(0, i0 - w);
        pn.m = (a->causal ? i0 + pn.rows : min64(n, i0 + pn.rows + w)) - pn.key0;
        for (int64_t r = 0; r < pn.rows; r++) {
            const int64_t i = i0 + r;
            pn.lo[r] = max64(0, i - w) - pn.key0;
            pn.hi[r] = (a->causal ? i : min64(n - 1, i + w)) + 1 - pn.key0;
            pn.ex[r] = -1;
        }
        struct panel_ws ws = thread_ws(s, omp_get_thread_num());
        panel_attend(a, head * mb_attn_head_stride(a), scale, &pn, &ws, mode,
                     s->stats ? s->stats + head * n * 2 : NULL);
    }
}

/* Residue pass: rows i = r + s l (s in a block of 64) over the keys j = r + t l; causal t <= s. Without self
 * (strided, after the band): causal t < s, else t != s. */
static void residue_pass(const struct sparse_state *s, int64_t l, int without_self, enum panel_mode mode) {
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, heads = mb_attn_head_count(a), residues = min64(l, n);
    const int64_t per = (n + l - 1) / l, blocks = (per + PANEL_ROWS - 1) / PANEL_ROWS;
    const float scale = 1.0f / sqrtf((float)a->d);
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < heads * residues * blocks; task++) {
        const int64_t head = task / (residues * blocks), r = (task / blocks) % residues, s0 = (task % blocks) * PANEL_ROWS;
        const int64_t count = (n - 1 - r) / l + 1; /* rows (and keys) of residue r */
        if (s0 >= count) continue;
        const int tid = omp_get_thread_num();
        int64_t *keys = s->idx + (size_t)tid * (size_t)n, *qrows = s->qidx + (size_t)tid * PANEL_ROWS;
        struct panel pn = {.rows = min64(PANEL_ROWS, count - s0), .qrows = qrows, .keys = keys};
        pn.m = a->causal ? s0 + pn.rows : count;
        for (int64_t t = 0; t < pn.m; t++) keys[t] = r + t * l;
        for (int64_t q = 0; q < pn.rows; q++) {
            const int64_t sq = s0 + q;
            qrows[q] = r + sq * l;
            pn.lo[q] = 0;
            pn.hi[q] = a->causal ? (without_self ? sq : sq + 1) : count;
            pn.ex[q] = without_self && !a->causal ? sq : -1;
        }
        struct panel_ws ws = thread_ws(s, tid);
        panel_attend(a, head * mb_attn_head_stride(a), scale, &pn, &ws, mode,
                     s->stats ? s->stats + head * n * 2 : NULL);
    }
}

/* Fixed: rows of block b (in chunks of 64) over (summary columns of blocks < b, own block, summary columns of
 * blocks > b when non-causal); causal masks the own block to j <= i. */
static void fixed_pass(const struct sparse_state *s) {
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, l = s->sp.l, c = s->sp.c, heads = mb_attn_head_count(a), nb = (n + l - 1) / l;
    const int64_t chunks = (l + PANEL_ROWS - 1) / PANEL_ROWS;
    const float scale = 1.0f / sqrtf((float)a->d);
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < heads * nb * chunks; task++) {
        const int64_t head = task / (nb * chunks), b = (task / chunks) % nb, i0 = b * l + (task % chunks) * PANEL_ROWS;
        const int64_t own_end = min64(n, b * l + l);
        if (i0 >= own_end) continue;
        const int tid = omp_get_thread_num();
        int64_t *keys = s->idx + (size_t)tid * (size_t)n;
        struct panel pn = {.rows = min64(PANEL_ROWS, own_end - i0), .row0 = i0, .keys = keys};
        int64_t m = 0;
        for (int64_t blk = 0; blk < b; blk++)
            for (int64_t j = blk * l + l - c; j < blk * l + l; j++) keys[m++] = j;
        const int64_t own_pos = m;
        for (int64_t j = b * l; j < own_end; j++) keys[m++] = j;
        if (!a->causal)
            for (int64_t blk = b + 1; blk < nb; blk++)
                for (int64_t j = blk * l + l - c; j < min64(n, blk * l + l); j++) keys[m++] = j;
        pn.m = m;
        for (int64_t r = 0; r < pn.rows; r++) {
            pn.lo[r] = 0;
            pn.hi[r] = a->causal ? own_pos + (i0 + r - b * l) + 1 : m;
            pn.ex[r] = -1;
        }
        struct panel_ws ws = thread_ws(s, tid);
        panel_attend(a, head * mb_attn_head_stride(a), scale, &pn, &ws, PANEL_FINAL, NULL);
    }
}

static void row_pass(const struct sparse_state *s) {
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, d = a->d, rows = mb_attn_head_count(a) * n;
    const float scale = 1.0f / sqrtf((float)d);
    const int tid = omp_get_thread_num();
    float *scores = s->scores + (size_t)tid * (size_t)n;
    int64_t *idx = s->idx + (size_t)tid * (size_t)n;
#pragma omp for schedule(dynamic, 16)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t head = r / n, i = r % n, off = head * mb_attn_head_stride(a);
        const int64_t m = mb_sparse_row_keys(&s->sp, i, idx);
        mb_sparse_attend_row(a->q + off + i * d, a->k + off, a->v + off, d, scale, idx, m, 1, scores,
                             a->out + off + i * d);
    }
}

void mb_sparse_run(void *state) {
    struct sparse_state *s = state;
#pragma omp parallel num_threads(s->threads)
    {
        if (!s->blocked) {
            row_pass(s);
        } else {
            switch (s->sp.kind) {
            case MB_SPARSE_LOCAL: band_pass(s, s->sp.l, PANEL_FINAL); break;
            case MB_SPARSE_ATROUS: residue_pass(s, s->sp.l, 0, PANEL_FINAL); break;
            case MB_SPARSE_FIXED: fixed_pass(s); break;
            case MB_SPARSE_STRIDED:
                band_pass(s, s->sp.l - 1, PANEL_STATS); /* implicit barrier: the band is done before the merge */
                residue_pass(s, s->sp.l, 1, PANEL_MERGE);
                break;
            }
        }
    }
}

double mb_sparse_flops(const struct mb_kernel *k, const struct mb_point *p) {
    struct mb_sparse sp;
    mb_sparse_resolve(&sp, k->variant, p);
    return (double)p->batch * (double)p->heads * (4.0 * (double)p->d + 3.0) * mb_sparse_total_count(&sp);
}

double mb_sparse_workspace(const struct mb_kernel *k, const struct mb_point *p) {
    struct mb_sparse sp;
    mb_sparse_resolve(&sp, k->variant, p);
    const double t = p->threads > 0 ? (double)p->threads : 1.0, n = (double)p->n;
    if (!use_blocks(&sp)) return t * n * (sizeof(float) + sizeof(int64_t));
    double bytes = t * (n * sizeof(int64_t) + PANEL_ROWS * sizeof(int64_t) + 4.0 * (double)ws_floats(p->n, p->d));
    if (sp.kind == MB_SPARSE_STRIDED) bytes += 8.0 * (double)p->batch * (double)p->heads * n;
    return bytes;
}
