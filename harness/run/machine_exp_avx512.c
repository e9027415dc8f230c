/* The AVX-512 exp loop of `mechbench machine` (machine.c) in its own unit: the Makefile builds every harness
 * *_avx512.c with -march=x86-64-v4 while the rest of the harness is portable, and machine.c calls this only when
 * the CPU has AVX-512 (sleef.h declares the AVX-512 functions only under __AVX512F__). */
#include "run/machine.h"

#include <immintrin.h>
#include <sleef.h>

double mb_machine_exp_loop_avx512(const float *x, int n, int passes) {
    __m512 acc[8];
    for (int k = 0; k < 8; k++) acc[k] = _mm512_setzero_ps();
    for (int pass = 0; pass < passes; pass++)
        for (int i = 0; i + 128 <= n; i += 128)
            for (int k = 0; k < 8; k++) acc[k] = _mm512_add_ps(acc[k], Sleef_expf16_u10(_mm512_load_ps(x + i + 16 * k)));
    double s = 0;
    for (int k = 0; k < 8; k++) s += _mm512_reduce_add_ps(acc[k]);
    return s;
}
