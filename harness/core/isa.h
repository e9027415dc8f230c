/* Run-time ISA dispatch (ggml's GGML_CPU_ALL_VARIANTS scheme).
 *
 * The build compiles the whole kernel tree once per ISA (Makefile ISAS): portable (-march=x86-64-v2), avx2
 * (-march=x86-64-v3) and avx512 (-march=x86-64-v4); every copy but portable has its global symbols renamed with a
 * suffix (mb_kernel_x__avx512). registry.c holds one family table and one kernel table per ISA; at start-up a
 * constructor points mb_kernels / mb_families at the table of the best ISA the CPU supports, capped by the
 * environment variable MB_ISA=portable|avx2|avx512 (and by the copies this binary holds: the sanitized build has
 * no avx2 copy). A bad MB_ISA never crashes: the error is recorded
 * (mb_isa_error) and the best supported ISA is used; the CLI refuses to run with it (exit 2).
 */
#ifndef MB_ISA_H
#define MB_ISA_H

#include <stddef.h>

enum mb_isa { MB_ISA_PORTABLE, MB_ISA_AVX2, MB_ISA_AVX512, MB_ISA_COUNT };

extern const char *const mb_isa_names[MB_ISA_COUNT]; /* "portable", "avx2", "avx512" */

/* Bit i set when this CPU (and OS) can run ISA i; portable is always set. */
unsigned mb_isa_cpu_mask(void);
/* The ISA a request resolves to on a CPU with the given mask: request NULL or "" = the best supported. Returns 0,
 * or -1 with a one-line message (unknown name, or not supported) and *isa = the best supported ISA. */
int mb_isa_resolve(const char *request, unsigned supported, enum mb_isa *isa, char *err, size_t errlen);
/* Bit i set when this binary holds ISA i's kernel copy (registry.c; portable always; make ISAS= may leave one out). */
unsigned mb_registry_built_mask(void);
/* Point the registry at ISA isa's tables (registry.c); the constructor calls it, tests may too. */
void mb_registry_use_isa(enum mb_isa isa);
/* Switch to a named ISA (as MB_ISA would); 0 or -1 with a message (nothing changes then). */
int mb_isa_select(const char *name, char *err, size_t errlen);
enum mb_isa mb_isa_current(void);
/* The start-up error of MB_ISA, or NULL. */
const char *mb_isa_error(void);
/* "portable,avx2,avx512": the ISAs this CPU supports, comma-separated (sep ","), into buf. */
void mb_isa_supported_list(const char *sep, char *buf, size_t len);

/* 1 when the CPU runs AVX-512 on 256-bit FMA units (AMD Zen 4, family 0x19: a zmm FMA issues as two halves, 32 FP32
   FLOPs per cycle per unit pair instead of 64); 0 otherwise, and without AVX-512. For blockings tuned to the width. */
int mb_cpu_avx512_on_256bit_units(void);

#endif
