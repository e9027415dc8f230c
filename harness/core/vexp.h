/* A short vector 2^y for kernels whose exp is on the critical path (flash attention's online softmax, the Mamba
 * scan's exp(dt A)): 8 AVX-512 instructions, about half the cost of SLEEF's Sleef_expf16_u10.
 *
 *   k = round(y),  f = y - k in [-1/2, 1/2],  2^y = 2^k p(f)
 * p: degree-5 near-minimax polynomial of 2^f on [-1/2, 1/2] with p(0) = 1 exactly (so 2^0 = 1: a row's max gives
 * P = 1, a zero step dt gives a decay of 1); relative error 9.1e-8 in exact arithmetic, 1.1e-7 with its float
 * coefficients; measured against exp2 in double over y in [-126, 128] by steps of 7.3e-4: 1.7e-7 relative at
 * most); 2^k p by vscalefps: no integer bit tricks and no clamps, any finite y works (y < -150 gives exactly 0,
 * y > 128 gives +inf, as k stays a float); y = +-inf or NaN gives NaN: callers mask with a large finite negative
 * (-FLT_MAX), not -inf.
 * e^x = mb_exp2_ps(x * log2(e)): callers fold log2(e) into a scale they apply anyway.
 * Only under __AVX512F__ (the kernels' AVX-512 copies); portable paths keep expf.
 */
#ifndef MB_CORE_VEXP_H
#define MB_CORE_VEXP_H

#define MB_LOG2E 1.44269504088896340736f

#if defined(__AVX512F__)
#include <immintrin.h>

/* 2^k P(f), k = round(y), f = y - k: P(f) = c[0] f^degree + ... + c[degree] by Horner (degree and c constants at
   the call site, so the loop unrolls to FMAs with broadcast constants) */
static inline __m512 mb_exp2_horner_ps(__m512 y, const float *c, const int degree) {
    const __m512 k = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(y, k);
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i <= degree; i++) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(c[i]));
    return _mm512_scalef_ps(p, k);
}

static inline __m512 mb_exp2_ps(__m512 y) {
    static const float c[] = {1.326472382e-3f, 9.671512991e-3f, 5.550733581e-2f, 2.402224243e-1f, 6.931470037e-1f, 1.0f};
    return mb_exp2_horner_ps(y, c, 5);
}

/* 2^y with a degree-4 polynomial, one FMA fewer than mb_exp2_ps, for the Mamba scan's decays exp(dt A) (there the
   exp is most of the FMA work, and the kernel's tolerance against the double oracle is 1e-4). The same reduction and
   range rules as mb_exp2_ps; P(f) = 1 + ln2 f + c2 f^2 + c3 f^3 + c4 f^4 (c2..c4 fitted, weighted least squares, to
   the minimax relative error on [-0.5, 0.5]): relative error 5.4e-6 at most, measured in float; P(0) = 1 and
   P'(0) = ln 2 exactly, so the error near f = 0 is O(f^2) (1e-8 at |f| = 0.01): a slowly decaying state, which
   multiplies ~1 / |f| such factors before it fades, accumulates ~1e-5 relative error at most, not a bias per step. */
static inline __m512 mb_exp2_deg4_ps(__m512 y) {
    static const float c[] = {9.528319e-3f, 5.5793274e-2f, 2.4025108e-1f, 6.9314718e-1f, 1.0f};
    return mb_exp2_horner_ps(y, c, 4);
}

/* e^x */
static inline __m512 mb_exp_ps(__m512 x) { return mb_exp2_ps(_mm512_mul_ps(x, _mm512_set1_ps(MB_LOG2E))); }
#endif

#endif
