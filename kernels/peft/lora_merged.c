/* peft.lora.merged: LoRA merged into the weight for inference, no added latency.
 *
 *   W = W0 + (alpha/r) B A   (setup, untimed; d_out x d_in)      out = input W^T + bias   (timed: the base GEMM)
 * Same FLOPs as peft.linear.base. Checked against the unmerged LoRA formula (its mechanism). Source: Hu et al. 2021,
 * "LoRA", sec. 4.1 ("we can explicitly compute and store W = W0 + BA ... no additional inference latency"). */
#include "peft/family.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

struct state {
    struct mb_peft pf;
    float *w; /* (d_out, d_in): W0 + s B A */
};

static int setup(const struct mb_kernel *k MB_UNUSED, void **out, struct mb_workload *w, char *err, size_t errlen) {
    struct state *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_peft_bind(&s->pf, w);
    const struct mb_peft *pf = &s->pf;
    s->w = mb_alloc((size_t)(pf->d_out * pf->d_in) * sizeof(float));
    if (!s->w) return free(s), mb_errorf(err, errlen, "out of memory (merged weight)");
    memcpy(s->w, pf->w0, (size_t)(pf->d_out * pf->d_in) * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)pf->d_out, (int)pf->d_in, (int)pf->r, pf->scaling,
                pf->b, (int)pf->r, pf->a, (int)pf->d_in, 1.0f, s->w, (int)pf->d_in);
    *out = s;
    return 0;
}

static void run(void *state) {
    const struct state *s = state;
    const struct mb_peft *pf = &s->pf;
    mb_peft_linear(pf->x, s->w, pf->bias, pf->tokens, pf->d_in, pf->d_out, pf->out);
}

static void teardown(void *state) {
    struct state *s = state;
    mb_free(s->w);
    free(s);
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 4.0 * (double)p->d * (double)mb_peft_d_out(p);
}

const struct mb_kernel mb_kernel_peft_lora_merged = {
    .name = "peft.lora.merged",
    MB_LORA_KERNEL,
    .summary = "LoRA merged in setup (W = W0 + s B A), then the base GEMM: no added latency",
    .complexity = "O(n d_in d_out) time, O(d_in d_out) workspace (the merged W)",
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = mb_peft_base_flops,
    .bytes = mb_peft_io_bytes,
    .workspace_bytes = workspace,
};
