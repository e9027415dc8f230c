/* peft.lora.merge: the LoRA merge itself, timed (what peft.lora.merged does in its untimed setup).
 *
 *   W = W0 + (alpha/r) B A        W0 (d_out, d_in), A (r, d_in), B (d_out, r) -> merged_weight (d_out, d_in)
 * Parallel over output rows: each thread copies its rows of W0 into W in blocks of MERGE_BLOCK rows and adds
 * s B[rows] A to the block with one sgemm (beta = 1) while it is still in cache. FLOPs 2 r d_in d_out (the
 * product) + d_in d_out (the add). Source: Hu et al. 2021, "LoRA", sec. 4.1 ("we can explicitly compute and store
 * W = W0 + BA"); loralib's Linear.train(False) merge. */
#include "peft/family.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

enum { MERGE_BLOCK = 16 }; /* rows per block: 16 x d_in floats (256 KiB at d_in = 4096) stay in L2 for the sgemm */

static void run(void *state) {
    const struct mb_peft *pf = state;
    const int64_t d_in = pf->d_in, r = pf->r;
#pragma omp parallel
    {
        int64_t o0, o1;
        mb_peft_token_range(pf->d_out, &o0, &o1);
        for (int64_t o = o0; o < o1; o += MERGE_BLOCK) {
            const int64_t rows = o1 - o < MERGE_BLOCK ? o1 - o : MERGE_BLOCK;
            memcpy(pf->out + o * d_in, pf->w0 + o * d_in, (size_t)(rows * d_in) * sizeof(float));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d_in, (int)r, pf->scaling,
                        pf->b + o * r, (int)r, pf->a, (int)d_in, 1.0f, pf->out + o * d_in, (int)d_in);
        }
    }
}

static double d_out_of(const struct mb_point *p) { return (double)(p->n > 0 ? p->n : p->d); }

static double flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return (2.0 * (double)p->rank + 1.0) * (double)p->d * d_out_of(p);
}

static double bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const double d_in = (double)p->d, d_out = d_out_of(p);
    return 4.0 * (2.0 * d_in * d_out + (double)p->rank * (d_in + d_out));
}

const struct mb_kernel mb_kernel_peft_lora_merge = {
    .name = "peft.lora.merge",
    .family = &mb_family_peft_lora,
    .mechanism = "merge",
    .summary = "the LoRA merge W0 + s B A on n = d_out rows (0 = d), timed: per thread a 16-row block copy, then one sgemm",
    .complexity = "O(r d_in d_out) time, O(1) workspace",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(rank) | MB_AXIS_BIT(alpha),
    .rank_meaning = "r, the LoRA rank (1..min(d_in, d_out))",
    MB_KERNEL_SOURCE,
    .setup = mb_peft_setup_bound,
    .run = run,
    .teardown = free,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = mb_peft_no_workspace,
};
