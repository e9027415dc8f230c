/* peft families (family.c, family_merge.c, family_adapter.c, family_prompt.c): a frozen linear layer and the
 * parameter-efficient ways of adapting it, on tokens, with PyTorch's names and layouts.
 *
 *   peft          input (batch, n, d_in), weight W0 (d_out, d_in), bias (d_out), lora_A (r, d_in), lora_B (d_out, r)
 *                 [, scaling (1,)] -> out (batch, n, d_out)
 *     linear      out = input W0^T + bias                                   (nn.Linear)
 *     lora        out = input W0^T + bias + (alpha / r) (input A^T) B^T     (Hu et al. 2021, eq. 3; loralib's Linear)
 *   peft.lora     weight W0 (d_out, d_in), lora_A, lora_B [, scaling] -> merged_weight (d_out, d_in)
 *     merge       W = W0 + (alpha / r) B A                                  (Hu et al. 2021, sec. 4.1)
 *   peft.adapter  input, weight, bias, down_weight (m, d_out | d_in), down_bias (m), up_weight (d_out, m),
 *                 up_bias (d_out) -> out (batch, n, d_out);  h = input W0^T + bias
 *     serial      out = h + f(h W_down^T + b_down) W_up^T + b_up            (Houlsby et al. 2019, sec. 2.1)
 *     parallel    out = h + s (f(input W_down^T + b_down) W_up^T + b_up)    (He et al. 2022, sec. 3, "parallel adapter")
 *   peft.prompt   input, weight, bias, prompt (L_p, d_in) -> out (batch, L_p + n, d_out)
 *     prompt      out = [prompt; input] W0^T + bias, the prompt before every sequence (Lester et al. 2021, sec. 2)
 * Axes: n tokens per sequence (peft.lora: n = d_out, the rows of W), batch, d = d_in, rank = r, m or L_p, alpha
 * (0 = r: scaling 1). d_out is the parameter d_out (0 = d_in). The three token families share the first three
 * tensors (input, weight, bias) and their seeded fill, so the frozen layer is the same one in every family. */
#ifndef MB_PEFT_FAMILY_H
#define MB_PEFT_FAMILY_H

#include "core/mechbench.h"

extern const struct mb_family mb_family_peft, mb_family_peft_lora, mb_family_peft_adapter, mb_family_peft_prompt;

/* Input slots: the frozen layer first in the token families; peft.lora starts at MB_PEFT_WEIGHT's tensor. */
enum { MB_PEFT_INPUT, MB_PEFT_WEIGHT, MB_PEFT_BIAS, MB_PEFT_LORA_A, MB_PEFT_LORA_B, MB_PEFT_SCALING };
enum { MB_PEFT_DOWN_WEIGHT = 3, MB_PEFT_DOWN_BIAS, MB_PEFT_UP_WEIGHT, MB_PEFT_UP_BIAS };
enum { MB_PEFT_PROMPT = 3 };

/* Declarations the families share. */
#define MB_PEFT_PARAM_D_OUT {"d_out", MB_PARAM_INT, 0, 0, 1 << 16, NULL, "output width of the layer (0 = d, the input width)"}
#define MB_PEFT_PARAM_SCALING_FROM                                                                                    \
    {"scaling_from", MB_PARAM_ENUM, 0, 0, 0, "alpha|input",                                                           \
     "LoRA's scaling: alpha = alpha/r from the alpha axis; input = a 'scaling' tensor (1,) holds it (eval picks this " \
     "when its file has a 'scaling' dataset, and sets alpha = scaling * r)"}

/* The descriptor fields every LoRA kernel on tokens shares. */
#define MB_LORA_KERNEL                                                                                                \
    .family = &mb_family_peft, .mechanism = "lora",                                                                   \
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(d) | MB_AXIS_BIT(rank) | MB_AXIS_BIT(alpha),            \
    .rank_meaning = "r, the LoRA rank (1..min(d_in, d_out))", MB_KERNEL_SOURCE

/* The point's shapes and LoRA scaling alpha / r. */
struct mb_peft {
    int64_t tokens, d_in, d_out, r; /* tokens = batch * n (peft.lora: 0) */
    float scaling;
    const float *x, *w0, *bias, *a, *b; /* input (tokens, d_in), W0 (d_out, d_in), bias, A (r, d_in), B (d_out, r);
                                           NULL where the family has no such tensor */
    float *out;                         /* outputs[0] */
};
/* Binds the tensors by name; d_out from the d_out parameter (peft.lora: from n). */
void mb_peft_bind(struct mb_peft *pf, const struct mb_workload *w);
int64_t mb_peft_d_out(const struct mb_point *p);
double mb_peft_scaling(const struct mb_point *p);

/* Models shared by the kernels: bytes of input, W0, bias and output; FLOPs of the base GEMM. */
double mb_peft_base_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_peft_io_bytes(const struct mb_kernel *k, const struct mb_point *p);
double mb_peft_no_workspace(const struct mb_kernel *k, const struct mb_point *p);
/* Inside an OpenMP parallel region: this thread's contiguous share [t0, t1) of `tokens` rows. */
void mb_peft_token_range(int64_t tokens, int64_t *t0, int64_t *t1);
/* out (rows, cols) = alpha x w^T + beta out; x (rows, inner), w (cols, inner), out (rows, cols), row-major, dense.
   One row is a GEMV (cblas_sgemv): OpenBLAS 0.3.21's sgemm packs all of w even for one row, which read a 64 MiB
   weight at 4 GB/s (the STREAM triad: 29 GB/s), so every decode-step ratio measured the packing, not the layer.
   2..16 rows, in the AVX-512 copy: a small-M kernel that reads each block of w once for all rows (family.c,
   gemm_small_m; at d = 4096, 4 rows 4.3 ms against sgemm's 13.2). Beyond: cblas_sgemm. beta = 0: out is not read. */
void mb_peft_gemm_xwt(int64_t rows, int64_t cols, int64_t inner, float alpha, const float *x, const float *w, float beta,
                      float *out);
/* out = x W^T + bias on `rows` tokens, in the calling thread: one sgemm (OpenBLAS single-threaded inside, blocking
   for the caches itself; per-64-token sgemm calls would re-read W from memory for every block). */
void mb_peft_linear_rows(const float *x, const float *w, const float *bias, int64_t rows, int64_t d_in, int64_t d_out,
                         float *out);
/* The same over all tokens, one call of mb_peft_linear_rows per thread on its share. */
void mb_peft_linear(const float *x, const float *w, const float *bias, int64_t tokens, int64_t d_in, int64_t d_out,
                    float *out);
/* Kernel setup for kernels that keep only the bound struct mb_peft (teardown: free). */
int mb_peft_setup_bound(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen);

/* ------------------------------------------------------------------------------------------ layouts and fills */
/* Refuse more than 2^34 elements in a (rows, width) tensor, naming `what`. */
int mb_peft_check_size(double rows, int64_t width, const char *what, char *err, size_t errlen);
/* Refuse a rank-like value outside 1..max, naming it ("rank r", "bottleneck m") and the bound's meaning. */
int mb_peft_check_rank(int64_t value, int64_t max, const char *what, const char *max_meaning, char *err,
                       size_t errlen);
/* input (batch, n, d_in), weight (d_out, d_in), bias (d_out) in slots 0..2 and the output `out` (batch, rows, d_out);
   n_inputs = 3, n_outputs = 1. */
void mb_peft_layout_layer(struct mb_workload *w, int64_t d_out, int64_t rows);
/* lora_A (r, d_in), lora_B (d_out, r), and with scaling_from=input a `scaling` (1,), appended to the inputs. */
void mb_peft_layout_lora(struct mb_workload *w, int64_t r, int64_t d_in, int64_t d_out);
/* Every family's fill, by tensor name, each from its own stream of w->seed (so the frozen layer and the LoRA
   matrices are the same in every peft family at the same seed and shapes): input, prompt ~ N(0, 1); weight, bias,
   lora_A, down_weight, down_bias ~ U(+-1/sqrt(fan_in)) (nn.Linear's and loralib's init); lora_B, up_weight, up_bias
   ~ N(0, 0.02^2), trained values and not the zeros of their initialisation (B = 0 in LoRA, near-zero adapters in
   Houlsby et al.: the adapted layer would equal the frozen one and every test of the adapter path would be
   vacuous); scaling = alpha / r. */
void mb_peft_fill(struct mb_workload *w);

/* ------------------------------------------------------------------------------------------ eval */
/* choose_inputs of the LoRA families: scaling_from=input when the file has a `scaling` dataset. */
int mb_peft_choose_scaling(struct mb_workload *w, const char *present, char *err, size_t errlen);
/* With scaling_from=input: check w's `scaling` (shape () or (1,), > 0) and set pt->alpha = scaling * r. */
int mb_peft_alpha_from_scaling(const struct mb_workload *w, struct mb_point *pt, char *err, size_t errlen);
/* The end of every peft point_from_inputs: `pt` is w's point with the axes and d_out the file's shapes give; lay out
   a copy of it (params parsed against `decls`), require every input of w to have that shape (a scalar `scaling`
   counts as (1,)), then take pt and the copy's outputs into w. Returns 0 or -1 naming the first tensor that
   differs and its expected dims. */
int mb_peft_eval_finish(struct mb_workload *w, const struct mb_point *pt, const struct mb_param_decl *decls,
                        int n_decls, char *err, size_t errlen);
/* Set the d_out parameter of pt to `value`. Returns 0 or -1 with a message. */
int mb_peft_set_d_out(struct mb_point *pt, int64_t value, char *err, size_t errlen);
/* 'name' must be 2-D with the given second dimension: else -1 naming the expected layout. */
int mb_peft_expect_cols(const struct mb_tensor *t, int64_t cols, const char *layout, char *err, size_t errlen);

/* ------------------------------------------------------------------------------------------ oracles */
/* want[o] = sum_i W0[o, i] x[i] + bias[o], in double, for o < d_out. */
void mb_peft_linear_oracle(const float *x, const float *w0, const float *bias, int64_t d_in, int64_t d_out,
                           double *want);

/* ------------------------------------------------------------------------------------------ adapters */
enum mb_peft_act { MB_PEFT_RELU, MB_PEFT_GELU, MB_PEFT_GELU_TANH };
#define MB_PEFT_ACTS "relu|gelu|gelu_tanh"
enum mb_peft_placement { MB_PEFT_SERIAL, MB_PEFT_PARALLEL };
/* Each adapter kernel declares where its adapter reads with its own default (the layout of down_weight follows it);
   the other value is refused by its supports. */
#define MB_PEFT_PARAM_PLACEMENT(def)                                                                                  \
    {"placement", MB_PARAM_ENUM, def, 0, 0, "serial|parallel",                                                        \
     "what the adapter reads, fixed by the kernel: serial = the frozen layer's output h (down_weight (m, d_out)), "   \
     "parallel = the layer's input (down_weight (m, d_in))"}

struct mb_peft_adapter {
    struct mb_peft layer;                            /* x, W0, bias, out; tokens, d_in, d_out */
    int64_t m;                                       /* bottleneck */
    enum mb_peft_act act;
    float scale;                                     /* s (parallel; serial: 1) */
    const float *down_w, *down_b, *up_w, *up_b;      /* (m, d_src), (m), (d_out, m), (d_out) */
    float *z;                                        /* workspace (tokens, m): the bottleneck activations */
};
/* Setup of both adapter kernels: bind, allocate z (tokens x m). teardown frees it. */
int mb_peft_adapter_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen);
void mb_peft_adapter_teardown(void *state);
int mb_peft_adapter_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len);
double mb_peft_adapter_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_peft_adapter_bytes(const struct mb_kernel *k, const struct mb_point *p);
double mb_peft_adapter_workspace(const struct mb_kernel *k, const struct mb_point *p);
/* In the calling thread, on `rows` tokens: z = f(src W_down^T + b_down) (z: rows x m), then
   out += scale (z W_up^T + b_up). src (rows, d_src) may be out itself (the serial adapter reads h). */
void mb_peft_bottleneck_rows(const struct mb_peft_adapter *ad, const float *src, int64_t d_src, int64_t rows,
                             float *z, float *out);
/* The activation in double (oracles). */
double mb_peft_act_double(enum mb_peft_act act, double x);

#endif
