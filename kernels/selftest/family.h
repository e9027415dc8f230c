/* selftest family (family.c): a known amount of work, for testing the harness. */
#ifndef MB_SELFTEST_FAMILY_H
#define MB_SELFTEST_FAMILY_H

#include "core/mechbench.h"

#define MB_SELFTEST_A 0.999
#define MB_SELFTEST_B 0.001

extern const struct mb_family mb_family_selftest;
double mb_selftest_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_selftest_bytes(const struct mb_kernel *k, const struct mb_point *p);

#endif
