/* Workloads: completing a point with the family's defaults, allocating and filling a family's tensors. */
#include "core/mechbench.h"

#include <string.h>

void mb_point_complete(const struct mb_kernel *k, struct mb_point *p, uint64_t given) {
    const struct mb_family *f = k->family;
    for (int i = 0; i < f->n_axes; i++) {
        enum mb_axis a = f->axes[i].axis;
        if (!(k->axes & (UINT64_C(1) << a))) mb_point_set(p, a, 0);
        else if (mb_point_get(p, a) == 0 && !(given & (UINT64_C(1) << a))) mb_point_set(p, a, f->axes[i].def);
    }
    if (p->threads <= 0 && !(given & MB_AXIS_BIT(threads))) p->threads = 1;
    mb_params_ensure(k, p);
}

int mb_workload_alloc(struct mb_workload *w, char *err, size_t errlen) {
    struct mb_tensor *lists[2] = {w->inputs, w->outputs};
    int counts[2] = {w->n_inputs, w->n_outputs};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < counts[l]; i++) {
            struct mb_tensor *t = &lists[l][i];
            if (t->data) continue;
            t->data = mb_alloc((size_t)mb_tensor_numel(t) * sizeof(float));
            if (!t->data) {
                mb_workload_free(w);
                return mb_errorf(err, errlen, "cannot allocate tensor '%s' (%.3g bytes)", t->name,
                                 4.0 * (double)mb_tensor_numel(t));
            }
        }
    return 0;
}

int mb_workload_create(struct mb_workload *w, const struct mb_family *f, const struct mb_point *p, uint64_t seed,
                       char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    w->family = f;
    w->point = *p;
    w->seed = seed;
    if (f->layout(w, err, errlen) || mb_workload_alloc(w, err, errlen)) return -1;
    f->fill(w);
    return 0;
}

void mb_workload_free(struct mb_workload *w) {
    for (int i = 0; i < w->n_inputs; i++) mb_free(w->inputs[i].data), w->inputs[i].data = NULL;
    for (int i = 0; i < w->n_outputs; i++) mb_free(w->outputs[i].data), w->outputs[i].data = NULL;
}

double mb_workload_bytes(const struct mb_workload *w) {
    double total = 0;
    for (int i = 0; i < w->n_inputs; i++) total += 4.0 * (double)mb_tensor_numel(&w->inputs[i]);
    for (int i = 0; i < w->n_outputs; i++) total += 4.0 * (double)mb_tensor_numel(&w->outputs[i]);
    return total;
}
