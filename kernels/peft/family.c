/* peft family: workload (input, weight, bias, lora_A, lora_B [, scaling] -> out), the double-precision row oracles
 * of the linear layer and of LoRA, and the helpers every peft family shares (layouts, seeded fills, eval, the
 * per-thread GEMM, models). See family.h for the math. */
#include "peft/family.h"
#include "core/vmask.h"
#include "peft/finetune.h"

#include "core/check.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule peft_axes[] = {
    {MB_AXIS_n, 128, 1, 1 << 24}, {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_d, 1024, 1, 1 << 16},
    {MB_AXIS_rank, 8, 0, 1 << 16}, {MB_AXIS_alpha, 0, 0, 1e6}, /* rank 0: a kernel that does not read it */
};

static const struct mb_param_decl peft_params[] = {MB_PEFT_PARAM_D_OUT, MB_PEFT_PARAM_SCALING_FROM};

/* ------------------------------------------------------------------------------------------ shared: point, models */
int64_t mb_peft_d_out(const struct mb_point *p) {
    const int64_t d_out = mb_param_int(p, "d_out");
    return d_out > 0 ? d_out : p->d;
}

double mb_peft_scaling(const struct mb_point *p) {
    const double r = p->rank > 0 ? (double)p->rank : 1.0;
    return (p->alpha > 0 ? p->alpha : r) / r;
}

static const struct mb_tensor *tensor_named(const struct mb_workload *w, const char *name) {
    for (int i = 0; i < w->n_inputs; i++)
        if (!strcmp(w->inputs[i].name, name)) return &w->inputs[i];
    return NULL;
}

static const float *data_named(const struct mb_workload *w, const char *name) {
    const struct mb_tensor *t = tensor_named(w, name);
    return t ? t->data : NULL;
}

void mb_peft_bind(struct mb_peft *pf, const struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    const int merge = w->family == &mb_family_peft_lora;
    pf->tokens = merge ? 0 : p->batch * p->n;
    pf->d_in = p->d;
    pf->d_out = merge ? (p->n > 0 ? p->n : p->d) : mb_peft_d_out(p);
    pf->r = p->rank;
    pf->scaling = (float)mb_peft_scaling(p);
    pf->x = data_named(w, "input");
    pf->w0 = data_named(w, "weight");
    pf->bias = data_named(w, "bias");
    pf->a = data_named(w, "lora_A");
    pf->b = data_named(w, "lora_B");
    pf->out = w->outputs[0].data;
}

double mb_peft_base_flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 2.0 * (double)p->batch * (double)p->n * (double)p->d * (double)mb_peft_d_out(p);
}

double mb_peft_io_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const double tokens = (double)p->batch * (double)p->n, d_out = (double)mb_peft_d_out(p);
    return 4.0 * (tokens * (double)p->d + d_out * (double)p->d + d_out + tokens * d_out);
}

double mb_peft_no_workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p MB_UNUSED) { return 0; }

int mb_peft_setup_bound(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err,
                        size_t errlen) {
    struct mb_peft *pf = malloc(sizeof *pf);
    if (!pf) return mb_errorf(err, errlen, "out of memory");
    mb_peft_bind(pf, w);
    *state = pf;
    return 0;
}

/* ------------------------------------------------------------------------------------------ shared: GEMM */
void mb_peft_token_range(int64_t tokens, int64_t *t0, int64_t *t1) {
    const int64_t threads = omp_get_num_threads(), me = omp_get_thread_num();
    *t0 = tokens * me / threads;
    *t1 = tokens * (me + 1) / threads;
}

void mb_peft_linear_rows(const float *x, const float *w, const float *bias, int64_t rows, int64_t d_in, int64_t d_out,
                         float *out) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t o = 0; o < d_out; o++) out[i * d_out + o] = bias[o];
    mb_peft_gemm_xwt(rows, d_out, d_in, 1.0f, x, w, 1.0f, out);
}

#if defined(__AVX512F__)
/* out[r][o] = alpha x_r . w_o (+ beta out[r][o]) for OB rows o0.. of W and RB rows r0.. of x: OB x RB accumulators,
   each step loads OB W vectors and RB x vectors for OB RB FMAs; the dot products reduced at the end. */
static inline __attribute__((always_inline)) void small_m_tile(const int OB, const int RB, int64_t o0, int64_t r0,
                                                               int64_t cols, int64_t inner, float alpha,
                                                               const float *x, const float *w, float beta, float *out) {
    __m512 acc[4][6];
    for (int a = 0; a < OB; a++)
        for (int b = 0; b < RB; b++) acc[a][b] = _mm512_setzero_ps();
    for (int64_t i = 0; i < inner; i += 16) {
        const __mmask16 m = mb_mask16_first(inner - i);
        __m512 wv[4], xv[6];
        for (int a = 0; a < OB; a++) wv[a] = _mm512_maskz_loadu_ps(m, w + (o0 + a) * inner + i);
        for (int b = 0; b < RB; b++) xv[b] = _mm512_maskz_loadu_ps(m, x + (r0 + b) * inner + i);
        for (int a = 0; a < OB; a++)
            for (int b = 0; b < RB; b++) acc[a][b] = _mm512_fmadd_ps(wv[a], xv[b], acc[a][b]);
    }
    for (int a = 0; a < OB; a++)
        for (int b = 0; b < RB; b++) {
            float *o = out + (r0 + b) * cols + o0 + a;
            const float dot = alpha * _mm512_reduce_add_ps(acc[a][b]);
            *o = beta == 0.0f ? dot : dot + beta * *o;
        }
}

#define SMALL_M_ROWS 16
/* OB rows of W from o0 against every row of x, in blocks of up to 6 rows. */
static inline __attribute__((always_inline)) void small_m_rows(const int OB, int64_t o0, int64_t rows, int64_t cols,
                                                               int64_t inner, float alpha, const float *x,
                                                               const float *w, float beta, float *out) {
    for (int64_t r0 = 0; r0 < rows; r0 += 6) {
        switch (rows - r0 >= 6 ? 6 : (int)(rows - r0)) {
        case 1: small_m_tile(OB, 1, o0, r0, cols, inner, alpha, x, w, beta, out); break;
        case 2: small_m_tile(OB, 2, o0, r0, cols, inner, alpha, x, w, beta, out); break;
        case 3: small_m_tile(OB, 3, o0, r0, cols, inner, alpha, x, w, beta, out); break;
        case 4: small_m_tile(OB, 4, o0, r0, cols, inner, alpha, x, w, beta, out); break;
        case 5: small_m_tile(OB, 5, o0, r0, cols, inner, alpha, x, w, beta, out); break;
        default: small_m_tile(OB, 6, o0, r0, cols, inner, alpha, x, w, beta, out); break;
        }
    }
}

/* A few rows (2..SMALL_M_ROWS): each block of 4 rows of W is read once for all rows of x, in blocks of up to 6 (x's
   rows stay in L1/L2). OpenBLAS 0.3.21's sgemm packs all of W first, whatever M: at d = 4096 (64 MiB of W) 4 rows
   took 13.2 ms and 16 rows 18.5 ms, against 3.1 ms for one row by sgemv. */
static void gemm_small_m(int64_t rows, int64_t cols, int64_t inner, float alpha, const float *x, const float *w,
                         float beta, float *out) {
    int64_t o0 = 0;
    for (; o0 + 4 <= cols; o0 += 4) small_m_rows(4, o0, rows, cols, inner, alpha, x, w, beta, out);
    for (; o0 < cols; o0++) small_m_rows(1, o0, rows, cols, inner, alpha, x, w, beta, out);
}
#endif

void mb_peft_gemm_xwt(int64_t rows, int64_t cols, int64_t inner, float alpha, const float *x, const float *w, float beta,
                      float *out) {
#if defined(__AVX512F__)
    if (rows >= 2 && rows <= SMALL_M_ROWS) {
        gemm_small_m(rows, cols, inner, alpha, x, w, beta, out);
        return;
    }
#endif
    if (rows == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)cols, (int)inner, alpha, w, (int)inner, x, 1, beta, out, 1);
    else if (rows > 1)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)inner, alpha, x, (int)inner, w,
                    (int)inner, beta, out, (int)cols);
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

/* ------------------------------------------------------------------------------------------ shared: layouts, fills */
int mb_peft_check_size(double rows, int64_t width, const char *what, char *err, size_t errlen) {
    if (rows * (double)width > (double)(INT64_C(1) << 34))
        return mb_errorf(err, errlen, "%s = %.3g elements is too large (max 2^34)", what, rows * (double)width);
    return 0;
}

int mb_peft_check_rank(int64_t value, int64_t max, const char *what, const char *max_meaning, char *err,
                       size_t errlen) {
    if (value < 1 || value > max)
        return mb_errorf(err, errlen, "%s = %lld is out of range (allowed: 1..%lld, %s)", what, (long long)value,
                         (long long)max, max_meaning);
    return 0;
}

void mb_peft_layout_layer(struct mb_workload *w, int64_t d_out, int64_t rows) {
    const struct mb_point *p = &w->point;
    mb_tensor_set(&w->inputs[MB_PEFT_INPUT], "input", "batch,n,d_in", 3, p->batch, p->n, p->d, 0);
    mb_tensor_set(&w->inputs[MB_PEFT_WEIGHT], "weight", "d_out,d_in", 2, d_out, p->d, 0, 0);
    mb_tensor_set(&w->inputs[MB_PEFT_BIAS], "bias", "d_out", 1, d_out, 0, 0, 0);
    w->n_inputs = 3;
    mb_tensor_set(&w->outputs[0], "out", rows == p->n ? "batch,n,d_out" : "batch,L_p+n,d_out", 3, p->batch, rows,
                  d_out, 0);
    w->n_outputs = 1;
}

void mb_peft_layout_lora(struct mb_workload *w, int64_t r, int64_t d_in, int64_t d_out) {
    mb_tensor_set(&w->inputs[w->n_inputs++], "lora_A", "r,d_in", 2, r, d_in, 0, 0);
    mb_tensor_set(&w->inputs[w->n_inputs++], "lora_B", "d_out,r", 2, d_out, r, 0, 0);
    if (mb_param_enum(&w->point, "scaling_from") == 1)
        mb_tensor_set(&w->inputs[w->n_inputs++], "scaling", "1", 1, 1, 0, 0, 0);
}

static void fill_uniform(struct mb_tensor *t, uint64_t seed, uint64_t stream, double bound) {
    mb_fill_normal(t, seed, stream, 0.0, 1.0);
    const int64_t count = mb_tensor_numel(t);
    for (int64_t i = 0; i < count; i++) /* the normal CDF maps N(0, 1) draws to U(0, 1) */
        t->data[i] = (float)(bound * erf((double)t->data[i] / sqrt(2.0)));
}

/* How each named tensor is drawn: N(0, std^2), or U(+-1/sqrt(fan_in)) with fan_in the second dimension of the
   tensor `fan_of` (nn.Linear's init of a weight and of its bias). */
static const struct {
    const char *name;
    uint64_t stream;
    double std;         /* > 0: normal */
    const char *fan_of; /* else uniform */
} fills[] = {
    {"input", 1, 1.0, NULL},          {"weight", 2, 0, "weight"},           {"bias", 3, 0, "weight"},
    {"lora_A", 4, 0, "lora_A"},       {"lora_B", 5, 0.02, NULL},            {"down_weight", 6, 0, "down_weight"},
    {"down_bias", 7, 0, "down_weight"}, {"up_weight", 8, 0.02, NULL},       {"up_bias", 9, 0.02, NULL},
    {"prompt", 10, 1.0, NULL},
};

void mb_peft_fill(struct mb_workload *w) {
    for (int i = 0; i < w->n_inputs; i++) {
        struct mb_tensor *t = &w->inputs[i];
        if (!strcmp(t->name, "scaling")) t->data[0] = (float)mb_peft_scaling(&w->point);
        for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
            if (strcmp(t->name, fills[f].name)) continue;
            if (fills[f].std > 0) {
                mb_fill_normal(t, w->seed, fills[f].stream, 0.0, fills[f].std);
                continue;
            }
            const struct mb_tensor *fan = tensor_named(w, fills[f].fan_of);
            fill_uniform(t, w->seed, fills[f].stream, 1.0 / sqrt((double)fan->shape[1]));
        }
    }
}

/* ------------------------------------------------------------------------------------------ shared: eval */
/* ", name," in ",list," */
static int has_name(const char *list, const char *name) {
    char hay[600], needle[64];
    snprintf(hay, sizeof hay, ",%s,", list);
    snprintf(needle, sizeof needle, ",%s,", name);
    return strstr(hay, needle) != NULL;
}

int mb_peft_choose_scaling(struct mb_workload *w, const char *present, char *err, size_t errlen) {
    if (mb_param_set(&w->point, "scaling_from", has_name(present, "scaling") ? "input" : "alpha"))
        return mb_errorf(err, errlen, "%s: no scaling_from parameter to set", w->family->name);
    return 0;
}

int mb_peft_alpha_from_scaling(const struct mb_workload *w, struct mb_point *pt, char *err, size_t errlen) {
    const struct mb_tensor *s = tensor_named(w, "scaling");
    if (!s) return 0;
    if (s->ndim > 1 || mb_tensor_numel(s) != 1)
        return mb_errorf(err, errlen, "'scaling' must be a scalar or shape (1,) (LoRA's alpha/r); it has %lld values",
                         (long long)mb_tensor_numel(s));
    const double v = s->data[0];
    if (!(v > 0) || !isfinite(v))
        return mb_errorf(err, errlen, "'scaling' = %g is not allowed (LoRA's alpha/r must be finite and > 0)", v);
    pt->alpha = v * (double)pt->rank;
    return 0;
}

int mb_peft_set_d_out(struct mb_point *pt, int64_t value, char *err, size_t errlen) {
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)value);
    if (mb_param_set(pt, "d_out", text)) return mb_errorf(err, errlen, "peft: no d_out parameter");
    return 0;
}

int mb_peft_expect_cols(const struct mb_tensor *t, int64_t cols, const char *layout, char *err, size_t errlen) {
    if (t->ndim != 2 || t->shape[1] != cols)
        return mb_errorf(err, errlen, "'%s' must be %s (found %d dimensions%s%lld)", t->name, layout, t->ndim,
                         t->ndim == 2 ? ", second " : "", t->ndim == 2 ? (long long)t->shape[1] : 0LL);
    return 0;
}

int mb_peft_eval_finish(struct mb_workload *w, const struct mb_point *pt, const struct mb_param_decl *decls,
                        int n_decls, char *err, size_t errlen) {
    struct mb_workload want = {.family = w->family, .point = *pt};
    char msg[256];
    if (mb_params_parse_decls((const struct mb_param_decl *const[]){decls}, (const int[]){n_decls}, 1,
                              w->family->name, want.point.params, MB_PARAMS_LENIENT, &want.point, msg, sizeof msg))
        return mb_errorf(err, errlen, "%s", msg);
    if (w->family->layout(&want, err, errlen)) return -1;
    if (want.n_inputs != w->n_inputs) return mb_errorf(err, errlen, "%s: the inputs changed", w->family->name);
    for (int i = 0; i < want.n_inputs; i++) {
        const struct mb_tensor *got = &w->inputs[i], *need = &want.inputs[i];
        int same = got->ndim == need->ndim;
        for (int j = 0; same && j < need->ndim; j++) same = got->shape[j] == need->shape[j];
        if (!strcmp(need->name, "scaling")) same = got->ndim <= 1 && mb_tensor_numel(got) == 1;
        if (!same) return mb_errorf(err, errlen, "'%s' has the wrong shape (expected (%s))", need->name, need->dims);
    }
    w->point = *pt;
    w->n_outputs = want.n_outputs;
    for (int i = 0; i < want.n_outputs; i++) w->outputs[i] = want.outputs[i];
    return 0;
}

/* ------------------------------------------------------------------------------------------ oracles */
void mb_peft_linear_oracle(const float *x, const float *w0, const float *bias, int64_t d_in, int64_t d_out,
                           double *want) {
    for (int64_t o = 0; o < d_out; o++) {
        double s = bias[o];
        for (int64_t i = 0; i < d_in; i++) s += (double)w0[o * d_in + i] * x[i];
        want[o] = s;
    }
}

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
    mb_peft_linear_oracle(x, pf->w0, pf->bias, pf->d_in, pf->d_out, want);
    if (!c->lora) return;
    for (int64_t q = 0; q < pf->r; q++) {
        double s = 0;
        for (int64_t i = 0; i < pf->d_in; i++) s += (double)pf->a[q * pf->d_in + i] * x[i];
        scratch[q] = s;
    }
    for (int64_t o = 0; o < pf->d_out; o++) {
        double u = 0;
        for (int64_t q = 0; q < pf->r; q++) u += (double)pf->b[o * pf->r + q] * scratch[q];
        want[o] += c->scaling * u;
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
    const int64_t d_out = mb_peft_d_out(p), r = p->rank > 0 ? p->rank : 1, d_min = p->d < d_out ? p->d : d_out;
    if (mb_peft_check_size((double)p->batch * (double)p->n, p->d > d_out ? p->d : d_out, "batch*n*max(d, d_out)",
                           err, errlen) ||
        mb_peft_check_rank(r, d_min, "rank r", "min(d_in, d_out)", err, errlen))
        return -1;
    mb_peft_layout_layer(w, d_out, p->n);
    mb_peft_layout_lora(w, r, p->d, d_out);
    return 0;
}

static int peft_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[MB_PEFT_INPUT], *wt = &w->inputs[MB_PEFT_WEIGHT];
    if (x->ndim != 3) return mb_errorf(err, errlen, "'input' has %d dimensions; peft expects (batch, n, d_in)", x->ndim);
    if (mb_peft_expect_cols(wt, x->shape[2], "(d_out, d_in) with d_in = input's last dimension", err, errlen) ||
        mb_peft_expect_cols(&w->inputs[MB_PEFT_LORA_A], x->shape[2], "(r, d_in) with d_in = input's last dimension",
                            err, errlen))
        return -1;
    struct mb_point pt = w->point;
    pt.batch = x->shape[0];
    pt.n = x->shape[1];
    pt.d = x->shape[2];
    pt.rank = w->inputs[MB_PEFT_LORA_A].shape[0];
    if (mb_peft_alpha_from_scaling(w, &pt, err, errlen) || mb_peft_set_d_out(&pt, wt->shape[0], err, errlen)) return -1;
    return mb_peft_eval_finish(w, &pt, peft_params, (int)(sizeof peft_params / sizeof peft_params[0]), err, errlen);
}

const struct mb_family mb_family_peft = {
    .name = "peft",
    .summary = "input (batch, n, d_in), weight (d_out, d_in), bias (d_out), lora_A (r, d_in), lora_B (d_out, r) "
               "[, scaling] -> out (batch, n, d_out): a linear layer and LoRA, scaling alpha/r",
    .axes = peft_axes,
    .n_axes = (int)(sizeof peft_axes / sizeof peft_axes[0]),
    .params = peft_params,
    .n_params = (int)(sizeof peft_params / sizeof peft_params[0]),
    .probes = mb_peft_probes, .n_probes = (int)(sizeof mb_peft_probes / sizeof mb_peft_probes[0]),
    .tools = mb_peft_tools, .n_tools = (int)(sizeof mb_peft_tools / sizeof mb_peft_tools[0]),
    .mechanisms = peft_mechanisms,
    .n_mechanisms = (int)(sizeof peft_mechanisms / sizeof peft_mechanisms[0]),
    .layout = peft_layout,
    .fill = mb_peft_fill,
    .point_from_inputs = peft_point_from_inputs,
    .check = peft_check,
    .choose_inputs = mb_peft_choose_scaling,
};
