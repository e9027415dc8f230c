/* peft.prompt family: prompt tuning, L_p trained input embeddings before every sequence, then the frozen layer.
 *
 *   input (batch, n, d_in), weight (d_out, d_in), bias (d_out), prompt (L_p, d_in) -> out (batch, L_p + n, d_out)
 *   out[b] = [prompt; input[b]] W0^T + bias          (torch.cat((prompt.expand(batch, -1, -1), input), dim=1))
 * L_p is the rank axis. The frozen layer's tensors and fill are the peft family's; prompt ~ N(0, 1), the scale of the
 * input embeddings. Oracle: each output row in double from its source row (prompt row or input token).
 * Source: Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning", sec. 2. */
#include "peft/family.h"

#include "core/check.h"

static const struct mb_axis_rule prompt_axes[] = {
    {MB_AXIS_n, 128, 1, 1 << 24}, {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_d, 1024, 1, 1 << 16},
    {MB_AXIS_rank, 20, 1, 1 << 16},
};

static const struct mb_param_decl prompt_params[] = {MB_PEFT_PARAM_D_OUT};

struct oracle_ctx {
    struct mb_peft pf;
    const float *prompt;
    int64_t n, lp;
};

static void row_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct oracle_ctx *c = ctx;
    const int64_t b = row / (c->lp + c->n), pos = row % (c->lp + c->n);
    const float *src = pos < c->lp ? c->prompt + pos * c->pf.d_in : c->pf.x + (b * c->n + pos - c->lp) * c->pf.d_in;
    mb_peft_linear_oracle(src, c->pf.w0, c->pf.bias, c->pf.d_in, c->pf.d_out, want);
}

static const struct mb_mechanism prompt_mechanisms[] = {
    {"prompt", "out = [prompt; input] W0^T + bias", 1e-5, (void (*)(void))row_oracle},
};

static int prompt_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism MB_UNUSED,
                        const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    struct oracle_ctx ctx = {.prompt = w->inputs[MB_PEFT_PROMPT].data, .n = w->point.n, .lp = w->point.rank};
    mb_peft_bind(&ctx.pf, w);
    const struct mb_row_check c = {.width = ctx.pf.d_out, .scratch = 1, .got = ctx.pf.out, .oracle = row_oracle,
                                   .ctx = &ctx};
    return mb_check_sampled(&c, w->point.batch, ctx.lp + ctx.n, 0, opts, out, err, errlen);
}

static int prompt_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    const int64_t d_out = mb_peft_d_out(p);
    if (mb_peft_check_size((double)p->batch * (double)(p->n + p->rank), p->d > d_out ? p->d : d_out,
                           "batch*(L_p+n)*max(d, d_out)", err, errlen))
        return -1;
    mb_peft_layout_layer(w, d_out, p->rank + p->n);
    mb_tensor_set(&w->inputs[w->n_inputs++], "prompt", "L_p,d_in", 2, p->rank, p->d, 0, 0);
    return 0;
}

static int prompt_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[MB_PEFT_INPUT], *wt = &w->inputs[MB_PEFT_WEIGHT];
    const struct mb_tensor *prompt = &w->inputs[MB_PEFT_PROMPT];
    if (x->ndim != 3)
        return mb_errorf(err, errlen, "'input' has %d dimensions; peft.prompt expects (batch, n, d_in)", x->ndim);
    if (mb_peft_expect_cols(wt, x->shape[2], "(d_out, d_in) with d_in = input's last dimension", err, errlen) ||
        mb_peft_expect_cols(prompt, x->shape[2], "(L_p, d_in) with d_in = input's last dimension", err, errlen))
        return -1;
    struct mb_point pt = w->point;
    pt.batch = x->shape[0];
    pt.n = x->shape[1];
    pt.d = x->shape[2];
    pt.rank = prompt->shape[0];
    if (mb_peft_set_d_out(&pt, wt->shape[0], err, errlen)) return -1;
    return mb_peft_eval_finish(w, &pt, prompt_params, 1, err, errlen);
}

const struct mb_family mb_family_peft_prompt = {
    .name = "peft.prompt",
    .summary = "input (batch, n, d_in), weight (d_out, d_in), bias (d_out), prompt (L_p, d_in) -> out (batch, L_p + n, "
               "d_out): prompt tuning before a frozen linear layer",
    .axes = prompt_axes,
    .n_axes = (int)(sizeof prompt_axes / sizeof prompt_axes[0]),
    .params = prompt_params,
    .n_params = 1,
    .mechanisms = prompt_mechanisms,
    .n_mechanisms = 1,
    .layout = prompt_layout,
    .fill = mb_peft_fill,
    .point_from_inputs = prompt_point_from_inputs,
    .check = prompt_check,
};
