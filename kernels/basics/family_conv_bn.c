/* basics.conv_bn family: workload (input, weight, [bias], bn_weight, bn_bias, [running_mean, running_var] -> out,
 * [running_mean, running_var]), the double-precision oracle of the convolution followed by BatchNorm (training mode)
 * or LayerNorm over channels, and the kernels' models. See family_conv_bn.h for the math. */
#include "basics/family_conv_bn.h"
#include "basics/family.h"

#include "core/check.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule conv_bn_axes[] = {
    {MB_AXIS_n, 16, 1, 4096},        /* C_out */
    {MB_AXIS_batch, 8, 1, 4096},     {MB_AXIS_channels, 8, 1, 4096}, /* C_in */
    {MB_AXIS_height, 32, 1, 8192},   {MB_AXIS_width, 32, 1, 8192},   {MB_AXIS_ksize, 3, 1, 63},
};

static const struct mb_param_decl conv_bn_params[] = {
    {"norm", MB_PARAM_ENUM, MB_NORM_BATCH, 0, 0, "batch|layer",
     "BatchNorm2d in training mode, or LayerNorm over the C_out channels of each position"},
    {"use_bias", MB_PARAM_BOOL, 1, 0, 1, NULL, "the convolution adds its bias (nn.Conv2d(bias=...))"},
    {"stride", MB_PARAM_INT, 1, 1, 64, NULL, "convolution stride"},
    {"padding", MB_PARAM_INT, 0, 0, 64, NULL, "zero padding on every side"},
};

int64_t mb_conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
    const int64_t span = in + 2 * pad - k;
    return span < 0 ? 0 : span / stride + 1;
}

/* The shapes and switches of point p (no tensors). */
static void conv_bn_shapes(const struct mb_point *p, struct mb_conv_bn *cb) {
    memset(cb, 0, sizeof *cb);
    cb->batch = p->batch, cb->c_in = p->channels, cb->c_out = p->n, cb->h = p->height, cb->w = p->width;
    cb->k = p->ksize, cb->stride = mb_param_int(p, "stride"), cb->pad = mb_param_int(p, "padding");
    cb->h_out = mb_conv_out_size(cb->h, cb->k, cb->stride, cb->pad);
    cb->w_out = mb_conv_out_size(cb->w, cb->k, cb->stride, cb->pad);
    cb->norm = (enum mb_norm)mb_param_enum(p, "norm");
    cb->use_bias = mb_param_bool(p, "use_bias");
}

static const struct mb_tensor *tensor_named(const struct mb_tensor *t, int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    return NULL;
}

static const float *input_data(const struct mb_workload *w, const char *name) {
    const struct mb_tensor *t = tensor_named(w->inputs, w->n_inputs, name);
    return t ? t->data : NULL;
}

static float *output_data(const struct mb_workload *w, const char *name) {
    const struct mb_tensor *t = tensor_named(w->outputs, w->n_outputs, name);
    return t ? t->data : NULL;
}

void mb_conv_bn_bind(struct mb_conv_bn *cb, const struct mb_workload *w) {
    conv_bn_shapes(&w->point, cb);
    cb->x = input_data(w, "input"), cb->weight = input_data(w, "weight");
    cb->bias = cb->use_bias ? input_data(w, "bias") : NULL;
    cb->gamma = input_data(w, "bn_weight"), cb->beta = input_data(w, "bn_bias");
    cb->mean_in = input_data(w, "running_mean"), cb->var_in = input_data(w, "running_var");
    cb->out = output_data(w, "out");
    cb->mean_out = output_data(w, "running_mean"), cb->var_out = output_data(w, "running_var");
}

double mb_conv_bn_flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_conv_bn cb;
    conv_bn_shapes(p, &cb);
    const double outputs = (double)cb.batch * (double)cb.c_out * (double)cb.h_out * (double)cb.w_out;
    /* per output: 2 C_in k^2 (conv), 1 (bias), ~7 (statistics: sum, deviation squared; normalise and affine) */
    return outputs * (2.0 * (double)cb.c_in * (double)cb.k * (double)cb.k + (cb.use_bias ? 1 : 0) + 7);
}

double mb_conv_bn_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_conv_bn cb;
    conv_bn_shapes(p, &cb);
    const double outputs = (double)cb.batch * (double)cb.c_out * (double)cb.h_out * (double)cb.w_out;
    const double inputs = (double)cb.batch * (double)cb.c_in * (double)cb.h * (double)cb.w;
    const double weights = (double)cb.c_out * ((double)cb.c_in * (double)cb.k * (double)cb.k + 7);
    return 4.0 * (inputs + weights + outputs * (cb.norm == MB_NORM_BATCH ? 3 : 1));
}

/* ------------------------------------------------------------------------------------------ oracle */
struct oracle_ctx {
    struct mb_conv_bn cb;
    double *mean, *var; /* batch: per channel, over the whole batch (biased variance) */
};

/* z[n, o, i, j] in double (the bias included when used). */
static double conv_at(const struct mb_conv_bn *cb, int64_t n, int64_t o, int64_t i, int64_t j) {
    double z = cb->bias ? cb->bias[o] : 0;
    for (int64_t c = 0; c < cb->c_in; c++)
        for (int64_t p = 0; p < cb->k; p++) {
            const int64_t y = i * cb->stride - cb->pad + p;
            if (y < 0 || y >= cb->h) continue;
            const float *xr = cb->x + ((n * cb->c_in + c) * cb->h + y) * cb->w;
            const float *wr = cb->weight + ((o * cb->c_in + c) * cb->k + p) * cb->k;
            for (int64_t q = 0; q < cb->k; q++) {
                const int64_t x = j * cb->stride - cb->pad + q;
                if (x >= 0 && x < cb->w) z += (double)wr[q] * xr[x];
            }
        }
    return z;
}

/* Per-channel batch mean and biased variance of z, in double (Welford's update), OpenMP over channels. */
static void batch_statistics(struct oracle_ctx *c) {
    const struct mb_conv_bn *cb = &c->cb;
#pragma omp parallel for schedule(dynamic)
    for (int64_t o = 0; o < cb->c_out; o++) {
        double mean = 0, m2 = 0, count = 0;
        for (int64_t n = 0; n < cb->batch; n++)
            for (int64_t i = 0; i < cb->h_out; i++)
                for (int64_t j = 0; j < cb->w_out; j++) {
                    const double z = conv_at(cb, n, o, i, j), delta = z - mean;
                    count++;
                    mean += delta / count;
                    m2 += delta * (z - mean);
                }
        c->mean[o] = mean;
        c->var[o] = m2 / count;
    }
}

/* Row r = (n, o, i): the W' outputs out[n, o, i, :]. layer: scratch holds z[n, :, i, :] (C_out x W'). */
static void row_oracle(const void *ctx, int64_t row, double *scratch, double *want) {
    const struct oracle_ctx *c = ctx;
    const struct mb_conv_bn *cb = &c->cb;
    const int64_t i = row % cb->h_out, o = row / cb->h_out % cb->c_out, n = row / cb->h_out / cb->c_out;
    if (cb->norm == MB_NORM_BATCH) {
        const double inv_std = 1.0 / sqrt(c->var[o] + MB_NORM_EPS);
        for (int64_t j = 0; j < cb->w_out; j++)
            want[j] = (conv_at(cb, n, o, i, j) - c->mean[o]) * inv_std * cb->gamma[o] + cb->beta[o];
        return;
    }
    for (int64_t q = 0; q < cb->c_out; q++)
        for (int64_t j = 0; j < cb->w_out; j++) scratch[q * cb->w_out + j] = conv_at(cb, n, q, i, j);
    for (int64_t j = 0; j < cb->w_out; j++) {
        double sum = 0, dev = 0;
        for (int64_t q = 0; q < cb->c_out; q++) sum += scratch[q * cb->w_out + j];
        const double mean = sum / (double)cb->c_out;
        for (int64_t q = 0; q < cb->c_out; q++) {
            const double e = scratch[q * cb->w_out + j] - mean;
            dev += e * e;
        }
        want[j] = (scratch[o * cb->w_out + j] - mean) / sqrt(dev / (double)cb->c_out + MB_NORM_EPS) * cb->gamma[o] +
                  cb->beta[o];
    }
}

/* The updated running statistics against (1 - m) old + m batch statistic (unbiased variance). */
static void running_errors(const struct oracle_ctx *c, struct mb_errors *out) {
    const struct mb_conv_bn *cb = &c->cb;
    const double count = (double)(cb->batch * cb->h_out * cb->w_out), m = MB_BN_MOMENTUM;
    double want;
    struct mb_errors mean_err, var_err;
    mb_errors_reset(&mean_err);
    mb_errors_reset(&var_err);
    for (int64_t o = 0; o < cb->c_out; o++) {
        want = (1 - m) * cb->mean_in[o] + m * c->mean[o];
        mb_errors_add(&mean_err, &cb->mean_out[o], &want, 1);
        want = (1 - m) * cb->var_in[o] + m * c->var[o] * count / (count - 1);
        mb_errors_add(&var_err, &cb->var_out[o], &want, 1);
    }
    mb_errors_finish(&mean_err);
    mb_errors_finish(&var_err);
    mb_basics_errors_worst(out, &mean_err);
    mb_basics_errors_worst(out, &var_err);
}

static const struct mb_mechanism conv_bn_mechanisms[] = {
    {"conv_norm",
     "out = norm(conv2d(input, weight) [+ bias]); norm = BatchNorm2d (training: batch statistics) or LayerNorm(C_out)",
     1e-4, (void (*)(void))row_oracle},
};

static int conv_bn_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism,
                         const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    if (strcmp(mechanism, "conv_norm"))
        return mb_errorf(err, errlen, "basics.conv_bn: unknown mechanism '%s' (conv_norm)", mechanism);
    struct oracle_ctx c = {.mean = NULL};
    mb_conv_bn_bind(&c.cb, w);
    const int batch = c.cb.norm == MB_NORM_BATCH;
    if (batch) {
        c.mean = malloc((size_t)c.cb.c_out * sizeof *c.mean), c.var = malloc((size_t)c.cb.c_out * sizeof *c.var);
        if (!c.mean || !c.var) return free(c.mean), free(c.var), mb_errorf(err, errlen, "out of memory");
        batch_statistics(&c);
    }
    const struct mb_row_check rc = {.width = c.cb.w_out, .scratch = batch ? 1 : c.cb.c_out * c.cb.w_out,
                                    .got = c.cb.out, .oracle = row_oracle, .ctx = &c};
    struct mb_errors rows;
    int status = mb_check_sampled(&rc, 1, c.cb.batch * c.cb.c_out * c.cb.h_out, 0, opts, &rows, err, errlen);
    if (!status) {
        mb_errors_reset(out);
        mb_basics_errors_worst(out, &rows);
        if (batch) running_errors(&c, out);
    }
    free(c.mean);
    free(c.var);
    return status;
}

/* ------------------------------------------------------------------------------------------ workload */
static int conv_bn_layout(struct mb_workload *w, char *err, size_t errlen) {
    struct mb_conv_bn cb;
    conv_bn_shapes(&w->point, &cb);
    if (cb.h_out < 1 || cb.w_out < 1)
        return mb_errorf(err, errlen, "ksize = %lld does not fit the padded %lld x %lld input (padding %lld): need "
                         "ksize <= min(height, width) + 2 padding", (long long)cb.k, (long long)cb.h, (long long)cb.w,
                         (long long)cb.pad);
    const double outputs = (double)cb.batch * (double)cb.c_out * (double)cb.h_out * (double)cb.w_out;
    const double inputs = (double)cb.batch * (double)cb.c_in * (double)cb.h * (double)cb.w;
    const double fan_in = (double)cb.c_in * (double)cb.k * (double)cb.k;
    if (outputs > 0x1p32 || inputs > 0x1p32 || fan_in * (double)cb.c_out > 0x1p31)
        return mb_errorf(err, errlen, "input %.3g, output %.3g or weight %.3g elements is too large (max 2^32, 2^32, 2^31)",
                         inputs, outputs, fan_in * (double)cb.c_out);
    if (cb.norm == MB_NORM_BATCH && cb.batch * cb.h_out * cb.w_out < 2)
        return mb_errorf(err, errlen, "norm=batch needs more than one value per channel (batch*H'*W' = 1; PyTorch "
                         "refuses it too): use a larger batch or image, or norm=layer");
    int i = 0;
    mb_tensor_set(&w->inputs[i++], "input", "batch,c_in,height,width", 4, cb.batch, cb.c_in, cb.h, cb.w);
    mb_tensor_set(&w->inputs[i++], "weight", "c_out,c_in,ksize,ksize", 4, cb.c_out, cb.c_in, cb.k, cb.k);
    mb_tensor_set(&w->inputs[i++], "bn_weight", "c_out", 1, cb.c_out, 0, 0, 0);
    mb_tensor_set(&w->inputs[i++], "bn_bias", "c_out", 1, cb.c_out, 0, 0, 0);
    if (cb.norm == MB_NORM_BATCH) {
        mb_tensor_set(&w->inputs[i++], "running_mean", "c_out", 1, cb.c_out, 0, 0, 0);
        mb_tensor_set(&w->inputs[i++], "running_var", "c_out", 1, cb.c_out, 0, 0, 0);
    }
    if (cb.use_bias) mb_tensor_set(&w->inputs[i++], "bias", "c_out", 1, cb.c_out, 0, 0, 0);
    w->n_inputs = i;
    mb_tensor_set(&w->outputs[0], "out", "batch,c_out,height_out,width_out", 4, cb.batch, cb.c_out, cb.h_out, cb.w_out);
    w->n_outputs = 1;
    if (cb.norm == MB_NORM_BATCH) {
        mb_tensor_set(&w->outputs[1], "running_mean", "c_out", 1, cb.c_out, 0, 0, 0);
        mb_tensor_set(&w->outputs[2], "running_var", "c_out", 1, cb.c_out, 0, 0, 0);
        w->n_outputs = 3;
    }
    return 0;
}

/* t ~ U(lo, hi) from its own stream (GSL MT19937 seeded with seed * 1000003 + stream). */
static void fill_uniform(struct mb_tensor *t, uint64_t seed, uint64_t stream, double lo, double hi) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) mb_contract_violation("basics.conv_bn: cannot allocate a random number generator");
    gsl_rng_set(r, seed * 1000003 + stream);
    const int64_t count = mb_tensor_numel(t);
    for (int64_t i = 0; i < count; i++) t->data[i] = (float)(lo + (hi - lo) * gsl_rng_uniform(r));
    gsl_rng_free(r);
}

/* input ~ N(0, 1); weight, bias ~ U(+-1/sqrt(C_in k^2)) (nn.Conv2d's initialisation bound); bn_weight ~ N(1, 0.1^2),
 * bn_bias ~ N(0, 0.1^2) (a trained-looking affine); running_mean ~ N(0, 0.1^2), running_var ~ U(0.5, 1.5). Every
 * tensor has its own stream: the inputs with and without a bias (or with either norm) are the same numbers. */
static void conv_bn_fill(struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    const double bound = 1.0 / sqrt((double)p->channels * (double)p->ksize * (double)p->ksize);
    for (int i = 0; i < w->n_inputs; i++) {
        struct mb_tensor *t = &w->inputs[i];
        if (!strcmp(t->name, "input")) mb_fill_normal(t, w->seed, 1, 0.0, 1.0);
        else if (!strcmp(t->name, "weight")) fill_uniform(t, w->seed, 2, -bound, bound);
        else if (!strcmp(t->name, "bias")) fill_uniform(t, w->seed, 3, -bound, bound);
        else if (!strcmp(t->name, "bn_weight")) mb_fill_normal(t, w->seed, 4, 1.0, 0.1);
        else if (!strcmp(t->name, "bn_bias")) mb_fill_normal(t, w->seed, 5, 0.0, 0.1);
        else if (!strcmp(t->name, "running_mean")) mb_fill_normal(t, w->seed, 6, 0.0, 0.1);
        else if (!strcmp(t->name, "running_var")) fill_uniform(t, w->seed, 7, 0.5, 1.5);
    }
}

static int conv_bn_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *x = tensor_named(w->inputs, w->n_inputs, "input");
    const struct mb_tensor *wt = tensor_named(w->inputs, w->n_inputs, "weight");
    if (!x || x->ndim != 4)
        return mb_errorf(err, errlen, "'input' must be (batch, C_in, H, W); basics.conv_bn got %d dimensions",
                         x ? x->ndim : 0);
    if (!wt || wt->ndim != 4 || wt->shape[1] != x->shape[1] || wt->shape[2] != wt->shape[3])
        return mb_errorf(err, errlen, "'weight' must be (C_out, C_in = %lld, k, k) with a square kernel",
                         (long long)x->shape[1]);
    struct mb_workload want = {.family = w->family, .point = w->point};
    want.point.batch = x->shape[0], want.point.channels = x->shape[1];
    want.point.height = x->shape[2], want.point.width = x->shape[3];
    want.point.n = wt->shape[0], want.point.ksize = wt->shape[2];
    char msg[256];
    if (mb_family_validate(w->family, &want.point, msg, sizeof msg)) return mb_errorf(err, errlen, "%s", msg);
    if (conv_bn_layout(&want, err, errlen)) return -1;
    for (int i = 0; i < want.n_inputs; i++) {
        const struct mb_tensor *got = &w->inputs[i], *need = &want.inputs[i];
        int same = got->ndim == need->ndim;
        for (int j = 0; same && j < need->ndim; j++) same = got->shape[j] == need->shape[j];
        if (!same) return mb_errorf(err, errlen, "'%s' has the wrong shape (expected %s)", need->name, need->dims);
    }
    w->point = want.point;
    for (int i = 0; i < want.n_outputs; i++) w->outputs[i] = want.outputs[i];
    w->n_outputs = want.n_outputs;
    return 0;
}

const struct mb_family mb_family_basics_conv_bn = {
    .name = "basics.conv_bn",
    .summary = "input (batch, C_in, H, W), weight (C_out, C_in, k, k), [bias], bn_weight, bn_bias, [running_mean, "
               "running_var] -> out (batch, C_out, H', W') [+ updated running stats]: conv2d then BatchNorm2d "
               "(training) or LayerNorm over channels; n = C_out",
    .axes = conv_bn_axes,
    .n_axes = (int)(sizeof conv_bn_axes / sizeof conv_bn_axes[0]),
    .params = conv_bn_params,
    .n_params = (int)(sizeof conv_bn_params / sizeof conv_bn_params[0]),
    .probes = mb_conv_bn_probes,
    .n_probes = (int)(sizeof mb_conv_bn_probes / sizeof mb_conv_bn_probes[0]),
    .mechanisms = conv_bn_mechanisms,
    .n_mechanisms = (int)(sizeof conv_bn_mechanisms / sizeof conv_bn_mechanisms[0]),
    .layout = conv_bn_layout,
    .fill = conv_bn_fill,
    .point_from_inputs = conv_bn_point_from_inputs,
    .check = conv_bn_check,
};
