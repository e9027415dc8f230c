/* ssm.lru family: the pieces shared by the LRU kernels (lambda, gamma, the input and output GEMMs through OpenBLAS,
 * the vectorised complex diagonal scan). Separate from family_lru.c because cblas.h and GSL's gsl_cblas.h (pulled
 * in by gsl_randist.h there) cannot be included together. See family_lru.h for the math. */
#include "ssm/family_lru.h"
#include "core/vmask.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 256 /* GEMM row block */

/* ------------------------------------------------------------------------------------------ shared pieces */
int mb_lru_work_alloc(struct mb_lru_work *k, const struct mb_lru *r) {
    memset(k, 0, sizeof *k);
    const size_t N = (size_t)r->N, NH = N * (size_t)r->H, X = (size_t)(r->batch * r->L) * N;
    k->lam_re = mb_alloc(N * sizeof(float));
    k->lam_im = mb_alloc(N * sizeof(float));
    k->gamma = mb_alloc(N * sizeof(float));
    k->Bg_re = mb_alloc(NH * sizeof(float));
    k->Bg_im = mb_alloc(NH * sizeof(float));
    k->X_re = mb_alloc(X * sizeof(float));
    k->X_im = mb_alloc(X * sizeof(float));
    if (k->lam_re && k->lam_im && k->gamma && k->Bg_re && k->Bg_im && k->X_re && k->X_im) return 0;
    mb_lru_work_free(k);
    return -1;
}

void mb_lru_work_free(struct mb_lru_work *k) {
    mb_free(k->lam_re);
    mb_free(k->lam_im);
    mb_free(k->gamma);
    mb_free(k->Bg_re);
    mb_free(k->Bg_im);
    mb_free(k->X_re);
    mb_free(k->X_im);
    memset(k, 0, sizeof *k);
}

double mb_lru_work_bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    return 4.0 * (3.0 * p->rank + 2.0 * p->rank * p->d + 2.0 * (double)p->batch * p->n * p->rank);
}

double mb_lru_flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double rows = (double)p->batch * p->n;
    return rows * (4.0 * p->rank * p->d /* B u */ + 4.0 * p->rank * p->d /* Re(C x) */ + 8.0 * p->rank + p->d);
}

void mb_lru_input(const struct mb_lru *r, struct mb_lru_work *k) {
    const int64_t N = r->N, H = r->H, rows = r->batch * r->L, blocks = (rows + ROWS - 1) / ROWS;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const double mod = exp(-exp((double)r->nu_log[n])), phase = exp((double)r->theta_log[n]);
        k->lam_re[n] = (float)(mod * cos(phase));
        k->lam_im[n] = (float)(mod * sin(phase));
        k->gamma[n] = (float)sqrt(1.0 - mod * mod);
        for (int64_t h = 0; h < H; h++) {
            k->Bg_re[n * H + h] = k->gamma[n] * r->B_re[n * H + h];
            k->Bg_im[n * H + h] = k->gamma[n] * r->B_im[n * H + h];
        }
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t blk = 0; blk < 2 * blocks; blk++) {
        const int64_t i0 = (blk / 2) * ROWS, m = rows - i0 < ROWS ? rows - i0 : ROWS;
        const int im = (int)(blk % 2);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)N, (int)H, 1.0f, r->u + i0 * H, (int)H,
                    im ? k->Bg_im : k->Bg_re, (int)H, 0.0f, (im ? k->X_im : k->X_re) + i0 * N, (int)N);
    }
}

void mb_lru_output(const struct mb_lru *r, const struct mb_lru_work *k) {
    const int64_t N = r->N, H = r->H, rows = r->batch * r->L, blocks = (rows + ROWS - 1) / ROWS;
#pragma omp for schedule(dynamic, 1)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t i0 = blk * ROWS, m = rows - i0 < ROWS ? rows - i0 : ROWS;
        for (int64_t i = i0; i < i0 + m; i++)
#pragma omp simd
            for (int64_t h = 0; h < H; h++) r->y[i * H + h] = r->D[h] * r->u[i * H + h];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)H, (int)N, 1.0f, k->X_re + i0 * N, (int)N,
                    r->C_re, (int)N, 1.0f, r->y + i0 * H, (int)H);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)H, (int)N, -1.0f, k->X_im + i0 * N, (int)N,
                    r->C_im, (int)N, 1.0f, r->y + i0 * H, (int)H);
    }
}

void mb_lru_scan_range(const struct mb_lru *r, const struct mb_lru_work *k, int64_t b, int64_t n0, int64_t t0,
                       int64_t t1, float *x, int write) {
    const int64_t N = r->N, cnt = N - n0 < 16 ? N - n0 : 16;
    float *Xr = k->X_re + b * r->L * N + n0, *Xi = k->X_im + b * r->L * N + n0;
#if defined(__AVX512F__)
    const __mmask16 m = mb_mask16_first(cnt);
    const __m512 lr = _mm512_maskz_loadu_ps(m, k->lam_re + n0), li = _mm512_maskz_loadu_ps(m, k->lam_im + n0);
    __m512 xr = _mm512_loadu_ps(x), xi = _mm512_loadu_ps(x + 16);
    for (int64_t t = t0; t < t1; t++) {
        const __m512 br = _mm512_maskz_loadu_ps(m, Xr + t * N), bi = _mm512_maskz_loadu_ps(m, Xi + t * N);
        const __m512 nr = _mm512_fmadd_ps(lr, xr, _mm512_fnmadd_ps(li, xi, br));
        const __m512 ni = _mm512_fmadd_ps(lr, xi, _mm512_fmadd_ps(li, xr, bi));
        xr = nr;
        xi = ni;
        if (write) {
            _mm512_mask_storeu_ps(Xr + t * N, m, xr);
            _mm512_mask_storeu_ps(Xi + t * N, m, xi);
        }
    }
    _mm512_storeu_ps(x, xr);
    _mm512_storeu_ps(x + 16, xi);
#else
    for (int64_t t = t0; t < t1; t++)
        for (int64_t j = 0; j < cnt; j++) {
            const float lr = k->lam_re[n0 + j], li = k->lam_im[n0 + j];
            const float nr = lr * x[j] - li * x[16 + j] + Xr[t * N + j], ni = lr * x[16 + j] + li * x[j] + Xi[t * N + j];
            x[j] = nr;
            x[16 + j] = ni;
            if (write) {
                Xr[t * N + j] = nr;
                Xi[t * N + j] = ni;
            }
        }
#endif
}

