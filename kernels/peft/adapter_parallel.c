/* peft.adapter.parallel: the parallel adapter, a bottleneck beside the frozen linear layer reading its input.
 *
 *   h = input W0^T + bias        out = h + s (f(input W_down^T + b_down) W_up^T + b_up)
 *   W_down = down_weight (m, d_in), W_up = up_weight (d_out, m), s = the scale parameter (He et al.'s
 *   adapter_scalar: it scales up_proj's whole output, bias included)
 * Per thread, over its share of the tokens: the base layer's body (mb_peft_linear_rows) writes h, the bottleneck
 * reads the input rows (one sgemm), and out += s (z W_up^T + b_up) (one sgemm). FLOPs 2 n d_in d_out
 * + 2 n m (d_in + d_out) + bias, scale and residual adds. Source: He et al. 2022, "Towards a Unified View of
 * Parameter-Efficient Transfer Learning", sec. 3 (the parallel adapter). */
#include "peft/family.h"

static void run(void *state) {
    const struct mb_peft_adapter *ad = state;
    const struct mb_peft *pf = &ad->layer;
#pragma omp parallel
    {
        int64_t t0, t1;
        mb_peft_token_range(pf->tokens, &t0, &t1);
        const float *x = pf->x + t0 * pf->d_in;
        float *out = pf->out + t0 * pf->d_out;
        mb_peft_linear_rows(x, pf->w0, pf->bias, t1 - t0, pf->d_in, pf->d_out, out);
        mb_peft_bottleneck_rows(ad, x, pf->d_in, t1 - t0, ad->z + t0 * ad->m, out);
    }
}

static const struct mb_param_decl params[] = {
    MB_PEFT_PARAM_PLACEMENT(MB_PEFT_PARALLEL),
    {"scale", MB_PARAM_REAL, 1, -1e6, 1e6, NULL, "s, the parallel adapter's output scale (He et al.'s adapter_scalar)"},
};

const struct mb_kernel mb_kernel_peft_adapter_parallel = {
    .name = "peft.adapter.parallel",
    .family = &mb_family_peft_adapter,
    .mechanism = "parallel",
    .summary = "parallel adapter beside the frozen layer: h + s (f(x W_down + b_down) W_up + b_up), three sgemm per "
               "thread",
    .complexity = "O(n d_in d_out + n m (d_in + d_out)) time, O(n m) workspace",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(d) | MB_AXIS_BIT(rank),
    .rank_meaning = "m, the adapter bottleneck",
    MB_KERNEL_SOURCE,
    .params = params,
    .n_params = 2,
    .supports = mb_peft_adapter_supports,
    .setup = mb_peft_adapter_setup,
    .run = run,
    .teardown = mb_peft_adapter_teardown,
    .flops = mb_peft_adapter_flops,
    .bytes = mb_peft_adapter_bytes,
    .workspace_bytes = mb_peft_adapter_workspace,
};
