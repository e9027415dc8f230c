/* The AVX-512 mask of a vector's first lanes, shared by kernels that handle a partial last vector of 16 floats
 * (steps, channels, columns). Only under __AVX512F__ (the kernels' AVX-512 copies).
 */
#ifndef MB_CORE_VMASK_H
#define MB_CORE_VMASK_H

#if defined(__AVX512F__)
#include <immintrin.h>
#include <stdint.h>

/* lanes 0 .. min(count, 16) - 1 set; none when count <= 0 */
static inline __mmask16 mb_mask16_first(int64_t count) {
    return count >= 16 ? (__mmask16)0xffff : count > 0 ? (__mmask16)((1u << count) - 1) : (__mmask16)0;
}
#endif

#endif
