/* Helpers shared by the ssm sub-families (ssm.hippo, ssm.s4, ssm.s4d, ssm.mamba, ssm.lru, ssm.retnet, ssm.rwkv). */
#ifndef MB_SSM_FAMILY_SSM_H
#define MB_SSM_FAMILY_SSM_H

#include "core/mechbench.h"

/* A table field of a family or kernel descriptor and its length, from a static array:
 * MB_SSM_TABLE(axes, hippo_axes) is `.axes = hippo_axes, .n_axes = 4`. */
#define MB_SSM_TABLE(field, array) .field = (array), .n_##field = (int)(sizeof(array) / sizeof((array)[0]))

#endif
