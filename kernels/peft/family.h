/* peft family (family.c): a linear layer and its LoRA forms on tokens (PyTorch names and layouts).
 *
 *   input (batch, n, d_in), weight W0 (d_out, d_in), bias (d_out), lora_A (r, d_in), lora_B (d_out, r)
 *   linear  out = input W0^T + bias                                   (nn.Linear)
 *   lora    out = input W0^T + bias + (alpha / r) (input A^T) B^T     (Hu et al. 2021, eq. 3; loralib's Linear)
 * Axes: n tokens per sequence, batch, d = d_in, rank = r, alpha (0 = r, scaling 1). d_out is the parameter
 * d_out (0 = d_in). */
#ifndef MB_PEFT_FAMILY_H
#define MB_PEFT_FAMILY_H

#include "core/mechbench.h"

extern const struct mb_family mb_family_peft;

enum { MB_PEFT_INPUT, MB_PEFT_WEIGHT, MB_PEFT_BIAS, MB_PEFT_LORA_A, MB_PEFT_LORA_B };

/* The descriptor fields every LoRA kernel shares. */
#define MB_LORA_KERNEL                                                                                                \
    .family = &mb_family_peft, .mechanism = "lora",                                                                   \
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(d) | MB_AXIS_BIT(rank) | MB_AXIS_BIT(alpha),            \
    .rank_meaning = "r, the LoRA rank (1..min(d_in, d_out))", MB_KERNEL_SOURCE

/* The point's shapes and LoRA scaling alpha / r. */
struct mb_peft {
    int64_t tokens, d_in, d_out, r; /* tokens = batch * n */
    float scaling;
    const float *x, *w0, *bias, *a, *b; /* input (tokens, d_in), W0 (d_out, d_in), bias, A (r, d_in), B (d_out, r) */
    float *out;                         /* (tokens, d_out) */
};
void mb_peft_bind(struct mb_peft *pf, const struct mb_workload *w);
int64_t mb_peft_d_out(const struct mb_point *p);
double mb_peft_scaling(const struct mb_point *p);

/* Models shared by the kernels: bytes of input, W0, bias and output; FLOPs of the base GEMM. */
double mb_peft_base_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_peft_io_bytes(const struct mb_kernel *k, const struct mb_point *p);
/* Inside an OpenMP parallel region: this thread's contiguous share [t0, t1) of the tokens. */
void mb_peft_token_range(int64_t tokens, int64_t *t0, int64_t *t1);
/* out = x W^T + bias: one sgemm per thread over its share of the tokens (OpenBLAS single-threaded inside, blocking
   for the caches itself; per-64-token sgemm calls would re-read W from memory for every block) */
/* The same on `rows` tokens, in the calling thread (x, out at those rows). */
void mb_peft_linear_rows(const float *x, const float *w, const float *bias, int64_t rows, int64_t d_in, int64_t d_out,
                         float *out);
void mb_peft_linear(const float *x, const float *w, const float *bias, int64_t tokens, int64_t d_in, int64_t d_out,
                    float *out);

#endif
