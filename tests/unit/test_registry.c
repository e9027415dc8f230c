/* Registry invariants: unique names, every kernel has an oracle, non-zero models, consistent metadata. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "core/mechbench.h"
#include "run/runner.h"

Test(registry, kernel_names_are_unique_and_prefixed_by_family) {
    cr_assert_gt(mb_n_kernels, 0);
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        size_t flen = strlen(k->family->name);
        cr_assert(strncmp(k->name, k->family->name, flen) == 0 && k->name[flen] == '.', "%s not under %s", k->name,
                  k->family->name);
        cr_assert_lt(strlen(k->name), MB_NAME_LEN);
        for (int j = i + 1; j < mb_n_kernels; j++) cr_assert_str_neq(k->name, mb_kernels[j]->name);
        cr_assert_eq(mb_kernel_find(k->name), k);
    }
}

Test(registry, every_family_of_a_kernel_is_registered) {
    for (int i = 0; i < mb_n_kernels; i++) {
        int found = 0;
        for (int f = 0; f < mb_n_families; f++) found |= mb_families[f] == mb_kernels[i]->family;
        cr_assert(found, "%s: family %s not in kernels.def", mb_kernels[i]->name, mb_kernels[i]->family->name);
        cr_assert_eq(mb_family_find(mb_kernels[i]->family->name), mb_kernels[i]->family);
    }
}

Test(registry, every_kernel_has_an_oracle_and_a_tolerance) {
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        const struct mb_mechanism *m = mb_family_mechanism(k->family, k->mechanism);
        cr_assert_not_null(m, "%s: no oracle for mechanism %s", k->name, k->mechanism);
        cr_assert(m->tolerance > 0 || k->tolerance > 0, "%s: no tolerance", k->name);
        if (k->approximates)
            cr_assert_not_null(mb_family_mechanism(k->family, k->approximates), "%s: no oracle for %s", k->name,
                               k->approximates);
        cr_assert_not_null(k->family->check);
    }
}

Test(registry, contract_functions_and_metadata_present) {
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        cr_assert(k->setup && k->run && k->teardown && k->flops && k->bytes && k->workspace_bytes, "%s", k->name);
        cr_assert(k->summary && k->summary[0] && k->complexity && k->complexity[0], "%s", k->name);
        cr_assert_eq(!!k->items, !!k->items_unit, "%s: an items model needs its unit, and a unit its model", k->name);
        if (k->items_unit)
            cr_assert(k->items_unit[0] && strlen(k->items_unit) < MB_UNIT_LEN, "%s: items unit '%s'", k->name,
                      k->items_unit);
        cr_assert(k->axes & (MB_AXIS_BIT(n) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width)),
                  "%s reads no size axis (n; height or width for images)", k->name);
        cr_assert_eq(!!(k->axes & MB_AXIS_BIT(rank)), k->rank_meaning != NULL, "%s: rank axis vs rank_meaning",
                     k->name);
        cr_assert_eq(strlen(k->source_hash), 16, "%s: source hash '%s' not set by the build", k->name,
                     k->source_hash);
        for (int c = 0; c < 16; c++) cr_assert(isxdigit((unsigned char)k->source_hash[c]));
    }
}

Test(registry, models_are_positive_at_the_default_point) {
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        struct mb_point p;
        memset(&p, 0, sizeof p);
        mb_point_complete(k, &p, 0);
        char err[256];
        cr_assert_eq(mb_family_validate(k->family, &p, err, sizeof err), 0, "%s: %s", k->name, err);
        cr_assert_geq(mb_kernel_flops(k, &p), 0, "%s", k->name); /* 0: a pure copy (pixel shuffle, nearest) */
        cr_assert_gt(mb_kernel_bytes(k, &p), 0, "%s", k->name);
        cr_assert_geq(mb_kernel_workspace(k, &p), 0, "%s", k->name);
        if (k->items) cr_assert_gt(mb_kernel_items(k, &p), 0, "%s: items model", k->name);
    }
}

Test(registry, kernel_patterns) {
    const struct mb_kernel *out[64];
    cr_assert_eq(mb_kernel_match("attention.softmax.naive", out, 64), 1);
    cr_assert_eq(out[0], mb_kernel_find("attention.softmax.naive"));
    int all = mb_kernel_match("attention", out, 64);
    cr_assert_eq(all, mb_kernel_match("attention.*", out, 64));
    cr_assert_geq(all, 2);
    cr_assert_eq(mb_kernel_match("attention.softmax.naive, attention.linear.elu", out, 64), 2);
    cr_assert_eq(mb_kernel_match("nothing.like.this", out, 64), 0);
    cr_assert_eq(mb_kernel_match("attention.soft", out, 64), 0, "a bare prefix must end at a dot");
}

Test(registry, family_validation_names_the_axis) {
    const struct mb_kernel *k = mb_kernel_find("attention.softmax.naive");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    mb_point_complete(k, &p, 0);
    char err[256];
    p.d = 0;
    cr_assert_eq(mb_family_validate(k->family, &p, err, sizeof err), -1);
    cr_assert(strstr(err, "d = 0") && strstr(err, "allowed"), "%s", err);
    p.d = 64;
    p.channels = 3;
    cr_assert_eq(mb_family_validate(k->family, &p, err, sizeof err), -1);
    cr_assert(strstr(err, "channels"), "%s", err);
}
