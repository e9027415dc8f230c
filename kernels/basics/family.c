/* basics: helpers shared by the basics.perceptron and basics.conv_bn families (family.h). */
#include "basics/family.h"

#include <math.h>

void mb_basics_errors_worst(struct mb_errors *into, const struct mb_errors *e) {
    into->max_abs = fmax(into->max_abs, e->max_abs);
    into->rel_l2 = fmax(into->rel_l2, e->rel_l2);
    into->nmse = fmax(into->nmse, e->nmse);
    into->checked += e->checked;
}
