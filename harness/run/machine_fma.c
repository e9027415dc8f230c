/* The FP32 FMA peak loop of `mechbench machine` (machine.c): the compute roof of the roofline and of every "% of
 * peak" (sgemm is itself a kernel and stays below it).
 *
 *   acc_k <- acc_k * a + b   for k = 0..FMA_CHAINS-1, `iters` times; FLOP = 2 x lanes x FMA_CHAINS x iters
 *
 * FMA_CHAINS independent accumulators (more than FMA latency x FMA ports, 4 x 2 on current x86 cores) keep every
 * FMA port busy; nothing touches memory. Three copies, chosen at run time by the CPU's ISA (core/isa.h), each
 * compiled for its ISA with a function target attribute: AVX-512 (16 lanes), AVX2 + FMA (8 lanes), scalar fmaf
 * (1 lane, the portable fallback; the compiler may not vectorise it under -ffp-contract rules, which is the point).
 * The result is the sum of the accumulators, checked by the caller against the closed form of the recurrence.
 */
#include "run/machine.h"

#include "core/isa.h"

#include <immintrin.h>
#include <math.h>

#define FMA_CHAINS 12

__attribute__((target("avx512f"))) static double fma_loop_avx512(float a, float b, long iters) {
    __m512 acc[FMA_CHAINS];
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    for (int k = 0; k < FMA_CHAINS; k++) acc[k] = _mm512_set1_ps(1.0f);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < FMA_CHAINS; k++) acc[k] = _mm512_fmadd_ps(acc[k], va, vb);
    double s = 0;
    for (int k = 0; k < FMA_CHAINS; k++) s += _mm512_reduce_add_ps(acc[k]);
    return s / 16;
}

__attribute__((target("avx2,fma"))) static double fma_loop_avx2(float a, float b, long iters) {
    __m256 acc[FMA_CHAINS];
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    for (int k = 0; k < FMA_CHAINS; k++) acc[k] = _mm256_set1_ps(1.0f);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < FMA_CHAINS; k++) acc[k] = _mm256_fmadd_ps(acc[k], va, vb);
    double s = 0;
    float lanes[8];
    for (int k = 0; k < FMA_CHAINS; k++) {
        _mm256_storeu_ps(lanes, acc[k]);
        for (int l = 0; l < 8; l++) s += lanes[l];
    }
    return s / 8;
}

static double fma_loop_scalar(float a, float b, long iters) {
    float acc[FMA_CHAINS];
    for (int k = 0; k < FMA_CHAINS; k++) acc[k] = 1.0f;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < FMA_CHAINS; k++) acc[k] = fmaf(acc[k], a, b);
    double s = 0;
    for (int k = 0; k < FMA_CHAINS; k++) s += acc[k];
    return s;
}

int mb_machine_fma_lanes(void) {
    const unsigned cpu = mb_isa_cpu_mask();
    return cpu & (1u << MB_ISA_AVX512) ? 16 : cpu & (1u << MB_ISA_AVX2) ? 8 : 1;
}

const char *mb_machine_fma_isa(void) {
    const int lanes = mb_machine_fma_lanes();
    return lanes == 16 ? "avx512" : lanes == 8 ? "avx2" : "scalar";
}

double mb_machine_fma_loop(float a, float b, long iters, double *flops) {
    const int lanes = mb_machine_fma_lanes();
    *flops = 2.0 * lanes * FMA_CHAINS * (double)iters;
    const double per_lane = lanes == 16 ? fma_loop_avx512(a, b, iters)
                            : lanes == 8 ? fma_loop_avx2(a, b, iters) : fma_loop_scalar(a, b, iters);
    return per_lane / FMA_CHAINS; /* one chain's value (all chains and lanes hold the same number) */
}
