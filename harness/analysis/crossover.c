/* Crossover of two timing curves (see crossover.h). */
#include "analysis/crossover.h"

#include <math.h>
#include <string.h>

static int sign(double v) { return (v > 0) - (v < 0); }

int mb_crossover_find(const double *x, const double *ta, const double *tb, int n, struct mb_crossover *out) {
    memset(out, 0, sizeof *out);
    if (n < 1) return -1;
    for (int i = 0; i < n; i++) {
        if (!(ta[i] > 0 && tb[i] > 0 && isfinite(ta[i]) && isfinite(tb[i]) && isfinite(x[i]))) return -1;
        if (i > 0 && !(x[i] > x[i - 1])) return -1;
    }
    /* f > 0: A is slower, B faster */
    int first = -1;
    for (int i = 0; i < n && first < 0; i++)
        if (sign(log(ta[i] / tb[i])) != 0) first = i;
    if (first < 0) return 0; /* equal everywhere */
    int s0 = sign(log(ta[first] / tb[first])), current = s0, last_from = -1, last_to = -1;
    for (int j = first + 1; j < n; j++) {
        int sj = sign(log(ta[j] / tb[j]));
        if (sj == 0 || sj == current) continue;
        out->crossings++;
        current = sj;
        last_to = j;
        last_from = j - 1;
    }
    if (last_to < 0) {
        out->faster = s0;
        return 0;
    }
    double fi = log(ta[last_from] / tb[last_from]), fj = log(ta[last_to] / tb[last_to]);
    const double xi = x[last_from], xj = x[last_to];
    out->found = 1;
    out->b_faster_above = current > 0;
    if (fi == 0) { /* touched zero at x[i] */
        out->x = xi;
    } else {
        double t = fi / (fi - fj);
        out->x = xi > 0 ? exp(log(xi) + t * (log(xj) - log(xi))) : xi + t * (xj - xi);
    }
    return 0;
}
