/* peft.lora family: the LoRA merge on its own, W = W0 + (alpha / r) B A (Hu et al. 2021, sec. 4.1), a weight-space
 * workload: weight W0 (d_out, d_in), lora_A (r, d_in), lora_B (d_out, r) [, scaling (1,)] -> merged_weight
 * (d_out, d_in). The rows of W are the n axis (n = d_out; 0 = d, a square layer), as tokens are the rows of the
 * token families' outputs; weight, lora_A and lora_B are filled from the same streams as in the peft family, so the
 * same seed gives the same matrices. Oracle: rows of W in double. */
#include "peft/family.h"

#include "core/check.h"

#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule merge_axes[] = {
    {MB_AXIS_n, 0, 0, 1 << 16}, {MB_AXIS_d, 1024, 1, 1 << 16}, {MB_AXIS_rank, 8, 1, 1 << 16}, {MB_AXIS_alpha, 0, 0, 1e6},
};

static const struct mb_param_decl merge_params[] = {MB_PEFT_PARAM_SCALING_FROM};

static int64_t rows_of(const struct mb_point *p) { return p->n > 0 ? p->n : p->d; }

struct oracle_ctx {
    struct mb_peft pf;
    double scaling;
};

/* want[i] = W0[o, i] + s sum_q B[o, q] A[q, i] for row o, in double. */
static void row_oracle(const void *ctx, int64_t o, double *scratch MB_UNUSED, double *want) {
    const struct oracle_ctx *c = ctx;
    const struct mb_peft *pf = &c->pf;
    for (int64_t i = 0; i < pf->d_in; i++) {
        double u = 0;
        for (int64_t q = 0; q < pf->r; q++) u += (double)pf->b[o * pf->r + q] * pf->a[q * pf->d_in + i];
        want[i] = pf->w0[o * pf->d_in + i] + c->scaling * u;
    }
}

static const struct mb_mechanism merge_mechanisms[] = {
    {"merge", "merged_weight = W0 + (alpha/r) B A", 1e-6, (void (*)(void))row_oracle},
};

static int merge_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism MB_UNUSED,
                       const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    struct oracle_ctx ctx = {.scaling = mb_peft_scaling(&w->point)};
    mb_peft_bind(&ctx.pf, w);
    const struct mb_row_check c = {.width = ctx.pf.d_in, .scratch = 1, .got = ctx.pf.out, .oracle = row_oracle,
                                   .ctx = &ctx};
    return mb_check_sampled(&c, 1, ctx.pf.d_out, 0, opts, out, err, errlen);
}

static int merge_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    const int64_t d_out = rows_of(p), d_min = p->d < d_out ? p->d : d_out;
    if (mb_peft_check_size((double)d_out, p->d, "d_out*d_in", err, errlen) ||
        mb_peft_check_rank(p->rank, d_min, "rank r", "min(d_in, d_out)", err, errlen))
        return -1;
    w->n_inputs = 0;
    mb_tensor_set(&w->inputs[w->n_inputs++], "weight", "d_out,d_in", 2, d_out, p->d, 0, 0);
    mb_peft_layout_lora(w, p->rank, p->d, d_out);
    mb_tensor_set(&w->outputs[0], "merged_weight", "d_out,d_in", 2, d_out, p->d, 0, 0);
    w->n_outputs = 1;
    return 0;
}

static int merge_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *wt = &w->inputs[0], *a = &w->inputs[1];
    if (wt->ndim != 2) return mb_errorf(err, errlen, "'weight' has %d dimensions; peft.lora expects (d_out, d_in)", wt->ndim);
    if (mb_peft_expect_cols(a, wt->shape[1], "(r, d_in) with d_in = weight's second dimension", err, errlen)) return -1;
    struct mb_point pt = w->point;
    pt.n = wt->shape[0];
    pt.d = wt->shape[1];
    pt.rank = a->shape[0];
    if (mb_peft_alpha_from_scaling(w, &pt, err, errlen)) return -1;
    return mb_peft_eval_finish(w, &pt, merge_params, (int)(sizeof merge_params / sizeof merge_params[0]), err, errlen);
}

const struct mb_family mb_family_peft_lora = {
    .name = "peft.lora",
    .summary = "weight (d_out, d_in), lora_A (r, d_in), lora_B (d_out, r) [, scaling] -> merged_weight (d_out, d_in): "
               "the LoRA merge W0 + (alpha/r) B A; n = d_out (0 = d)",
    .axes = merge_axes,
    .n_axes = (int)(sizeof merge_axes / sizeof merge_axes[0]),
    .params = merge_params,
    .n_params = (int)(sizeof merge_params / sizeof merge_params[0]),
    .mechanisms = merge_mechanisms,
    .n_mechanisms = (int)(sizeof merge_mechanisms / sizeof merge_mechanisms[0]),
    .layout = merge_layout,
    .fill = mb_peft_fill,
    .point_from_inputs = merge_point_from_inputs,
    .check = merge_check,
    .choose_inputs = mb_peft_choose_scaling,
};
