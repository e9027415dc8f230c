/* peft.adapter.serial: Houlsby's bottleneck adapter after a frozen linear layer.
 *
 *   h = input W0^T + bias        out = h + f(h W_down^T + b_down) W_up^T + b_up
 *   W_down = down_weight (m, d_out), W_up = up_weight (d_out, m), f = act (default the tanh GELU of adapter-bert)
 * Per thread, over its share of the tokens: the base layer's body (mb_peft_linear_rows) writes h into out, then the
 * bottleneck reads those rows (z = f(h W_down^T + b_down), one sgemm) and adds z W_up^T + b_up (one sgemm) in place.
 * FLOPs 2 n d_in d_out + 4 n m d_out + bias and residual adds. Source: Houlsby et al. 2019, "Parameter-Efficient
 * Transfer Learning for NLP", sec. 2.1 and fig. 2; google-research/adapter-bert, modeling.py feedforward_adapter. */
#include "peft/family.h"

static void run(void *state) {
    const struct mb_peft_adapter *ad = state;
    const struct mb_peft *pf = &ad->layer;
#pragma omp parallel
    {
        int64_t t0, t1;
        mb_peft_token_range(pf->tokens, &t0, &t1);
        float *h = pf->out + t0 * pf->d_out;
        mb_peft_linear_rows(pf->x + t0 * pf->d_in, pf->w0, pf->bias, t1 - t0, pf->d_in, pf->d_out, h);
        mb_peft_bottleneck_rows(ad, h, pf->d_out, t1 - t0, ad->z + t0 * ad->m, h);
    }
}

static const struct mb_param_decl params[] = {MB_PEFT_PARAM_PLACEMENT(MB_PEFT_SERIAL)};

const struct mb_kernel mb_kernel_peft_adapter_serial = {
    .name = "peft.adapter.serial",
    .family = &mb_family_peft_adapter,
    .mechanism = "serial",
    .summary = "Houlsby adapter after the frozen layer: h + f(h W_down + b_down) W_up + b_up, three sgemm per thread",
    .complexity = "O(n d_in d_out + n m d_out) time, O(n m) workspace",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(d) | MB_AXIS_BIT(rank),
    .rank_meaning = "m, the adapter bottleneck",
    MB_KERNEL_SOURCE,
    .params = params,
    .n_params = 1,
    .supports = mb_peft_adapter_supports,
    .setup = mb_peft_adapter_setup,
    .run = run,
    .teardown = mb_peft_adapter_teardown,
    .flops = mb_peft_adapter_flops,
    .bytes = mb_peft_adapter_bytes,
    .workspace_bytes = mb_peft_adapter_workspace,
};
