/* ssm.rwkv.wkv_direct: RWKV-4 WKV by the direct formula, in float, without any max shift:
 *
 *   y_t = [sum_{i<t} e^{-(t-1-i) w + k_i} v_i + e^{u + k_t} v_t] / [sum_{i<t} e^{-(t-1-i) w + k_i} + e^{u + k_t}]
 *
 * The attention-like (quadratic) view of WKV: a reference for the recurrence, and a demonstration of why RWKV needs
 * the stable form: e^{k} overflows float for k > 88 (the result becomes inf/inf = NaN) and underflows for very
 * negative exponents. supports() refuses T > 4096 (quadratic cost). Work items (batch, t, block of 16 channels) in
 * parallel, vectorised over channels (AVX-512, SLEEF exp). Cost: (t + 1) exp and ~5 (t + 1) FLOPs per (t, c):
 * O(batch T^2 C) time, no workspace.
 * Source: Peng et al. 2023, "RWKV", eq. (14)-(16).
 */
#include "ssm/family_rwkv.h"
#include "core/vmask.h"

#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_T 4096

struct wkv_direct {
    struct mb_rwkv r;
};

static int supports(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    if (p->n > MAX_T) {
        snprintf(why, len, "T = %lld > %d: the direct form is O(T^2) (use ssm.rwkv.wkv_stable)", (long long)p->n, MAX_T);
        return 1;
    }
    return 0;
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct wkv_direct *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_rwkv_bind(&s->r, w);
    *state = s;
    return 0;
}

static void run(void *state) {
    const struct mb_rwkv *r = &((struct wkv_direct *)state)->r;
    const int64_t T = r->T, C = r->C, cb = (C + 15) / 16;
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t it = 0; it < r->batch * T * cb; it++) {
        const int64_t b = it / (T * cb), t = (it / cb) % T, c0 = (it % cb) * 16, cnt = C - c0 < 16 ? C - c0 : 16;
        const float *k = r->k + b * T * C + c0, *v = r->v + b * T * C + c0;
        float *y = r->y + (b * T + t) * C + c0;
#if defined(__AVX512F__)
        const __mmask16 m = mb_mask16_first(cnt);
        const __m512 w = _mm512_maskz_loadu_ps(m, r->w + c0), u = _mm512_maskz_loadu_ps(m, r->u + c0);
        __m512 e = Sleef_expf16_u10(_mm512_add_ps(u, _mm512_maskz_loadu_ps(m, k + t * C)));
        __m512 num = _mm512_mul_ps(e, _mm512_maskz_loadu_ps(m, v + t * C)), den = e;
        for (int64_t i = 0; i < t; i++) {
            const __m512 x = _mm512_fnmadd_ps(_mm512_set1_ps((float)(t - 1 - i)), w, _mm512_maskz_loadu_ps(m, k + i * C));
            e = Sleef_expf16_u10(x);
            num = _mm512_fmadd_ps(e, _mm512_maskz_loadu_ps(m, v + i * C), num);
            den = _mm512_add_ps(den, e);
        }
        _mm512_mask_storeu_ps(y, m, _mm512_div_ps(num, den));
#else
        for (int64_t c = 0; c < cnt; c++) {
            float e = expf(r->u[c0 + c] + k[t * C + c]), num = e * v[t * C + c], den = e;
            for (int64_t i = 0; i < t; i++) {
                e = expf(-(float)(t - 1 - i) * r->w[c0 + c] + k[i * C + c]);
                num += e * v[i * C + c];
                den += e;
            }
            y[c] = num / den;
        }
#endif
    }
}

static void teardown(void *state) { free(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return 5.0 * (double)p->batch * p->d * (double)p->n * ((double)p->n + 1.0) / 2.0;
}

/* k, v rows 0..t re-read per output row (from cache when T C fits) */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_rwkv_io_bytes(p); }

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    (void)p;
    return 0.0;
}

const struct mb_kernel mb_kernel_ssm_rwkv_wkv_direct = {
    .name = "ssm.rwkv.wkv_direct",
    MB_RWKV_KERNEL,
    .summary = "RWKV-4 WKV by the direct quadratic formula in float (no max shift: overflows for k > 88); T <= 4096",
    .complexity = "O(batch T^2 C) time, O(1) memory",
    .supports = supports,
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
