/* peft.lora.unmerged: LoRA kept beside the frozen weight (training, or serving several adapters on one base).
 *
 *   out = input W0^T + bias + (alpha/r) (input A^T) B^T       A (r, d_in), B (d_out, r)
 * Per thread, over its share of the tokens: the base sgemm, T = X A^T (tokens x r), out += s T B^T (two thin
 * products; sgemv for a single token and a small-M kernel for a few, mb_peft_gemm_xwt).
 * FLOPs 2 n d_in d_out + 2 n r (d_in + d_out): the O(n r d) the merged form does not pay.
 * Source: Hu et al. 2021, "LoRA", eq. 3 and sec. 4.1; loralib's Linear.forward. */
#include "peft/family.h"

#include <stdlib.h>

struct state {
    struct mb_peft pf;
    float *t; /* (tokens, r): X A^T */
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **out, struct mb_workload *w, char *err, size_t errlen) {
    struct state *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_peft_bind(&s->pf, w);
    s->t = mb_alloc((size_t)(s->pf.tokens * s->pf.r) * sizeof(float));
    if (!s->t) return free(s), mb_errorf(err, errlen, "out of memory (X A^T)");
    *out = s;
    return 0;
}

static void run(void *state) {
    const struct state *s = state;
    const struct mb_peft *pf = &s->pf;
    const int r = (int)pf->r, d_in = (int)pf->d_in, d_out = (int)pf->d_out;
#pragma omp parallel
    {
        int64_t t0, t1;
        mb_peft_token_range(pf->tokens, &t0, &t1);
        const int rows = (int)(t1 - t0);
        const float *x = pf->x + t0 * d_in;
        float *o = pf->out + t0 * d_out, *t = s->t + t0 * r;
        mb_peft_linear_rows(x, pf->w0, pf->bias, rows, d_in, d_out, o);
        mb_peft_gemm_xwt(rows, r, d_in, 1.0f, x, pf->a, 0.0f, t);
        mb_peft_gemm_xwt(rows, d_out, r, pf->scaling, t, pf->b, 1.0f, o);
    }
}

static void teardown(void *state) {
    struct state *s = state;
    mb_free(s->t);
    free(s);
}

static double flops(const struct mb_kernel *k, const struct mb_point *p) {
    const double tokens = (double)p->batch * (double)p->n;
    return mb_peft_base_flops(k, p) + 2.0 * tokens * (double)p->rank * ((double)p->d + (double)mb_peft_d_out(p));
}

static double bytes(const struct mb_kernel *k, const struct mb_point *p) {
    return mb_peft_io_bytes(k, p) + 4.0 * (double)p->rank * ((double)p->d + (double)mb_peft_d_out(p));
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 4.0 * (double)p->batch * (double)p->n * (double)p->rank;
}

const struct mb_kernel mb_kernel_peft_lora_unmerged = {
    .name = "peft.lora.unmerged",
    MB_LORA_KERNEL,
    .summary = "LoRA beside W0: base sgemm + s (X A^T) B^T (two thin sgemm), one set per thread",
    .complexity = "O(n d_in d_out + n r (d_in + d_out)) time, O(n r) workspace",
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
