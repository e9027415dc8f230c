/* A 16 x 16 float transpose in AVX-512 registers, shared by kernels that turn rows into columns on the fly (the
 * Mamba scan's B/C tiles and its 16 dot products, chunked linear attention's phi(K)^T): three rounds of in-register
 * shuffles (unpack pairs, 64-bit shuffles, 2 x 128-bit lane shuffles). Only under __AVX512F__ (the kernels'
 * AVX-512 copies).
 */
#ifndef MB_CORE_VTRANSPOSE_H
#define MB_CORE_VTRANSPOSE_H

#if defined(__AVX512F__)
#include <immintrin.h>

/* In place: r[i] lane j <- r[j] lane i (16 x 16 floats). */
static inline void mb_transpose16_ps(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 4; i++) {
            t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0x88);
            t[8 * h + 4 + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0xDD);
        }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
    }
}
#endif

#endif
