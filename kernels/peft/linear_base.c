/* peft.linear.base: the frozen linear layer, the baseline every LoRA ratio is taken against.
 *
 *   out = input W0^T + bias        input (batch, n, d_in), W0 (d_out, d_in) -> out (batch, n, d_out)
 * One sgemm per thread over its share of the tokens. 2 n d_in d_out FLOPs. Source: torch.nn.Linear. */
#include "peft/family.h"

#include <stdlib.h>

static void run(void *state) {
    const struct mb_peft *pf = state;
    mb_peft_linear(pf->x, pf->w0, pf->bias, pf->tokens, pf->d_in, pf->d_out, pf->out);
}

const struct mb_kernel mb_kernel_peft_linear_base = {
    .name = "peft.linear.base",
    .family = &mb_family_peft,
    .mechanism = "linear",
    .summary = "the frozen layer W0 x + b (one sgemm per thread): the baseline of the LoRA ratios",
    .complexity = "O(n d_in d_out) time, O(1) workspace",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(d),
    MB_KERNEL_SOURCE,
    .setup = mb_peft_setup_bound,
    .run = run,
    .teardown = free,
    .flops = mb_peft_base_flops,
    .bytes = mb_peft_io_bytes,
    .workspace_bytes = mb_peft_no_workspace,
};
