/* ssm.rwkv.wkv_stable: RWKV-4 WKV by the numerically stable recurrence of the official CUDA kernel (wkv_cuda.cu,
 * kernel_forward): the running sums are kept scaled by e^{-p}, p the running maximum exponent.
 *
 *   a = b = 0, p = -1e38;  for t:  q = max(p, u + k_t);  y_t = (e^{p-q} a + e^{u+k_t-q} v_t) / (e^{p-q} b + e^{u+k_t-q})
 *                                  q' = max(p - w, k_t);   a = e^{p-w-q'} a + e^{k_t-q'} v_t;  b = e^{p-w-q'} b + e^{k_t-q'};  p = q'
 * Shapes: w, u (C); k, v, y (batch, T, C). Work items (batch, block of 16 channels) in parallel (OpenMP), each a
 * sequential loop over T vectorised over its 16 channels (AVX-512, SLEEF exp; masked tail). Cost: 4 exp + ~14 FLOPs
 * per (t, c): O(batch T C) time, O(1) state per channel; finite for any finite k (no overflow).
 * Source: Peng et al. 2023, "RWKV", eq. (14)-(16) and appendix; BlinkDL/RWKV-LM RWKV-v4/cuda/wkv_cuda.cu.
 */
#include "ssm/family_rwkv.h"
#include "core/vmask.h"

#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <stdlib.h>

struct wkv_stable {
    struct mb_rwkv r;
};

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct wkv_stable *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_rwkv_bind(&s->r, w);
    *state = s;
    return 0;
}

static void run(void *state) {
    const struct mb_rwkv *r = &((struct wkv_stable *)state)->r;
    const int64_t T = r->T, C = r->C, cb = (C + 15) / 16;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t it = 0; it < r->batch * cb; it++) {
        const int64_t b = it / cb, c0 = (it % cb) * 16, cnt = C - c0 < 16 ? C - c0 : 16;
        const float *k = r->k + b * T * C + c0, *v = r->v + b * T * C + c0;
        float *y = r->y + b * T * C + c0;
#if defined(__AVX512F__)
        const __mmask16 m = mb_mask16_first(cnt);
        const __m512 w = _mm512_maskz_loadu_ps(m, r->w + c0), u = _mm512_maskz_loadu_ps(m, r->u + c0);
        __m512 a = _mm512_setzero_ps(), bb = _mm512_setzero_ps(), p = _mm512_set1_ps(-1e38f);
        for (int64_t t = 0; t < T; t++) {
            const __m512 kt = _mm512_maskz_loadu_ps(m, k + t * C), vt = _mm512_maskz_loadu_ps(m, v + t * C);
            const __m512 ww = _mm512_add_ps(u, kt), q = _mm512_max_ps(p, ww);
            const __m512 e1 = Sleef_expf16_u10(_mm512_sub_ps(p, q)), e2 = Sleef_expf16_u10(_mm512_sub_ps(ww, q));
            const __m512 num = _mm512_fmadd_ps(e1, a, _mm512_mul_ps(e2, vt)), den = _mm512_fmadd_ps(e1, bb, e2);
            _mm512_mask_storeu_ps(y + t * C, m, _mm512_div_ps(num, den));
            const __m512 pw = _mm512_sub_ps(p, w), q2 = _mm512_max_ps(pw, kt);
            const __m512 f1 = Sleef_expf16_u10(_mm512_sub_ps(pw, q2)), f2 = Sleef_expf16_u10(_mm512_sub_ps(kt, q2));
            a = _mm512_fmadd_ps(f1, a, _mm512_mul_ps(f2, vt));
            bb = _mm512_fmadd_ps(f1, bb, f2);
            p = q2;
        }
#else
        for (int64_t c = 0; c < cnt; c++) {
            const float w = r->w[c0 + c], u = r->u[c0 + c];
            float a = 0, bb = 0, p = -1e38f;
            for (int64_t t = 0; t < T; t++) {
                const float kt = k[t * C + c], vt = v[t * C + c], ww = u + kt, q = fmaxf(p, ww);
                const float e1 = expf(p - q), e2 = expf(ww - q);
                y[t * C + c] = (e1 * a + e2 * vt) / (e1 * bb + e2);
                const float pw = p - w, q2 = fmaxf(pw, kt), f1 = expf(pw - q2), f2 = expf(kt - q2);
                a = f1 * a + f2 * vt;
                bb = f1 * bb + f2;
                p = q2;
            }
        }
#endif
    }
}

static void teardown(void *state) { free(state); }

static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return 18.0 * (double)p->batch * p->n * p->d; }

static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) { return mb_rwkv_io_bytes(p); }

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    (void)p;
    return 0.0;
}

const struct mb_kernel mb_kernel_ssm_rwkv_wkv_stable = {
    .name = "ssm.rwkv.wkv_stable",
    MB_RWKV_KERNEL,
    .summary = "RWKV-4 WKV, running-max recurrence of the official CUDA kernel; OpenMP over batch x 16-channel blocks, AVX-512 over channels",
    .complexity = "O(batch T C) time, O(C) state",
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
