/* The registry: kernels/kernels.def expanded into the family and kernel tables (one pair per ISA), plus lookups. */
#include "core/mechbench.h"
#include "core/isa.h"

#include <fnmatch.h>
#include <string.h>

/* One family table and one kernel table per ISA: the kernel tree is compiled once per ISA, and every copy but
 * the portable one has its symbols renamed with a suffix by the build (mb_kernel_x__avx512; see isa.h). The
 * renamed copies are weak references: a build without one of them (make ISAS="portable avx512", as the sanitized
 * build does) links, with that copy's tables full of NULL, and mb_registry_built_mask() leaves it out. */
#define MB_FAMILY(id)                                                                                                \
    extern const struct mb_family mb_family_##id;                                                                    \
    extern const struct mb_family mb_family_##id##__avx2 __attribute__((weak)),                                      \
        mb_family_##id##__avx512 __attribute__((weak));
#define MB_KERNEL(id)                                                                                                \
    extern const struct mb_kernel mb_kernel_##id;                                                                    \
    extern const struct mb_kernel mb_kernel_##id##__avx2 __attribute__((weak)),                                      \
        mb_kernel_##id##__avx512 __attribute__((weak));
#include "kernels.def"

static const struct mb_family *const families_portable[] = {
#define MB_FAMILY(id) &mb_family_##id,
#include "kernels.def"
};
static const struct mb_family *const families_avx2[] = {
#define MB_FAMILY(id) &mb_family_##id##__avx2,
#include "kernels.def"
};
static const struct mb_family *const families_avx512[] = {
#define MB_FAMILY(id) &mb_family_##id##__avx512,
#include "kernels.def"
};
static const struct mb_kernel *const kernels_portable[] = {
#define MB_KERNEL(id) &mb_kernel_##id,
#include "kernels.def"
};
static const struct mb_kernel *const kernels_avx2[] = {
#define MB_KERNEL(id) &mb_kernel_##id##__avx2,
#include "kernels.def"
};
static const struct mb_kernel *const kernels_avx512[] = {
#define MB_KERNEL(id) &mb_kernel_##id##__avx512,
#include "kernels.def"
};

static const struct mb_family *const *const family_tables[MB_ISA_COUNT] = {families_portable, families_avx2,
                                                                           families_avx512};
static const struct mb_kernel *const *const kernel_tables[MB_ISA_COUNT] = {kernels_portable, kernels_avx2,
                                                                           kernels_avx512};

/* Portable until isa.c's constructor picks the ISA (so the tables are usable even before it runs). */
const struct mb_family *const *mb_families = families_portable;
const int mb_n_families = (int)(sizeof families_portable / sizeof families_portable[0]);
const struct mb_kernel *const *mb_kernels = kernels_portable;
const int mb_n_kernels = (int)(sizeof kernels_portable / sizeof kernels_portable[0]);

unsigned mb_registry_built_mask(void) {
    unsigned mask = 0;
    for (int i = 0; i < MB_ISA_COUNT; i++)
        if (kernel_tables[i][0] && family_tables[i][0]) mask |= 1u << i;
    return mask;
}

void mb_registry_use_isa(enum mb_isa isa) {
    if ((int)isa < 0 || isa >= MB_ISA_COUNT) return;
    mb_families = family_tables[isa];
    mb_kernels = kernel_tables[isa];
}

/* Is name one of the comma-separated names in list? */
static int in_list(const char *list, const char *name) {
    size_t len = strlen(name);
    for (const char *s = list ? list : ""; *s;) {
        s += strspn(s, ", ");
        size_t n = strcspn(s, ", ");
        if (n == len && strncmp(s, name, len) == 0) return 1;
        s += n;
    }
    return 0;
}

const struct mb_kernel *mb_kernel_find(const char *name) {
    for (int i = 0; i < mb_n_kernels; i++)
        if (strcmp(mb_kernels[i]->name, name) == 0 || in_list(mb_kernels[i]->aliases, name)) return mb_kernels[i];
    return NULL;
}

const struct mb_family *mb_family_find(const char *name) {
    for (int i = 0; i < mb_n_families; i++)
        if (strcmp(mb_families[i]->name, name) == 0) return mb_families[i];
    return NULL;
}

/* A pattern is a glob; a bare family name ("attention") or prefix ending in '.' matches all below it. */
static int pattern_matches(const char *pattern, const char *name) {
    if (fnmatch(pattern, name, 0) == 0) return 1;
    size_t len = strlen(pattern);
    return len && strncmp(pattern, name, len) == 0 && (name[len] == '.' || pattern[len - 1] == '.');
}

int mb_name_matches(const char *patterns, const char *name) {
    const char *s = patterns;
    while (*s) {
        while (*s == ',' || *s == ' ' || *s == '\t') s++;
        size_t len = strcspn(s, ", \t");
        if (!len) break;
        char pat[MB_NAME_LEN * 2];
        if (len >= sizeof pat) len = sizeof pat - 1;
        memcpy(pat, s, len);
        pat[len] = '\0';
        s += len;
        if (pattern_matches(pat, name)) return 1;
    }
    return 0;
}

/* Does a pattern match the kernel's name or one of its aliases? */
static int kernel_matches(const char *patterns, const struct mb_kernel *k) {
    if (mb_name_matches(patterns, k->name)) return 1;
    for (const char *s = k->aliases ? k->aliases : ""; *s;) {
        s += strspn(s, ", ");
        size_t n = strcspn(s, ", ");
        char alias[MB_NAME_LEN];
        if (n && n < sizeof alias) {
            memcpy(alias, s, n);
            alias[n] = '\0';
            if (mb_name_matches(patterns, alias)) return 1;
        }
        s += n;
    }
    return 0;
}

int mb_kernel_match(const char *patterns, const struct mb_kernel **out, int max) {
    int count = 0;
    for (int i = 0; i < mb_n_kernels; i++)
        if (kernel_matches(patterns, mb_kernels[i])) {
            if (count < max) out[count] = mb_kernels[i];
            count++;
        }
    return count;
}

const struct mb_probe *mb_probe_find(const char *name) {
    for (int f = 0; f < mb_n_families; f++)
        for (int i = 0; i < mb_families[f]->n_probes; i++)
            if (strcmp(mb_families[f]->probes[i].name, name) == 0) return &mb_families[f]->probes[i];
    return NULL;
}

const struct mb_tool *mb_tool_find(const char *name) {
    for (int f = 0; f < mb_n_families; f++)
        for (int i = 0; i < mb_families[f]->n_tools; i++)
            if (strcmp(mb_families[f]->tools[i].name, name) == 0) return &mb_families[f]->tools[i];
    return NULL;
}
