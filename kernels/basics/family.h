/* basics: the two families of the seed article on the role of the bias (深度学习偏置的作用), and what they share.
 *   basics.perceptron (family_perceptron.h)  the perceptron rule with and without a bias
 *   basics.conv_bn    (family_conv_bn.h)     a convolution with and without a bias before BatchNorm or LayerNorm
 * Probes for the claims: probes.c. */
#ifndef MB_BASICS_FAMILY_H
#define MB_BASICS_FAMILY_H

#include "core/mechbench.h"

/* into = the worse of into and e (both finished), metric by metric; checked counts add up. A family whose outputs
   are several tensors of different scales (weights and counts; an output and its running statistics) reports the
   worst tensor rather than one norm over all of them, where the largest tensor would hide the others. */
void mb_basics_errors_worst(struct mb_errors *into, const struct mb_errors *e);

#endif
