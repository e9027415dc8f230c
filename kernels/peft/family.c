/* peft family: workload (input, weight, bias, lora_A, lora_B -> out), the double-precision row oracles of the linear
 * layer and of LoRA, the shared GEMM and models. See family.h for the math. */
#include "peft/family.h"
#include "peft/finetune.h"

#include "core/check.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule peft_axes[] = {
    {MB_AXIS_n, 128, 1, 1 << 24}, {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_d, 1024, 1, 1 << 16},
    {MB_AXIS_rank, 8, 0, 1 << 16}, {MB_AXIS_alpha, 0, 0, 1e6}, /* rank 0: a kernel that does not read it */
};

static const struct mb_param_decl peft_params[] = {
    {"d_out", MB_PARAM_INT, 0, 0, 1 << 16, NULL, "output width of the layer (0 = d, the input width)"},
};

int64_t mb_peft_d_out(const struct mb_point *p) {
    const int64_t d_out = mb_param_int(p, "d_out");
    return d_out > 0 ? d_out : p->d;
}

double mb_peft_scaling(const struct mb_point *p) {
    const double r = p->rank > 0 ? (double)p->rank : 1.0;
    return (p->alpha > 0 ? p->alpha : r) / r;
}

void mb_peft_bind(struct mb_peft *pf, const struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    pf->tokens = p->batch * p->n;
    pf->d_in = p->d;
    pf->d_out = mb_peft_d_out(p);
    pf->r = p->rank;
    pf->scaling = (float)mb_peft_scaling(p);
    pf->x = w->inputs[MB_PEFT_INPUT].data;
    pf->w0 = w->inputs[MB_PEFT_WEIGHT].data;
    pf->bias = w->inputs[MB_PEFT_BIAS].data;
    pf->a = w->n_inputs > MB_PEFT_LORA_A ? w->inputs[MB_PEFT_LORA_A].data : NULL;
    pf->b = w->n_inputs > MB_PEFT_LORA_B ? w->inputs[MB_PEFT_LORA_B].data : NULL;
    pf->out = w->outputs[0].data;
}

double mb_peft_base_flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 2.0 * (double)p->batch * (double)p->n * (double)p->d * (double)mb_peft_d_out(p);
}

double mb_peft_io_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const double tokens = (double)p->batch * (double)p->n, d_out = (double)mb_peft_d_out(p);
    return 4.0 * (tokens * (double)p->d + d_out * (double)p->d + d_out + tokens * d_out);
}

void mb_peft_token_range(int64_t tokens, int64_t *t0, int64_t *t1) {
    const int64_t threads = omp_get_num_threads(), me = omp_get_thread_num();
    *t0 = tokens * me / threads;
    *t1 = tokens * (me + 1) / threads;
}

void mb_peft_linear_rows(const float *x, const float *w, const float *bias, int64_t rows, int64_t d_in, int64_t d_out,
                         float *out) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t o = 0; o < d_out; o++) out[i * d_out + o] = bias[o];
    if (rows > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)d_out, (int)d_in, 1.0f, x, (int)d_in, w,
                    (int)d_in, 1.0f, out, (int)d_out);
}

void mb_peft_linear(const float *x, const float *w, const float *bias, int64_t tokens, int64_t d_in, int64_t d_out,
                    float *out) {
#pragma omp parallel
    {
        int64_t t0, t1;
        mb_peft_token_range(tokens, &t0, &t1);
        mb_peft_linear_rows(x + t0 * d_in, w, bias, t1 - t0, d_in, d_out, out + t0 * d_out);
    }
}

/* ------------------------------------------------------------------------------------------ oracles */
struct oracle_ctx {
    struct mb_peft pf;
    int lora;
    double scaling; /* alpha / r in double */
};

/* want = W0 x + bias [+ s B (A x)] for token `row`, in double; scratch: r doubles (A x). */
static void row_oracle(const void *ctx, int64_t row, double *scratch, double *want) {
    const struct oracle_ctx *c = ctx;
    const struct mb_peft *pf = &c->pf;
    const float *x = pf->x + row * pf->d_in;
    for (int64_t q = 0; c->lora && q < pf->r; q++) {
        double s = 0;
        for (int64_t i = 0; i < pf->d_in; i++) s += (double)pf->a[q * pf->d_in + i] * x[i];
        scratch[q] = s;
    }
    for (int64_t o = 0; o < pf->d_out; o++) {
        double s = pf->bias[o];
        for (int64_t i = 0; i < pf->d_in; i++) s += (double)pf->w0[o * pf->d_in + i] * x[i];
        if (c->lora) {
            double u = 0;
            for (int64_t q = 0; q < pf->r; q++) u += (double)pf->b[o * pf->r + q] * scratch[q];
            s += c->scaling * u;
        }
        want[o] = s;
    }
}

static const struct mb_mechanism peft_mechanisms[] = {
    {"linear", "out = input W0^T + bias", 1e-5, (void (*)(void))row_oracle},
    {"lora", "out = input W0^T + bias + (alpha/r) (input A^T) B^T", 1e-5, (void (*)(void))row_oracle},
};

static int peft_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism,
                      const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    struct oracle_ctx ctx = {.lora = !strcmp(mechanism, "lora"), .scaling = mb_peft_scaling(&w->point)};
    mb_peft_bind(&ctx.pf, w);
    if (ctx.lora && (!ctx.pf.a || !ctx.pf.b)) return mb_errorf(err, errlen, "peft: no lora_A, lora_B for %s", mechanism);
    const struct mb_row_check c = {.width = ctx.pf.d_out, .scratch = ctx.pf.r > 0 ? ctx.pf.r : 1,
                                   .got = ctx.pf.out, .oracle = row_oracle, .ctx = &ctx};
    return mb_check_sampled(&c, 1, ctx.pf.tokens, 0, opts, out, err, errlen);
}

/* ------------------------------------------------------------------------------------------ workload */
static int peft_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    const int64_t d_out = mb_peft_d_out(p), r = p->rank > 0 ? p->rank : 1;
    const double tokens = (double)p->batch * (double)p->n;
    if (tokens * (double)(p->d > d_out ? p->d : d_out) > (double)(INT64_C(1) << 34))
        return mb_errorf(err, errlen, "batch*n*max(d, d_out) = %.3g elements is too large (max 2^34)",
                         tokens * (double)(p->d > d_out ? p->d : d_out));
    if (r > p->d || r > d_out)
        return mb_errorf(err, errlen, "rank r = %lld exceeds min(d_in, d_out) = %lld (allowed: 1..%lld)", (long long)r,
                         (long long)(p->d < d_out ? p->d : d_out), (long long)(p->d < d_out ? p->d : d_out));
    mb_tensor_set(&w->inputs[MB_PEFT_INPUT], "input", "batch,n,d_in", 3, p->batch, p->n, p->d, 0);
    mb_tensor_set(&w->inputs[MB_PEFT_WEIGHT], "weight", "d_out,d_in", 2, d_out, p->d, 0, 0);
    mb_tensor_set(&w->inputs[MB_PEFT_BIAS], "bias", "d_out", 1, d_out, 0, 0, 0);
    mb_tensor_set(&w->inputs[MB_PEFT_LORA_A], "lora_A", "r,d_in", 2, r, p->d, 0, 0);
    mb_tensor_set(&w->inputs[MB_PEFT_LORA_B], "lora_B", "d_out,r", 2, d_out, r, 0, 0);
    w->n_inputs = 5;
    mb_tensor_set(&w->outputs[0], "out", "batch,n,d_out", 3, p->batch, p->n, d_out, 0);
    w->n_outputs = 1;
    return 0;
}

/* W0, bias ~ U(+-1/sqrt(d_in)) (nn.Linear's init), A ~ U(+-1/sqrt(d_in)) (loralib), B ~ N(0, 0.02^2): a trained
 * B, so the LoRA path is not the zero of its initialisation; input ~ N(0, 1). */
static void uniform_fill(struct mb_tensor *t, uint64_t seed, uint64_t stream, double bound) {
    mb_fill_normal(t, seed, stream, 0.0, 1.0);
    const int64_t count = mb_tensor_numel(t);
    for (int64_t i = 0; i < count; i++) /* the normal CDF maps N(0, 1) draws to U(0, 1) */
        t->data[i] = (float)(bound * erf((double)t->data[i] / sqrt(2.0)));
}

static void peft_fill(struct mb_workload *w) {
    const double bound = 1.0 / sqrt((double)w->point.d);
    mb_fill_normal(&w->inputs[MB_PEFT_INPUT], w->seed, 1, 0.0, 1.0);
    uniform_fill(&w->inputs[MB_PEFT_WEIGHT], w->seed, 2, bound);
    uniform_fill(&w->inputs[MB_PEFT_BIAS], w->seed, 3, bound);
    uniform_fill(&w->inputs[MB_PEFT_LORA_A], w->seed, 4, bound);
    mb_fill_normal(&w->inputs[MB_PEFT_LORA_B], w->seed, 5, 0.0, 0.02);
}

static int peft_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[MB_PEFT_INPUT], *wt = &w->inputs[MB_PEFT_WEIGHT];
    const struct mb_tensor *a = &w->inputs[MB_PEFT_LORA_A];
    if (x->ndim != 3) return mb_errorf(err, errlen, "'input' has %d dimensions; peft expects (batch, n, d_in)", x->ndim);
    if (wt->ndim != 2 || wt->shape[1] != x->shape[2])
        return mb_errorf(err, errlen, "'weight' must be (d_out, d_in = %lld)", (long long)x->shape[2]);
    if (a->ndim != 2 || a->shape[1] != x->shape[2])
        return mb_errorf(err, errlen, "'lora_A' must be (r, d_in = %lld)", (long long)x->shape[2]);
    struct mb_workload want = {.family = w->family, .point = w->point};
    want.point.batch = x->shape[0];
    want.point.n = x->shape[1];
    want.point.d = x->shape[2];
    want.point.rank = a->shape[0];
    char d_out[32];
    snprintf(d_out, sizeof d_out, "%lld", (long long)wt->shape[0]);
    if (mb_param_set(&want.point, "d_out", d_out)) return mb_errorf(err, errlen, "peft: no d_out parameter");
    char msg[256];
    if (mb_params_parse_decls((const struct mb_param_decl *const[]){peft_params}, (const int[]){1}, 1, "peft",
                              want.point.params, MB_PARAMS_LENIENT, &want.point, msg, sizeof msg))
        return mb_errorf(err, errlen, "%s", msg);
    if (peft_layout(&want, err, errlen)) return -1;
    for (int i = 0; i < want.n_inputs; i++) {
        const struct mb_tensor *got = &w->inputs[i], *need = &want.inputs[i];
        int same = got->ndim == need->ndim;
        for (int j = 0; same && j < need->ndim; j++) same = got->shape[j] == need->shape[j];
        if (!same) return mb_errorf(err, errlen, "'%s' has the wrong shape (expected %s)", need->name, need->dims);
    }
    w->point = want.point;
    w->outputs[0] = want.outputs[0];
    w->n_outputs = 1;
    return 0;
}

const struct mb_family mb_family_peft = {
    .name = "peft",
    .summary = "input (batch, n, d_in), weight (d_out, d_in), bias (d_out), lora_A (r, d_in), lora_B (d_out, r) -> "
               "out (batch, n, d_out): a linear layer and LoRA, scaling alpha/r",
    .axes = peft_axes,
    .n_axes = (int)(sizeof peft_axes / sizeof peft_axes[0]),
    .params = peft_params,
    .n_params = (int)(sizeof peft_params / sizeof peft_params[0]),
    .probes = mb_peft_probes, .n_probes = (int)(sizeof mb_peft_probes / sizeof mb_peft_probes[0]),
    .tools = mb_peft_tools, .n_tools = (int)(sizeof mb_peft_tools / sizeof mb_peft_tools[0]),
    .mechanisms = peft_mechanisms,
    .n_mechanisms = (int)(sizeof peft_mechanisms / sizeof peft_mechanisms[0]),
    .layout = peft_layout,
    .fill = peft_fill,
    .point_from_inputs = peft_point_from_inputs,
    .check = peft_check,
};
