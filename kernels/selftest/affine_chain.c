/* selftest.affine_chain: y_i = f^work(x_i), f(v) = 0.999 v + 0.001, in float, `work` dependent steps per element.
 * Each element's chain is serial (latency-bound), so the time of a run is proportional to n * work and does not
 * depend on the memory system: a deterministic way to make a point slower (`--param work=`), which the tests of
 * `mechbench compare` use. OpenMP over elements. Not a mechanism of the articles. */
#include "selftest/family.h"

#include <stdlib.h>

struct state {
    const float *x;
    float *y;
    int64_t n, work;
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct state *s = malloc(sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    *s = (struct state){w->inputs[0].data, w->outputs[0].data, w->point.n, mb_param_int(&w->point, "work")};
    *state = s;
    return 0;
}

static void run(void *state) {
    const struct state *s = state;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < s->n; i++) {
        float v = s->x[i];
        for (int64_t t = 0; t < s->work; t++) v = (float)MB_SELFTEST_A * v + (float)MB_SELFTEST_B;
        s->y[i] = v;
    }
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p MB_UNUSED) { return 0; }

const struct mb_kernel mb_kernel_selftest_affine_chain = {
    .name = "selftest.affine_chain",
    .family = &mb_family_selftest,
    .mechanism = "affine_chain",
    .summary = "harness self-test: `work` dependent affine steps per element (time proportional to n * work)",
    .complexity = "O(n work) time, O(1) memory",
    .axes = MB_AXIS_BIT(n),
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = free,
    .flops = mb_selftest_flops,
    .bytes = mb_selftest_bytes,
    .workspace_bytes = workspace,
};
