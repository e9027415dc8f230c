/* peft.prompt.prepend (alias peft.prompt): prompt tuning's forward through a frozen linear layer.
 *
 *   out[b] = [prompt; input[b]] W0^T + bias        prompt (L_p, d_in), input (batch, n, d_in) -> (batch, L_p + n, d_out)
 * No concatenated copy: each thread takes a contiguous share of the batch (L_p + n) output rows and runs the base
 * layer's body (mb_peft_linear_rows) on each stretch of them whose source rows are contiguous (a piece of the prompt
 * or of one sequence). FLOPs 2 batch (n + L_p) d_in d_out: the base layer's on n + L_p tokens.
 * Source: Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning", sec. 2. */
#include "peft/family.h"

#include <stdlib.h>

struct state {
    struct mb_peft pf;
    const float *prompt;
    int64_t batch, n, lp;
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **out, struct mb_workload *w, char *err, size_t errlen) {
    struct state *s = malloc(sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_peft_bind(&s->pf, w);
    s->prompt = w->inputs[MB_PEFT_PROMPT].data;
    s->batch = w->point.batch, s->n = w->point.n, s->lp = w->point.rank;
    *out = s;
    return 0;
}

static void run(void *state) {
    const struct state *s = state;
    const struct mb_peft *pf = &s->pf;
    const int64_t len = s->lp + s->n;
#pragma omp parallel
    {
        int64_t r0, r1;
        mb_peft_token_range(s->batch * len, &r0, &r1);
        for (int64_t r = r0; r < r1;) {
            const int64_t b = r / len, pos = r % len, in_prompt = pos < s->lp;
            const int64_t end = in_prompt ? b * len + s->lp : (b + 1) * len, stop = end < r1 ? end : r1;
            const float *src = in_prompt ? s->prompt + pos * pf->d_in : pf->x + (b * s->n + pos - s->lp) * pf->d_in;
            mb_peft_linear_rows(src, pf->w0, pf->bias, stop - r, pf->d_in, pf->d_out, pf->out + r * pf->d_out);
            r = stop;
        }
    }
}

static double flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 2.0 * (double)p->batch * (double)(p->n + p->rank) * (double)p->d * (double)mb_peft_d_out(p);
}

static double bytes(const struct mb_kernel *k, const struct mb_point *p) {
    const double d_out = (double)mb_peft_d_out(p);
    return mb_peft_io_bytes(k, p) + 4.0 * (double)p->rank * ((double)p->d + (double)p->batch * d_out);
}

const struct mb_kernel mb_kernel_peft_prompt_prepend = {
    .name = "peft.prompt.prepend",
    .aliases = "peft.prompt",
    .family = &mb_family_peft_prompt,
    .mechanism = "prompt",
    .summary = "prompt tuning: L_p trained embeddings before every sequence, then the frozen layer (no concat copy)",
    .complexity = "O((n + L_p) d_in d_out) time, O(1) workspace",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(d) | MB_AXIS_BIT(rank),
    .rank_meaning = "L_p, the prompt length (trained input embeddings)",
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = free,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = mb_peft_no_workspace,
};
