/* Helpers shared by the ssm sub-families (ssm.hippo, ssm.s4, ssm.s4d, ssm.mamba, ssm.lru, ssm.retnet, ssm.rwkv). */
#ifndef MB_SSM_FAMILY_SSM_H
#define MB_SSM_FAMILY_SSM_H

#include <stdio.h>

#include "core/mechbench.h"

/* A table field of a family or kernel descriptor and its length, from a static array:
 * MB_SSM_TABLE(axes, hippo_axes) is `.axes = hippo_axes, .n_axes = 4`. */
#define MB_SSM_TABLE(field, array) .field = (array), .n_##field = (int)(sizeof(array) / sizeof((array)[0]))

/* A kernel descriptor's functions, in the order of struct mb_kernel: setup, run, teardown and the FLOP, byte and
 * workspace models. */
#define MB_SSM_OPS(setup_, run_, teardown_, flops_, bytes_, workspace_)                                                \
    .setup = (setup_), .run = (run_), .teardown = (teardown_), .flops = (flops_), .bytes = (bytes_),                  \
    .workspace_bytes = (workspace_)

/* For `mechbench eval`: every input of w has the shape of the same input of `want`, the layout that the shapes of
 * the leading inputs imply (`from` names them). Returns 0, or -1 naming the first input that differs, its shape and
 * the expected one. */
static inline int mb_ssm_inputs_match(const struct mb_workload *w, const struct mb_workload *want, const char *from,
                                      char *err, size_t errlen) {
    for (int t = 0; t < w->n_inputs; t++) {
        const struct mb_tensor *x = &w->inputs[t], *e = &want->inputs[t];
        int same = x->ndim == e->ndim;
        for (int i = 0; same && i < e->ndim; i++) same = x->shape[i] == e->shape[i];
        if (same) continue;
        char shape[2][96];
        for (int k = 0; k < 2; k++) {
            const struct mb_tensor *s = k ? e : x;
            size_t used = (size_t)snprintf(shape[k], sizeof shape[k], "(");
            for (int i = 0; i < s->ndim && used < sizeof shape[k]; i++)
                used += (size_t)snprintf(shape[k] + used, sizeof shape[k] - used, "%s%lld", i ? ", " : "",
                                         (long long)s->shape[i]);
            if (used < sizeof shape[k]) snprintf(shape[k] + used, sizeof shape[k] - used, ")");
        }
        return mb_errorf(err, errlen, "'%s' has shape %s; expected (%s) = %s from %s", x->name, shape[0], e->dims,
                         shape[1], from);
    }
    return 0;
}

#endif
