/* peft.adapter family: bottleneck adapters on a frozen linear layer (see family.h for the math).
 *
 *   input (batch, n, d_in), weight (d_out, d_in), bias (d_out), down_weight (m, d_src), down_bias (m),
 *   up_weight (d_out, m), up_bias (d_out) -> out (batch, n, d_out);  d_src = d_out (serial) or d_in (parallel)
 * Names as PyTorch nn.Linear modules store them (down_proj.weight -> down_weight ...). The bottleneck m is the rank
 * axis. Activation f: relu, gelu (exact erf, torch's default) or gelu_tanh (default: the tanh approximation that
 * Houlsby et al.'s code applies in feedforward_adapter, google-research/adapter-bert modeling.py, `net = gelu(net)`
 * with BERT's tanh gelu). Parallel scale s (He et al. 2022's adapter_scalar, scaling up_proj's output including its
 * bias: `up = self.up_proj(down); up = up * self.scale`). Oracle: each token's output in double. */
#include "peft/family.h"

#include "core/check.h"

#include <math.h>
#include <stdlib.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#include <sleef.h>
#endif
#include <string.h>

static const struct mb_axis_rule adapter_axes[] = {
    {MB_AXIS_n, 128, 1, 1 << 24}, {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_d, 1024, 1, 1 << 16},
    {MB_AXIS_rank, 64, 1, 1 << 16},
};

#define PARAM_ACT                                                                                                     \
    {"act", MB_PARAM_ENUM, MB_PEFT_GELU_TANH, 0, 0, MB_PEFT_ACTS,                                                     \
     "adapter nonlinearity f (PyTorch semantics): relu; gelu = exact erf GELU (nn.GELU()); gelu_tanh = "              \
     "nn.GELU(approximate='tanh'), the one of Houlsby et al.'s adapter-bert code"}

static const struct mb_param_decl adapter_params[] = {MB_PEFT_PARAM_D_OUT, PARAM_ACT};
/* For laying out a point in eval: the family's keys and the kernels' placement (its value is in the point's text) */
static const struct mb_param_decl layout_params[] = {MB_PEFT_PARAM_D_OUT, PARAM_ACT, MB_PEFT_PARAM_PLACEMENT(0)};

static int64_t source_width(const struct mb_point *p) {
    return mb_param_enum(p, "placement") == MB_PEFT_PARALLEL ? p->d : mb_peft_d_out(p);
}

/* ------------------------------------------------------------------------------------------ shared by the kernels */
static void bind(struct mb_peft_adapter *ad, const struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    mb_peft_bind(&ad->layer, w);
    ad->m = p->rank;
    ad->act = (enum mb_peft_act)mb_param_enum(p, "act");
    ad->scale = mb_param_enum(p, "placement") == MB_PEFT_PARALLEL ? (float)mb_param_real(p, "scale") : 1.0f;
    ad->down_w = w->inputs[MB_PEFT_DOWN_WEIGHT].data;
    ad->down_b = w->inputs[MB_PEFT_DOWN_BIAS].data;
    ad->up_w = w->inputs[MB_PEFT_UP_WEIGHT].data;
    ad->up_b = w->inputs[MB_PEFT_UP_BIAS].data;
}

int mb_peft_adapter_setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err,
                          size_t errlen) {
    struct mb_peft_adapter *ad = calloc(1, sizeof *ad);
    if (!ad) return mb_errorf(err, errlen, "out of memory");
    bind(ad, w);
    ad->z = mb_alloc((size_t)(ad->layer.tokens * ad->m) * sizeof(float));
    if (!ad->z) return free(ad), mb_errorf(err, errlen, "out of memory (the bottleneck activations, tokens x m)");
    *state = ad;
    return 0;
}

void mb_peft_adapter_teardown(void *state) {
    struct mb_peft_adapter *ad = state;
    mb_free(ad->z);
    free(ad);
}

int mb_peft_adapter_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len) {
    const struct mb_param_decl *own = mb_param_decl_of(k, "placement");
    const int want = (int)own->def, got = mb_param_enum(p, "placement");
    if (got != want) {
        mb_errorf(why, len, "%s is the %s adapter; placement=%s is peft.adapter.%s's", k->name,
                  want == MB_PEFT_PARALLEL ? "parallel" : "serial", got == MB_PEFT_PARALLEL ? "parallel" : "serial",
                  got == MB_PEFT_PARALLEL ? "parallel" : "serial");
        return 1;
    }
    return 0;
}

/* FLOPs: the base GEMM, the two bottleneck GEMMs 2 n m (d_src + d_out), the bias adds n (m + d_out), the residual
   n d_out (+ n d_out for s); the activation is not counted. */
double mb_peft_adapter_flops(const struct mb_kernel *k, const struct mb_point *p) {
    const double tokens = (double)p->batch * (double)p->n, m = (double)p->rank, d_out = (double)mb_peft_d_out(p);
    const double parallel = mb_param_enum(p, "placement") == MB_PEFT_PARALLEL;
    return mb_peft_base_flops(k, p) + 2.0 * tokens * m * ((double)source_width(p) + d_out) +
           tokens * (m + (2.0 + parallel) * d_out);
}

double mb_peft_adapter_bytes(const struct mb_kernel *k, const struct mb_point *p) {
    const double m = (double)p->rank, d_out = (double)mb_peft_d_out(p);
    return mb_peft_io_bytes(k, p) + 4.0 * (m * (double)source_width(p) + m + d_out * m + d_out);
}

double mb_peft_adapter_workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 4.0 * (double)p->batch * (double)p->n * (double)p->rank;
}

static float act_float(enum mb_peft_act act, float x) {
    switch (act) {
    case MB_PEFT_RELU: return x > 0.0f ? x : 0.0f;
    case MB_PEFT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    default: return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    }
}

/* z[i] = f(z[i]) for i < count. The AVX-512 copy takes tanh and erf from SLEEF (1.0 ULP): the n m activations of a
   prefill cost ~4% of the adapter layer with libm's scalar tanhf (n = 1024, d = 1024, m = 64), ~0.3% so. */
static void act_in_place(enum mb_peft_act act, float *z, int64_t count) {
    int64_t i = 0;
#if defined(__AVX512F__)
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (; act != MB_PEFT_RELU && i + 16 <= count; i += 16) {
        const __m512 x = _mm512_loadu_ps(z + i);
        __m512 t;
        if (act == MB_PEFT_GELU) {
            t = Sleef_erff16_u10(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
        } else {
            const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
            const __m512 inner = _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x);
            t = Sleef_tanhf16_u10(_mm512_mul_ps(_mm512_set1_ps(0.79788456080286536f), inner));
        }
        _mm512_storeu_ps(z + i, _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, t)));
    }
#endif
    for (; i < count; i++) z[i] = act_float(act, z[i]);
}

double mb_peft_act_double(enum mb_peft_act act, double x) {
    switch (act) {
    case MB_PEFT_RELU: return x > 0 ? x : 0;
    case MB_PEFT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    default: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    }
}

void mb_peft_bottleneck_rows(const struct mb_peft_adapter *ad, const float *src, int64_t d_src, int64_t rows,
                             float *z, float *out) {
    if (rows <= 0) return;
    const int64_t m = ad->m, d_out = ad->layer.d_out;
    for (int64_t i = 0; i < rows; i++) memcpy(z + i * m, ad->down_b, (size_t)m * sizeof(float));
    mb_peft_gemm_xwt(rows, m, d_src, 1.0f, src, ad->down_w, 1.0f, z);
    act_in_place(ad->act, z, rows * m);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t o = 0; o < d_out; o++) out[i * d_out + o] += ad->scale * ad->up_b[o];
    mb_peft_gemm_xwt(rows, d_out, m, ad->scale, z, ad->up_w, 1.0f, out);
}

/* ------------------------------------------------------------------------------------------ oracle */
struct oracle_ctx {
    struct mb_peft_adapter ad;
    int parallel;
    int64_t d_src;
};

/* scratch: d_out doubles (h) + m (the bottleneck) */
static void row_oracle(const void *ctx, int64_t row, double *scratch, double *want) {
    const struct oracle_ctx *c = ctx;
    const struct mb_peft_adapter *ad = &c->ad;
    const struct mb_peft *pf = &ad->layer;
    const float *x = pf->x + row * pf->d_in;
    double *h = scratch, *z = scratch + pf->d_out;
    mb_peft_linear_oracle(x, pf->w0, pf->bias, pf->d_in, pf->d_out, h);
    for (int64_t q = 0; q < ad->m; q++) {
        double s = ad->down_b[q];
        const float *wq = ad->down_w + q * c->d_src;
        for (int64_t i = 0; i < c->d_src; i++) s += (double)wq[i] * (c->parallel ? (double)x[i] : h[i]);
        z[q] = mb_peft_act_double(ad->act, s);
    }
    for (int64_t o = 0; o < pf->d_out; o++) {
        double u = ad->up_b[o];
        for (int64_t q = 0; q < ad->m; q++) u += (double)ad->up_w[o * ad->m + q] * z[q];
        want[o] = h[o] + (double)ad->scale * u;
    }
}

static const struct mb_mechanism adapter_mechanisms[] = {
    {"serial", "h = input W0^T + bias; out = h + f(h W_down^T + b_down) W_up^T + b_up", 1e-5,
     (void (*)(void))row_oracle},
    {"parallel", "h = input W0^T + bias; out = h + s (f(input W_down^T + b_down) W_up^T + b_up)", 1e-5,
     (void (*)(void))row_oracle},
};

static int adapter_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism,
                         const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    struct oracle_ctx ctx = {.parallel = !strcmp(mechanism, "parallel")};
    if (ctx.parallel != (mb_param_enum(&w->point, "placement") == MB_PEFT_PARALLEL))
        return mb_errorf(err, errlen, "peft.adapter: the workload was laid out for the other placement than %s",
                         mechanism);
    bind(&ctx.ad, w);
    ctx.d_src = ctx.parallel ? ctx.ad.layer.d_in : ctx.ad.layer.d_out;
    const struct mb_row_check c = {.width = ctx.ad.layer.d_out, .scratch = ctx.ad.layer.d_out + ctx.ad.m,
                                   .got = ctx.ad.layer.out, .oracle = row_oracle, .ctx = &ctx};
    return mb_check_sampled(&c, 1, ctx.ad.layer.tokens, 0, opts, out, err, errlen);
}

/* ------------------------------------------------------------------------------------------ workload */
static int adapter_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    const int64_t d_out = mb_peft_d_out(p), d_src = source_width(p);
    if (mb_peft_check_size((double)p->batch * (double)p->n, p->d > d_out ? p->d : d_out, "batch*n*max(d, d_out)",
                           err, errlen) ||
        mb_peft_check_size((double)p->batch * (double)p->n, p->rank, "batch*n*m", err, errlen) ||
        mb_peft_check_rank(p->rank, 1 << 16, "bottleneck m", "the adapter's hidden width", err, errlen))
        return -1;
    mb_peft_layout_layer(w, d_out, p->n);
    const int parallel = mb_param_enum(p, "placement") == MB_PEFT_PARALLEL;
    mb_tensor_set(&w->inputs[MB_PEFT_DOWN_WEIGHT], "down_weight", parallel ? "m,d_in" : "m,d_out", 2, p->rank, d_src,
                  0, 0);
    mb_tensor_set(&w->inputs[MB_PEFT_DOWN_BIAS], "down_bias", "m", 1, p->rank, 0, 0, 0);
    mb_tensor_set(&w->inputs[MB_PEFT_UP_WEIGHT], "up_weight", "d_out,m", 2, d_out, p->rank, 0, 0);
    mb_tensor_set(&w->inputs[MB_PEFT_UP_BIAS], "up_bias", "d_out", 1, d_out, 0, 0, 0);
    w->n_inputs = 7;
    return 0;
}

static int adapter_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[MB_PEFT_INPUT], *wt = &w->inputs[MB_PEFT_WEIGHT];
    const struct mb_tensor *down = &w->inputs[MB_PEFT_DOWN_WEIGHT];
    if (x->ndim != 3)
        return mb_errorf(err, errlen, "'input' has %d dimensions; peft.adapter expects (batch, n, d_in)", x->ndim);
    if (mb_peft_expect_cols(wt, x->shape[2], "(d_out, d_in) with d_in = input's last dimension", err, errlen)) return -1;
    if (down->ndim != 2)
        return mb_errorf(err, errlen, "'down_weight' has %d dimensions; expected 2: (m, %s)", down->ndim,
                         mb_param_enum(&w->point, "placement") == MB_PEFT_PARALLEL ? "d_in" : "d_out");
    struct mb_point pt = w->point;
    pt.batch = x->shape[0];
    pt.n = x->shape[1];
    pt.d = x->shape[2];
    pt.rank = down->shape[0];
    if (mb_peft_set_d_out(&pt, wt->shape[0], err, errlen)) return -1;
    return mb_peft_eval_finish(w, &pt, layout_params, (int)(sizeof layout_params / sizeof layout_params[0]), err,
                               errlen);
}

const struct mb_family mb_family_peft_adapter = {
    .name = "peft.adapter",
    .summary = "input (batch, n, d_in), weight, bias, down_weight (m, d_out | d_in), down_bias (m), up_weight (d_out, m), "
               "up_bias (d_out) -> out (batch, n, d_out): bottleneck adapters on a frozen linear layer",
    .axes = adapter_axes,
    .n_axes = (int)(sizeof adapter_axes / sizeof adapter_axes[0]),
    .params = adapter_params,
    .n_params = (int)(sizeof adapter_params / sizeof adapter_params[0]),
    .mechanisms = adapter_mechanisms,
    .n_mechanisms = (int)(sizeof adapter_mechanisms / sizeof adapter_mechanisms[0]),
    .layout = adapter_layout,
    .fill = mb_peft_fill,
    .point_from_inputs = adapter_point_from_inputs,
    .check = adapter_check,
};
