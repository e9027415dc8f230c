/* vision interpolation helpers: PyTorch's coordinate maps (float where PyTorch is float), the per-axis tables and
 * the separable row engine. See interp.h for the formulas and sources. */
#include "vision/interp.h"
#include "core/vmask.h"

#include "core/mechbench.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ coordinate maps */
/* compute_scales_value<float>: the user's scale factor inverted in double then rounded, else in / out in float. */
static float scales_value(double scale_factor, int64_t in, int64_t out) {
    return scale_factor > 0 ? (float)(1.0 / scale_factor) : (float)in / (float)out;
}

float mb_interp_scale(int64_t in, int64_t out, int align_corners, double scale_factor) {
    if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return scales_value(scale_factor, in, out);
}

double mb_interp_source(float scale, int64_t dst, int align_corners, int cubic) {
    const double src = align_corners ? (double)scale * (double)dst : (double)scale * ((double)dst + 0.5) - 0.5;
    return (!cubic && src < 0) ? 0.0 : src;
}

int64_t mb_interp_nearest(int64_t dst, int64_t in, int64_t out, double scale_factor) {
    if (out == in) return dst;
    if (out == 2 * in) return dst >> 1;
    const float scale = scales_value(scale_factor, in, out);
    const int64_t src = (int64_t)floorf((float)dst * scale);
    return src < in - 1 ? src : in - 1;
}

int64_t mb_interp_nearest_exact(int64_t dst, int64_t in, int64_t out, double scale_factor) {
    const float scale = scales_value(scale_factor, in, out);
    const int64_t src = (int64_t)floorf((float)(((double)dst + 0.5) * (double)scale));
    return src < in - 1 ? src : in - 1;
}

void mb_interp_linear_taps(int64_t dst, int64_t in, int64_t out, float scale, int align_corners, int64_t idx[2],
                           float *lambda1) {
    if (out == in) { /* scale factor 1: a copy */
        idx[0] = idx[1] = dst;
        *lambda1 = 0.0f;
        return;
    }
    const double src = mb_interp_source(scale, dst, align_corners, 0);
    idx[0] = (int64_t)src;
    idx[1] = idx[0] + (idx[0] < in - 1);
    *lambda1 = (float)(src - (double)idx[0]);
}

void mb_interp_cubic_taps(int64_t dst, int64_t in, int64_t out MB_UNUSED, float scale, int align_corners,
                          int64_t idx[4], float *t) {
    const double src = mb_interp_source(scale, dst, align_corners, 1);
    const int64_t i = (int64_t)floorf((float)src); /* floorf of the float-rounded coordinate, as PyTorch */
    *t = (float)(src - (double)i);
    for (int j = 0; j < 4; j++) {
        const int64_t at = i + j - 1;
        idx[j] = at < 0 ? 0 : at > in - 1 ? in - 1 : at;
    }
}

/* Keys' kernel for |x| <= 1 and 1 < |x| < 2, in float as PyTorch's cubic_convolution1/2, with the fused
 * multiply-adds its x86 build contracts (found by matching its weights bit for bit on one-hot inputs). */
static float cubic_near(float x, float a) { return fmaf(a + 2, x, -(a + 3)) * x * x + 1; }
static float cubic_far(float x, float a) { return fmaf(fmaf(a, x, -5 * a), x, 8 * a) * x - 4 * a; }

void mb_interp_cubic_weights(float t, float w[4]) {
    const float a = (float)MB_CUBIC_A, x2 = (float)(1.0 - t);
    w[0] = cubic_far((float)(t + 1.0), a);
    w[1] = cubic_near(t, a);
    w[2] = cubic_near(x2, a);
    w[3] = cubic_far((float)(x2 + 1.0), a);
}

void mb_interp_cubic_weights_double(double t, double w[4]) {
    const double a = MB_CUBIC_A;
    const double x[4] = {t + 1, t, 1 - t, 2 - t};
    for (int j = 0; j < 4; j++)
        w[j] = x[j] <= 1 ? ((a + 2) * x[j] - (a + 3)) * x[j] * x[j] + 1 : ((a * x[j] - 5 * a) * x[j] + 8 * a) * x[j] - 4 * a;
}

/* ------------------------------------------------------------------------------------------ tables */
int mb_interp_taps(enum mb_interp_mode mode) { return mode == MB_INTERP_CUBIC ? 4 : mode == MB_INTERP_LINEAR ? 2 : 1; }

int mb_interp_axis_init(struct mb_interp_axis *ax, enum mb_interp_mode mode, int64_t in, int64_t out,
                        int align_corners, double scale_factor) {
    ax->taps = mb_interp_taps(mode);
    ax->in = in, ax->out = out;
    ax->blocks = (out + MB_INTERP_BLOCK - 1) / MB_INTERP_BLOCK;
    ax->index = malloc((size_t)(ax->taps * out) * sizeof *ax->index);
    ax->weight = calloc((size_t)(ax->taps * out + MB_INTERP_BLOCK), sizeof *ax->weight);
    ax->window = malloc((size_t)(ax->taps * ax->blocks) * sizeof *ax->window);
    ax->lane = calloc((size_t)(ax->taps * ax->blocks * MB_INTERP_BLOCK), sizeof *ax->lane);
    if (!ax->index || !ax->weight || !ax->window || !ax->lane) return mb_interp_axis_free(ax), -1;
    const float scale = mb_interp_scale(in, out, align_corners, scale_factor);
    for (int64_t j = 0; j < out; j++) {
        int64_t idx[4] = {0};
        float w[4] = {1, 0, 0, 0};
        if (mode == MB_INTERP_NEAREST) idx[0] = mb_interp_nearest(j, in, out, scale_factor);
        else if (mode == MB_INTERP_NEAREST_EXACT) idx[0] = mb_interp_nearest_exact(j, in, out, scale_factor);
        else if (mode == MB_INTERP_LINEAR) {
            mb_interp_linear_taps(j, in, out, scale, align_corners, idx, &w[1]);
            w[0] = 1.0f - w[1];
        } else {
            float t;
            mb_interp_cubic_taps(j, in, out, scale, align_corners, idx, &t);
            mb_interp_cubic_weights(t, w);
        }
        for (int t = 0; t < ax->taps; t++) ax->index[t * out + j] = (int32_t)idx[t], ax->weight[t * out + j] = w[t];
    }
    for (int t = 0; t < ax->taps; t++) /* the permutation windows; any block that does not fit: gathers */
        for (int64_t b = 0; b < ax->blocks; b++) {
            const int32_t *at = ax->index + t * out + b * MB_INTERP_BLOCK;
            const int64_t count = out - b * MB_INTERP_BLOCK < MB_INTERP_BLOCK ? out - b * MB_INTERP_BLOCK : MB_INTERP_BLOCK;
            int32_t lo = at[0], hi = at[0];
            for (int64_t j = 1; j < count; j++) lo = at[j] < lo ? at[j] : lo, hi = at[j] > hi ? at[j] : hi;
            if (hi - lo >= 2 * MB_INTERP_BLOCK) {
                free(ax->window), free(ax->lane);
                ax->window = NULL, ax->lane = NULL;
                return 0;
            }
            ax->window[t * ax->blocks + b] = lo;
            for (int64_t j = 0; j < count; j++) ax->lane[(t * ax->blocks + b) * MB_INTERP_BLOCK + j] = at[j] - lo;
        }
    return 0;
}

void mb_interp_axis_free(struct mb_interp_axis *ax) {
    free(ax->index), free(ax->weight), free(ax->window), free(ax->lane);
    ax->index = NULL, ax->weight = NULL, ax->window = NULL, ax->lane = NULL;
}

/* ------------------------------------------------------------------------------------------ stores */
void mb_vision_store_row(float *restrict dst, const float *restrict src, int64_t n, int stream) {
    if (!stream) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    int64_t j = 0;
    for (; j < n && ((uintptr_t)(dst + j) & 63); j++) dst[j] = src[j];
#if defined(__AVX512F__)
    for (; j + 16 <= n; j += 16) _mm512_stream_ps(dst + j, _mm512_loadu_ps(src + j));
#elif defined(__AVX__)
    for (; j + 8 <= n; j += 8) _mm256_stream_ps(dst + j, _mm256_loadu_ps(src + j));
#else
    for (; j + 4 <= n; j += 4) _mm_stream_ps(dst + j, _mm_loadu_ps(src + j));
#endif
    for (; j < n; j++) dst[j] = src[j];
}

void mb_vision_store_fence(void) { _mm_sfence(); }

/* ------------------------------------------------------------------------------------------ row engine */
/* a b + c as PyTorch's x86 build evaluates its sums of products (the compiler fuses them): fused where the ISA has
 * FMA, plain otherwise (the portable copy then differs from PyTorch by float rounding). */
#ifdef __FMA__
#define MUL_ADD(a, b, c) fmaf(a, b, c)
#else
#define MUL_ADD(a, b, c) ((a) * (b) + (c))
#endif

#ifdef __AVX512F__
/* Tap t's sources of block b: two masked loads of the window (never past the row) and a two-register permutation. */
static inline __m512 window_sources(const float *src, const struct mb_interp_axis *ax, int t, int64_t b) {
    const int64_t first = ax->window[t * ax->blocks + b], left = ax->in - first;
    const __m512i lane = _mm512_loadu_si512(ax->lane + (t * ax->blocks + b) * MB_INTERP_BLOCK);
    if (left >= 32) return _mm512_permutex2var_ps(_mm512_loadu_ps(src + first), lane, _mm512_loadu_ps(src + first + 16));
    const __mmask16 m_lo = mb_mask16_first(left);
    const __mmask16 m_hi = mb_mask16_first(left - 16);
    const __m512 lo = _mm512_maskz_loadu_ps(m_lo, src + first), hi = _mm512_maskz_loadu_ps(m_hi, src + first + 16);
    return _mm512_permutex2var_ps(lo, lane, hi);
}

/* The width pass by permutations: dst (a scratch row, padded to a block) = the taps' sums as width_pass's. */
static void width_pass_windows(float *restrict dst, const float *restrict src, const struct mb_interp_axis *ax,
                               int weighted) {
    const int64_t n = ax->out;
    for (int64_t b = 0; b < ax->blocks; b++) {
        const int64_t j = b * MB_INTERP_BLOCK;
        __m512 acc = window_sources(src, ax, 0, b);
        if (weighted && ax->taps == 1) acc = _mm512_mul_ps(acc, _mm512_loadu_ps(ax->weight + j));
        if (weighted && ax->taps >= 2) {
            const __m512 s1 = _mm512_mul_ps(window_sources(src, ax, 1, b), _mm512_loadu_ps(ax->weight + n + j));
            acc = _mm512_fmadd_ps(acc, _mm512_loadu_ps(ax->weight + j), s1);
            for (int t = 2; t < ax->taps; t++)
                acc = _mm512_fmadd_ps(window_sources(src, ax, t, b), _mm512_loadu_ps(ax->weight + t * n + j), acc);
        }
        _mm512_storeu_ps(dst + j, acc);
    }
}
#endif

/* The width pass of one input row: dst[j] = sum_t src[index[t, j]] weight[t, j], accumulated tap by tap. */
static void width_pass(float *restrict dst, const float *restrict src, const struct mb_interp_axis *ax, int weighted) {
#ifdef __AVX512F__
    if (ax->window) {
        width_pass_windows(dst, src, ax, weighted);
        return;
    }
#endif
    const int64_t n = ax->out;
    const int32_t *restrict i0 = ax->index;
    const float *restrict w0 = ax->weight;
    if (!weighted) {
        for (int64_t j = 0; j < n; j++) dst[j] = src[i0[j]];
    } else if (ax->taps == 1) {
        for (int64_t j = 0; j < n; j++) dst[j] = src[i0[j]] * w0[j];
    } else if (ax->taps == 2) {
        const int32_t *restrict i1 = i0 + n;
        const float *restrict w1 = w0 + n;
        for (int64_t j = 0; j < n; j++) dst[j] = MUL_ADD(src[i0[j]], w0[j], src[i1[j]] * w1[j]);
    } else {
        const int32_t *restrict i1 = i0 + n, *restrict i2 = i0 + 2 * n, *restrict i3 = i0 + 3 * n;
        const float *restrict w1 = w0 + n, *restrict w2 = w0 + 2 * n, *restrict w3 = w0 + 3 * n;
        for (int64_t j = 0; j < n; j++)
            dst[j] = MUL_ADD(src[i3[j]], w3[j],
                             MUL_ADD(src[i2[j]], w2[j], MUL_ADD(src[i0[j]], w0[j], src[i1[j]] * w1[j])));
    }
}

/* dst = sum_t rows[t] w[t] in PyTorch's order: ((r0 w0 + r1 w1) + r2 w2) + r3 w3. */
static void combine(float *restrict dst, const float *const *rows, const float *w, int taps, int64_t n) {
    const float *restrict r0 = rows[0], *restrict r1 = rows[taps > 1 ? 1 : 0];
    const float w0 = w[0], w1 = w[taps > 1 ? 1 : 0];
    if (taps == 1) {
        for (int64_t j = 0; j < n; j++) dst[j] = r0[j] * w0;
    } else if (taps == 2) {
        for (int64_t j = 0; j < n; j++) dst[j] = MUL_ADD(r0[j], w0, r1[j] * w1);
    } else {
        const float *restrict r2 = rows[2], *restrict r3 = rows[3];
        const float w2 = w[2], w3 = w[3];
        for (int64_t j = 0; j < n; j++) dst[j] = MUL_ADD(r3[j], w3, MUL_ADD(r2[j], w2, MUL_ADD(r0[j], w0, r1[j] * w1)));
    }
}

/* A thread's cache of width-interpolated input rows, keyed by the flat input row, least recently used out. */
struct row_cache {
    int64_t key[MB_INTERP_CACHE_SLOTS], used[MB_INTERP_CACHE_SLOTS];
    float *rows;
    int64_t stride, rows_in; /* floats per cached row; input rows (planes D H) */
};

static const float *cached_row(struct row_cache *c, const struct mb_interp_plan *pl, int64_t key, int64_t now) {
    int victim = 0;
    for (int s = 0; s < MB_INTERP_CACHE_SLOTS; s++) {
        if (c->key[s] == key) {
            c->used[s] = now;
            return c->rows + s * c->stride;
        }
        if (c->used[s] < c->used[victim]) victim = s;
    }
    float *row = c->rows + victim * c->stride;
    const int64_t w_in = pl->axis[2].in;
    const float *next = pl->in + (key + 1) * w_in; /* the next input row, most often needed soon: on its way */
    if (key + 1 < c->rows_in)
        for (int64_t j = 0; j < w_in; j += 16) _mm_prefetch((const char *)(next + j), _MM_HINT_T0);
    width_pass(row, pl->in + key * w_in, &pl->axis[2], pl->weighted);
    c->key[victim] = key, c->used[victim] = now;
    return row;
}

static void run_rows(const struct mb_interp_plan *pl, float *scratch, int64_t r0, int64_t r1) {
    const struct mb_interp_axis *ad = &pl->axis[0], *ah = &pl->axis[1];
    const int64_t w_out = pl->axis[2].out;
    struct row_cache c = {.rows = scratch, .stride = pl->scratch_row, .rows_in = pl->planes * ad->in * ah->in};
    for (int s = 0; s < MB_INTERP_CACHE_SLOTS; s++) c.key[s] = -1, c.used[s] = -1;
    float *acc = scratch + MB_INTERP_CACHE_SLOTS * pl->scratch_row, *u = acc + pl->scratch_row; /* u: 4 rows */
    for (int64_t r = r0; r < r1; r++) {
        const int64_t oh = r % ah->out, od = r / ah->out % ad->out, plane = r / ah->out / ad->out;
        float *dst = pl->out + r * w_out;
        const int64_t base = plane * ad->in;
        if (ad->taps == 1 && ah->taps == 1 && (!pl->weighted || ah->weight[oh] == 1.0f)) {
            const int64_t key = (base + ad->index[od]) * ah->in + ah->index[oh];
            mb_vision_store_row(dst, cached_row(&c, pl, key, r), w_out, pl->stream);
            continue;
        }
        const float *planes[4];
        float wd[4];
        for (int a = 0; a < ad->taps; a++) { /* along H for each depth tap (2-D: one tap), then along D */
            const float *rows[4];
            float wh[4];
            for (int b = 0; b < ah->taps; b++) {
                const int64_t key = (base + ad->index[a * ad->out + od]) * ah->in + ah->index[b * ah->out + oh];
                rows[b] = cached_row(&c, pl, key, r);
                wh[b] = ah->weight[b * ah->out + oh];
            }
            float *partial = ad->taps == 1 ? acc : u + a * pl->scratch_row;
            combine(partial, rows, wh, ah->taps, w_out);
            planes[a] = partial, wd[a] = ad->weight[a * ad->out + od];
        }
        if (ad->taps > 1) combine(acc, planes, wd, ad->taps, w_out);
        mb_vision_store_row(dst, acc, w_out, pl->stream);
    }
}

void mb_interp_plan_run(const struct mb_interp_plan *pl) {
    const int64_t rows = pl->planes * pl->axis[0].out * pl->axis[1].out;
#pragma omp parallel num_threads(pl->threads)
    {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *scratch = pl->scratch + t * (MB_INTERP_CACHE_SLOTS + 5) * pl->scratch_row;
        run_rows(pl, scratch, rows * t / nt, rows * (t + 1) / nt);
        if (pl->stream) mb_vision_store_fence();
    }
}

int mb_interp_plan_init(struct mb_interp_plan *pl, enum mb_interp_mode mode, int spatial, int64_t planes,
                        const int64_t *in, const int64_t *out, const double *scales, int align_corners,
                        const float *input, float *output, char *err, size_t errlen) {
    memset(pl, 0, sizeof *pl);
    pl->planes = planes, pl->in = input, pl->out = output;
    pl->weighted = mode == MB_INTERP_LINEAR || mode == MB_INTERP_CUBIC;
    for (int a = 0; a < 3; a++) {
        const int given = a >= 3 - spatial, i = a - (3 - spatial);
        const int status = given ? mb_interp_axis_init(&pl->axis[a], mode, in[i], out[i], align_corners, scales[i])
                                 : mb_interp_axis_init(&pl->axis[a], MB_INTERP_NEAREST, 1, 1, 0, 0);
        if (status) return mb_interp_plan_free(pl), mb_errorf(err, errlen, "out of memory (interpolation tables)");
    }
    const int64_t w_out = pl->axis[2].out;
    pl->scratch_row = (w_out + 15) / 16 * 16;
    pl->threads = omp_get_max_threads();
    pl->scratch = mb_alloc((size_t)(pl->threads * (MB_INTERP_CACHE_SLOTS + 5) * pl->scratch_row) * sizeof(float));
    if (!pl->scratch) return mb_interp_plan_free(pl), mb_errorf(err, errlen, "out of memory (row cache)");
    pl->stream = 4.0 * (double)planes * (double)pl->axis[0].out * (double)pl->axis[1].out * (double)w_out >=
                 MB_VISION_STREAM_BYTES;
    return 0;
}

void mb_interp_plan_free(struct mb_interp_plan *pl) {
    for (int a = 0; a < 3; a++) mb_interp_axis_free(&pl->axis[a]);
    mb_free(pl->scratch);
    pl->scratch = NULL;
}

double mb_interp_plan_workspace(int spatial, const int64_t *out, int taps) {
    double tables = 0;
    for (int i = 0; i < spatial; i++) tables += (double)out[i] * taps * 8.0;
    const double row = (double)((out[spatial - 1] + 15) / 16 * 16) * 4.0;
    return tables + (double)omp_get_max_threads() * (MB_INTERP_CACHE_SLOTS + 5) * row;
}
