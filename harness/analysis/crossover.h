/* Where does kernel B become faster than kernel A? Pure function on two timing curves over common x.
 *
 * f(x) = log(tA(x) / tB(x)); the crossover is the LAST sign change of f along increasing x (the x above which
 * the order of the two kernels holds to the end of the range; timing noise at small x can cross several times,
 * counted in `crossings`), placed by linear interpolation on log-log axes between the two bracketing points
 * (on linear x when an x is <= 0). Power-law
 * timings (tA = a x^p, tB = b x^q) have a straight f in log x, so their crossover is found exactly.
 */
#ifndef MB_CROSSOVER_H
#define MB_CROSSOVER_H

#include <stddef.h>
#include <stdint.h>

struct mb_crossover {
    int found;          /* 1: f changes sign; x is the crossover */
    double x;
    int b_faster_above; /* found: 1 = B is faster above x (A faster below), 0 = the reverse */
    int faster;         /* not found: 1 = B faster everywhere, -1 = A faster everywhere, 0 = equal everywhere */
    int crossings;      /* sign changes of f over the range (> 1: the curves cross repeatedly, e.g. noise) */
    double x_below, x_above; /* found: the two measured x that bracket the crossover (x_below <= x <= x_above) */
};

/* x: n strictly increasing values; ta, tb: positive times at x. Returns 0, or -1 for unusable input
   (n < 1, x not increasing, a time that is not positive and finite). */
int mb_crossover_find(const double *x, const double *ta, const double *tb, int n, struct mb_crossover *out);

/* The crossovers of two kernels in a results file (`mechbench plot --crossover A,B`): the rows of each kernel
 * are grouped into series along x by the other axes that kernel varies (store/rows.h); every pair of a series
 * of A and a series of B that agree on the axes both vary is one crossover, over the x values both have. */
struct mb_row;
struct mb_crossover_pair {
    char key[400];          /* the point of the pair, "threads=1 d=64" ("" when nothing else varies) */
    int common;             /* x values both series have (0: no crossover computed) */
    double x_first, x_last; /* the common range */
    int status;             /* mb_crossover_find's: 0, or -1 (a time that is not positive) */
    struct mb_crossover c;
};
/* rows: measured rows; a, b: kernel names. *pairs is malloc'd (free it), *n_pairs may be 0. Returns 0 or -1
   with a message. */
int mb_crossover_pairs(const struct mb_row *const *rows, int64_t n, int x_axis, const char *a, const char *b,
                       struct mb_crossover_pair **pairs, int *n_pairs, char *err, size_t errlen);

#endif
