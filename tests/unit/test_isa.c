/* Run-time ISA dispatch (harness/core/isa.h): MB_ISA resolution and its messages, and the per-ISA tables that the
 * build's renamed kernel copies fill (same kernels in the same order, each copy pointing at its own family). */
#include <criterion/criterion.h>
#include <string.h>

#include "core/isa.h"
#include "core/mechbench.h"

#define ALL ((1u << MB_ISA_PORTABLE) | (1u << MB_ISA_AVX2) | (1u << MB_ISA_AVX512))
#define NO_AVX512 ((1u << MB_ISA_PORTABLE) | (1u << MB_ISA_AVX2))

Test(isa, resolve_picks_the_best_supported_and_honours_the_cap) {
    enum mb_isa isa;
    char err[160] = "";
    cr_assert_eq(mb_isa_resolve(NULL, ALL, &isa, err, sizeof err), 0);
    cr_assert_eq(isa, MB_ISA_AVX512);
    cr_assert_eq(mb_isa_resolve("", NO_AVX512, &isa, err, sizeof err), 0);
    cr_assert_eq(isa, MB_ISA_AVX2);
    cr_assert_eq(mb_isa_resolve(NULL, 0, &isa, err, sizeof err), 0); /* portable is always there */
    cr_assert_eq(isa, MB_ISA_PORTABLE);
    cr_assert_eq(mb_isa_resolve("portable", ALL, &isa, err, sizeof err), 0);
    cr_assert_eq(isa, MB_ISA_PORTABLE);
    cr_assert_eq(mb_isa_resolve("avx2", ALL, &isa, err, sizeof err), 0);
    cr_assert_eq(isa, MB_ISA_AVX2);
}

Test(isa, unsupported_and_unknown_requests_name_what_is_allowed) {
    enum mb_isa isa;
    char err[160] = "";
    cr_assert_eq(mb_isa_resolve("avx512", NO_AVX512, &isa, err, sizeof err), -1);
    cr_assert_str_eq(err, "MB_ISA=avx512 is not supported by this CPU (allowed here: portable, avx2)");
    cr_assert_eq(isa, MB_ISA_AVX2); /* still a usable choice: the best supported */
    cr_assert_eq(mb_isa_resolve("foo", ALL, &isa, err, sizeof err), -1);
    cr_assert_str_eq(err, "MB_ISA=foo is unknown (allowed: portable, avx2, avx512)");
    cr_assert_eq(mb_isa_resolve("AVX512", ALL, &isa, err, sizeof err), -1); /* names are exact */
}

Test(isa, the_start_up_choice_is_recorded) {
    cr_assert_null(mb_isa_error()); /* the test runner sets no bad MB_ISA */
    const char *want = getenv("MB_ISA");
    char supported[64];
    mb_isa_supported_list(",", supported, sizeof supported);
    cr_assert_eq(strncmp(supported, "portable", 8), 0);
    if (want && want[0]) cr_assert_str_eq(mb_isa_name(), want);
    else cr_assert_str_eq(mb_isa_name(), strrchr(supported, ',') ? strrchr(supported, ',') + 1 : supported);
    cr_assert_str_eq(mb_isa_name(), mb_isa_names[mb_isa_current()]);
}

Test(isa, every_supported_copy_has_the_same_kernels_and_its_own_families) {
    const struct mb_kernel *portable[256];
    const struct mb_family *portable_families[64];
    cr_assert_lt(mb_n_kernels, 256);
    cr_assert_lt(mb_n_families, 64);
    char err[160];
    cr_assert_eq(mb_isa_select("portable", err, sizeof err), 0, "%s", err);
    for (int i = 0; i < mb_n_kernels; i++) portable[i] = mb_kernels[i];
    for (int i = 0; i < mb_n_families; i++) portable_families[i] = mb_families[i];
    const unsigned mask = mb_isa_cpu_mask(), built = mb_registry_built_mask();
    /* every build holds the portable and the AVX-512 copies; only the sanitized build (ISAS="portable avx512")
       leaves avx2 out */
    cr_assert_eq(built & (1u << MB_ISA_PORTABLE | 1u << MB_ISA_AVX512), 1u << MB_ISA_PORTABLE | 1u << MB_ISA_AVX512);
    for (int isa = 0; isa < MB_ISA_COUNT; isa++) {
        if (!(mask & (1u << isa))) {
            cr_assert_eq(mb_isa_select(mb_isa_names[isa], err, sizeof err), -1);
            cr_assert(strstr(err, "not supported by this CPU"), "%s", err);
            continue;
        }
        if (!(built & (1u << isa))) {
            cr_assert_eq(mb_isa_select(mb_isa_names[isa], err, sizeof err), -1);
            cr_assert(strstr(err, "this build has no"), "%s", err);
            continue;
        }
        cr_assert_eq(mb_isa_select(mb_isa_names[isa], err, sizeof err), 0, "%s", err);
        cr_assert_str_eq(mb_isa_name(), mb_isa_names[isa]);
        for (int i = 0; i < mb_n_kernels; i++) {
            const struct mb_kernel *k = mb_kernels[i];
            cr_assert_str_eq(k->name, portable[i]->name);
            cr_assert_str_eq(k->source_hash, portable[i]->source_hash); /* the hash is of the source */
            cr_assert_eq(mb_kernel_find(k->name), k);
            cr_assert_eq(k == portable[i], isa == MB_ISA_PORTABLE, "%s: %s shares the portable descriptor", k->name,
                         mb_isa_names[isa]);
            int own = 0; /* the renamed copy's references stay inside the copy */
            for (int f = 0; f < mb_n_families; f++) own |= mb_families[f] == k->family;
            cr_assert(own, "%s (%s): its family is not in the %s table", k->name, mb_isa_names[isa], mb_isa_names[isa]);
        }
        for (int f = 0; f < mb_n_families; f++) {
            cr_assert_str_eq(mb_families[f]->name, portable_families[f]->name);
            cr_assert_eq(mb_families[f] == portable_families[f], isa == MB_ISA_PORTABLE);
        }
    }
    cr_assert_eq(mb_isa_select("sse9", err, sizeof err), -1);
}
