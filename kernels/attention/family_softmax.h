/* Vectorised row helpers of the softmax, shared by every attention kernel that exponentiates scores (the exact
 * softmax kernels' online softmax, the row softmax of family.c, the sparse block engine, Reformer, Performer):
 *   mb_attn_row_max(x, len)      max_j x_j (-inf when len == 0)
 *   mb_attn_exp_sum(x, len, m)   x_j <- e^{x_j - m} in place (x_j = -inf gives 0), returns sum_j e^{x_j - m}
 *   mb_attn_scale(x, len, s)     x_j <- s x_j
 * AVX-512 (SLEEF Sleef_expf16_u10) with masked tails; scalar fallback elsewhere.
 */
#ifndef MB_ATTENTION_FAMILY_SOFTMAX_H
#define MB_ATTENTION_FAMILY_SOFTMAX_H

#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <stdint.h>

static inline float mb_attn_row_max(const float *x, int64_t len) {
    float m = -INFINITY;
    int64_t j = 0;
#if defined(__AVX512F__)
    if (len >= 16) {
        __m512 vm = _mm512_set1_ps(-INFINITY);
        for (; j + 16 <= len; j += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + j));
        m = _mm512_reduce_max_ps(vm);
    }
#endif
    for (; j < len; j++) m = x[j] > m ? x[j] : m;
    return m;
}

static inline float mb_attn_exp_sum(float *x, int64_t len, float m) {
    int64_t j = 0;
    float sum = 0.0f;
#if defined(__AVX512F__)
    const __m512 vm = _mm512_set1_ps(m);
    __m512 vsum = _mm512_setzero_ps();
    for (; j + 16 <= len; j += 16) {
        __m512 e = Sleef_expf16_u10(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm));
        _mm512_storeu_ps(x + j, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    if (j < len) {
        const __mmask16 tail = (__mmask16)((1u << (len - j)) - 1u);
        __m512 e = Sleef_expf16_u10(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + j), vm));
        _mm512_mask_storeu_ps(x + j, tail, e);
        vsum = _mm512_mask_add_ps(vsum, tail, vsum, e);
        j = len;
    }
    sum = _mm512_reduce_add_ps(vsum);
#endif
    for (; j < len; j++) {
        x[j] = expf(x[j] - m);
        sum += x[j];
    }
    return sum;
}

static inline void mb_attn_scale(float *x, int64_t len, float s) {
    int64_t j = 0;
#if defined(__AVX512F__)
    const __m512 vs = _mm512_set1_ps(s);
    for (; j + 16 <= len; j += 16) _mm512_storeu_ps(x + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), vs));
    if (j < len) {
        const __mmask16 tail = (__mmask16)((1u << (len - j)) - 1u);
        _mm512_mask_storeu_ps(x + j, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + j), vs));
        j = len;
    }
#endif
    for (; j < len; j++) x[j] *= s;
}

#endif
