/* Run-time ISA choice (see isa.h). */
#include "core/isa.h"

#include "core/mechbench.h"

#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mb_isa_names[MB_ISA_COUNT] = {"portable", "avx2", "avx512"};

static enum mb_isa current = MB_ISA_PORTABLE; /* registry.c's tables start at portable too */
static char start_error[160];

/* An ISA runs when the CPU has the -march level its copy is built for (x86-64-v3 = AVX2, FMA, BMI1/2, F16C, ...;
 * x86-64-v4 = AVX-512 F, BW, DQ, VL, CD); the features the copies rely on are also named one by one. libgcc's
 * checks include the OS's support of the AVX and AVX-512 register state (XGETBV). */
unsigned mb_isa_cpu_mask(void) {
    __builtin_cpu_init();
    unsigned mask = 1u << MB_ISA_PORTABLE;
    if (__builtin_cpu_supports("x86-64-v3") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        mask |= 1u << MB_ISA_AVX2;
    if ((mask & (1u << MB_ISA_AVX2)) && __builtin_cpu_supports("x86-64-v4") && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        mask |= 1u << MB_ISA_AVX512;
    return mask;
}

static int avx512_on_256bit_units(void) {
    unsigned a, b, c, d;
    if (!(mb_isa_cpu_mask() & (1u << MB_ISA_AVX512)) || !__get_cpuid(0, &a, &b, &c, &d)) return 0;
    const int amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163; /* "Auth" "enti" "cAMD" */
    if (!amd || !__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned family = ((a >> 8) & 0xf) == 0xf ? 0xf + ((a >> 20) & 0xff) : (a >> 8) & 0xf;
    return family == 0x19; /* Zen 4: AVX-512 in two 256-bit halves; Zen 5 (0x1a) has 512-bit units */
}

/* CPUID once per process (in a VM each CPUID is a VM exit of ~1 us; the chunk-size models ask several times per
   point); racing first calls compute the same answer */
int mb_cpu_avx512_on_256bit_units(void) {
    static int known = -1;
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (v < 0) __atomic_store_n(&known, v = avx512_on_256bit_units(), __ATOMIC_RELAXED);
    return v;
}

static void list_isas(unsigned mask, const char *sep, char *buf, size_t len) {
    size_t used = 0;
    if (len) buf[0] = '\0';
    for (int i = 0; i < MB_ISA_COUNT; i++)
        if (mask & (1u << i)) {
            int w = snprintf(buf + used, len > used ? len - used : 0, "%s%s", used ? sep : "", mb_isa_names[i]);
            if (w > 0) used += (size_t)w;
            if (used >= len) break;
        }
}

void mb_isa_supported_list(const char *sep, char *buf, size_t len) { list_isas(mb_isa_cpu_mask(), sep, buf, len); }

int mb_isa_resolve(const char *request, unsigned supported, enum mb_isa *isa, char *err, size_t errlen) {
    supported |= 1u << MB_ISA_PORTABLE;
    enum mb_isa best = MB_ISA_PORTABLE;
    for (int i = 0; i < MB_ISA_COUNT; i++)
        if (supported & (1u << i)) best = (enum mb_isa)i;
    *isa = best;
    if (!request || !request[0]) return 0;
    for (int i = 0; i < MB_ISA_COUNT; i++)
        if (!strcmp(request, mb_isa_names[i])) {
            if (!(supported & (1u << i))) {
                char allowed[64];
                list_isas(supported, ", ", allowed, sizeof allowed);
                return mb_errorf(err, errlen, "MB_ISA=%s is not supported by this CPU (allowed here: %s)", request,
                                 allowed);
            }
            *isa = (enum mb_isa)i;
            return 0;
        }
    char allowed[64];
    list_isas(~0u, ", ", allowed, sizeof allowed);
    return mb_errorf(err, errlen, "MB_ISA=%.40s is unknown (allowed: %s)", request, allowed);
}

/* mb_isa_resolve over the ISAs this CPU runs AND this binary holds; a copy the CPU could run but the build left out
   is named as such. */
static int resolve_here(const char *request, enum mb_isa *isa, char *err, size_t errlen) {
    const unsigned cpu = mb_isa_cpu_mask(), here = cpu & mb_registry_built_mask();
    if (mb_isa_resolve(request, here, isa, err, errlen) == 0) return 0;
    if (mb_isa_resolve(request, cpu, &(enum mb_isa){0}, NULL, 0) == 0) { /* the CPU has it, the build does not */
        char allowed[64];
        list_isas(here, ", ", allowed, sizeof allowed);
        mb_errorf(err, errlen, "MB_ISA=%s: this build has no %s kernel copy (allowed here: %s)", request, request,
                  allowed);
    }
    return -1;
}

int mb_isa_select(const char *name, char *err, size_t errlen) {
    enum mb_isa isa;
    if (resolve_here(name, &isa, err, errlen)) return -1;
    current = isa;
    mb_registry_use_isa(isa);
    return 0;
}

enum mb_isa mb_isa_current(void) { return current; }
const char *mb_isa_name(void) { return mb_isa_names[current]; }
const char *mb_isa_error(void) { return start_error[0] ? start_error : NULL; }

__attribute__((constructor)) static void choose_isa_at_start(void) {
    enum mb_isa isa;
    resolve_here(getenv("MB_ISA"), &isa, start_error, sizeof start_error);
    current = isa;
    mb_registry_use_isa(isa);
}
