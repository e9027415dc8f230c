/* vision.max_pool2d and vision.max_unpool2d families: shapes, the pooling of one plane (shared by the pooling kernel
 * and the unpooling workload, whose indices come from a real pooling), double-precision row oracles written from
 * the definition (every tap a of the window, out-of-range taps skipped), workloads. See family_pool.h. */
#include "vision/family_pool.h"

#include "core/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { POOL_INPUT, POOL_INDICES };

static const struct mb_param_decl pool_params[] = {
    {"stride", MB_PARAM_INT, 0, 0, 64, NULL, "stride s (0 = kernel_size)"},
    {"padding", MB_PARAM_INT, 0, 0, 32, NULL, "implicit -inf padding on each border (<= kernel_size / 2)"},
    {"dilation", MB_PARAM_INT, 1, 1, 64, NULL, "spacing of the window's elements"},
    {"ceil_mode", MB_PARAM_BOOL, 0, 0, 1, NULL, "ceil instead of floor in the output size"},
};

static const struct mb_param_decl unpool_params[] = {
    {"stride", MB_PARAM_INT, 0, 0, 64, NULL, "stride s (0 = kernel_size)"},
    {"padding", MB_PARAM_INT, 0, 0, 32, NULL, "padding p of the pooling being inverted"},
    {"output_size", MB_PARAM_INT, 0, 0, 1 << 16, NULL, "H_o = W_o (0 = (H - 1) s - 2 p + k)"},
};

/* floor(a / b) for b > 0 (PyTorch's div_rtn) */
static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

int64_t mb_pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, int ceil_mode) {
    int64_t out = floor_div(in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad) out--;
    return out;
}

static int plane_check(const char *what, int64_t h, int64_t w, char *err, size_t errlen) {
    if ((double)h * (double)w > (double)MB_POOL_MAX_PLANE)
        return mb_errorf(err, errlen, "%s: an H x W = %lld x %lld plane exceeds 2^24 elements (indices are held "
                         "exactly as float32 only below)", what, (long long)h, (long long)w);
    return 0;
}

static void pool_sizes(const struct mb_point *p, struct mb_pool_shape *s) {
    const int64_t stride = mb_param_int(p, "stride");
    *s = (struct mb_pool_shape){.batch = p->batch, .channels = p->channels, .h = p->height, .w = p->width,
                                .k = p->ksize, .stride = stride > 0 ? stride : p->ksize,
                                .pad = mb_param_int(p, "padding"), .dil = mb_param_int(p, "dilation"),
                                .ceil_mode = mb_param_bool(p, "ceil_mode")};
    s->h_out = mb_pool_out_size(s->h, s->k, s->pad, s->stride, s->dil, s->ceil_mode);
    s->w_out = mb_pool_out_size(s->w, s->k, s->pad, s->stride, s->dil, s->ceil_mode);
}

int mb_pool_shape(const struct mb_point *p, struct mb_pool_shape *s, char *err, size_t errlen) {
    pool_sizes(p, s);
    if (s->pad > s->k / 2)
        return mb_errorf(err, errlen, "max_pool2d: padding = %lld must be at most kernel_size / 2 = %lld",
                         (long long)s->pad, (long long)(s->k / 2));
    if (s->h_out < 1 || s->w_out < 1)
        return mb_errorf(err, errlen, "max_pool2d: input %lld x %lld gives an empty output %lld x %lld (kernel_size %lld, "
                         "dilation %lld)", (long long)s->h, (long long)s->w, (long long)s->h_out, (long long)s->w_out,
                         (long long)s->k, (long long)s->dil);
    return plane_check("max_pool2d", s->h, s->w, err, errlen);
}

static void unpool_sizes(const struct mb_point *p, struct mb_unpool_shape *s) {
    const int64_t stride = mb_param_int(p, "stride"), size = mb_param_int(p, "output_size");
    *s = (struct mb_unpool_shape){.batch = p->batch, .channels = p->channels, .h = p->height, .w = p->width,
                                  .k = p->ksize, .stride = stride > 0 ? stride : p->ksize,
                                  .pad = mb_param_int(p, "padding")};
    s->h_out = size > 0 ? size : (s->h - 1) * s->stride - 2 * s->pad + s->k;
    s->w_out = size > 0 ? size : (s->w - 1) * s->stride - 2 * s->pad + s->k;
}

int mb_unpool_shape(const struct mb_point *p, struct mb_unpool_shape *s, char *err, size_t errlen) {
    unpool_sizes(p, s);
    const int64_t size = mb_param_int(p, "output_size");
    const int64_t dh = (s->h - 1) * s->stride - 2 * s->pad + s->k, dw = (s->w - 1) * s->stride - 2 * s->pad + s->k;
    if (s->h_out <= dh - s->stride || s->h_out >= dh + s->stride || s->w_out <= dw - s->stride ||
        s->w_out >= dw + s->stride)
        return mb_errorf(err, errlen, "max_unpool2d: output_size = %lld must lie strictly between %lld and %lld "
                         "(default %lld x %lld +- stride)", (long long)size, (long long)(dh - s->stride),
                         (long long)(dh + s->stride), (long long)dh, (long long)dw);
    if (s->h_out < 1 || s->w_out < 1)
        return mb_errorf(err, errlen, "max_unpool2d: empty output %lld x %lld", (long long)s->h_out, (long long)s->w_out);
    return plane_check("max_unpool2d", s->h_out, s->w_out, err, errlen);
}

void mb_max_pool2d_plane(const struct mb_pool_shape *s, const float *x, float *values, float *indices) {
    for (int64_t oh = 0; oh < s->h_out; oh++) {
        int64_t ih0 = oh * s->stride - s->pad;
        const int64_t ih1 = ih0 + (s->k - 1) * s->dil + 1 < s->h ? ih0 + (s->k - 1) * s->dil + 1 : s->h;
        while (ih0 < 0) ih0 += s->dil;
        for (int64_t ow = 0; ow < s->w_out; ow++) {
            int64_t iw0 = ow * s->stride - s->pad;
            const int64_t iw1 = iw0 + (s->k - 1) * s->dil + 1 < s->w ? iw0 + (s->k - 1) * s->dil + 1 : s->w;
            while (iw0 < 0) iw0 += s->dil;
            int64_t best = ih0 * s->w + iw0;
            float max = -INFINITY;
            for (int64_t ih = ih0; ih < ih1; ih += s->dil)
                for (int64_t iw = iw0; iw < iw1; iw += s->dil) {
                    const float v = x[ih * s->w + iw];
                    if (v > max || isnan(v)) max = v, best = ih * s->w + iw;
                }
            values[oh * s->w_out + ow] = max;
            indices[oh * s->w_out + ow] = (float)best;
        }
    }
}

/* ------------------------------------------------------------------------------------------ oracles */
struct pool_ctx {
    struct mb_pool_shape s;
    const float *x;
};

/* The window of output (oh, ow) tap by tap, in double: want[ow] = its max; idx (may be NULL) its flat index. */
static void pool_row(const struct pool_ctx *c, int64_t row, double *want, double *idx) {
    const struct mb_pool_shape *s = &c->s;
    const int64_t oh = row % s->h_out, plane = row / s->h_out;
    const float *x = c->x + plane * s->h * s->w;
    for (int64_t ow = 0; ow < s->w_out; ow++) {
        double max = -INFINITY;
        int64_t best = -1;
        for (int64_t a = 0; a < s->k; a++) {
            const int64_t ih = oh * s->stride - s->pad + a * s->dil;
            if (ih < 0 || ih >= s->h) continue;
            for (int64_t b = 0; b < s->k; b++) {
                const int64_t iw = ow * s->stride - s->pad + b * s->dil;
                if (iw < 0 || iw >= s->w) continue;
                const double v = x[ih * s->w + iw];
                if (best < 0) best = ih * s->w + iw; /* the first element in range */
                if (v > max || isnan(v)) max = v, best = ih * s->w + iw;
            }
        }
        want[ow] = max;
        if (idx) idx[ow] = (double)best;
    }
}

static void pool_row_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    pool_row(ctx, row, want, NULL);
}

struct unpool_ctx {
    struct mb_unpool_shape s;
    const float *x, *indices;
};

/* Output row (plane, oy): every input whose index falls in the row, in scan order (the last one wins). */
static void unpool_row_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct unpool_ctx *c = ctx;
    const struct mb_unpool_shape *s = &c->s;
    const int64_t oy = row % s->h_out, plane = row / s->h_out, in = s->h * s->w;
    for (int64_t ox = 0; ox < s->w_out; ox++) want[ox] = 0;
    for (int64_t i = 0; i < in; i++) {
        const double at = c->indices[plane * in + i] - (double)(oy * s->w_out);
        if (at >= 0 && at < (double)s->w_out) want[(int64_t)at] = c->x[plane * in + i];
    }
}

static const struct mb_mechanism pool_mechanisms[] = {
    {"max_pool2d_indices", "out = max over the window, indices = ih W + iw of the first max (NaN wins)", 1e-7,
     (void (*)(void))pool_row_oracle},
};
static const struct mb_mechanism unpool_mechanisms[] = {
    {"max_unpool2d", "out.flat[indices] = input, zeros elsewhere", 1e-7, (void (*)(void))unpool_row_oracle},
};

/* Values against the oracle over the sampled rows; then every sampled index exactly: a wrong index makes the error
   1 (rel_l2, nmse: the output is wrong at that element whatever the values say). */
static int pool_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism MB_UNUSED,
                      const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    struct pool_ctx c = {.x = w->inputs[POOL_INPUT].data};
    if (mb_pool_shape(&w->point, &c.s, err, errlen)) return -1;
    int64_t *rows = NULL;
    const int64_t count = mb_pick_rows(1, c.s.batch * c.s.channels * c.s.h_out, 0, opts, &rows);
    if (count < 0) return mb_errorf(err, errlen, "out of memory");
    const struct mb_row_check rc = {.width = c.s.w_out, .scratch = 1, .got = w->outputs[0].data,
                                    .oracle = pool_row_oracle, .ctx = &c};
    int rcode = mb_check_rows(&rc, rows, count, out, err, errlen);
    double *want = malloc(2 * (size_t)c.s.w_out * sizeof *want);
    if (!want) rcode = mb_errorf(err, errlen, "out of memory");
    int64_t wrong = 0;
    for (int64_t i = 0; rcode == 0 && i < count; i++) {
        pool_row(&c, rows[i], want, want + c.s.w_out);
        const float *got = w->outputs[1].data + rows[i] * c.s.w_out;
        for (int64_t ow = 0; ow < c.s.w_out; ow++) wrong += (double)got[ow] != want[c.s.w_out + ow];
    }
    if (wrong) out->rel_l2 = out->nmse = 1, out->max_abs = fmax(out->max_abs, 1);
    free(want);
    free(rows);
    return rcode;
}

static int unpool_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w,
                        const char *mechanism MB_UNUSED, const struct mb_check_opts *opts, struct mb_errors *out,
                        char *err, size_t errlen) {
    struct unpool_ctx c = {.x = w->inputs[POOL_INPUT].data, .indices = w->inputs[POOL_INDICES].data};
    if (mb_unpool_shape(&w->point, &c.s, err, errlen)) return -1;
    const struct mb_row_check rc = {.width = c.s.w_out, .scratch = 1, .got = w->outputs[0].data,
                                    .oracle = unpool_row_oracle, .ctx = &c};
    return mb_check_sampled(&rc, 1, c.s.batch * c.s.channels * c.s.h_out, 0, opts, out, err, errlen);
}

/* ------------------------------------------------------------------------------------------ workloads */
int mb_pool_supports(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    struct mb_pool_shape s;
    return mb_pool_shape(p, &s, why, len) ? 1 : 0;
}

int mb_unpool_supports(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    struct mb_unpool_shape s;
    return mb_unpool_shape(p, &s, why, len) ? 1 : 0;
}

/* Layouts check only the plane size: `mechbench eval` lays the default point out before it reads the user's
   tensors, so the checks that tie params to shapes (padding <= k/2, an empty output, output_size) are the kernels'
   `supports`. */
static int pool_layout(struct mb_workload *w, char *err, size_t errlen) {
    struct mb_pool_shape s;
    pool_sizes(&w->point, &s);
    if (s.h_out < 1) s.h_out = 1;
    if (s.w_out < 1) s.w_out = 1;
    if (plane_check("max_pool2d", s.h, s.w, err, errlen)) return -1;
    mb_tensor_set(&w->inputs[POOL_INPUT], "input", "batch,C,H,W", 4, s.batch, s.channels, s.h, s.w);
    w->n_inputs = 1;
    mb_tensor_set(&w->outputs[0], "out", "batch,C,H_out,W_out", 4, s.batch, s.channels, s.h_out, s.w_out);
    mb_tensor_set(&w->outputs[1], "indices", "batch,C,H_out,W_out", 4, s.batch, s.channels, s.h_out, s.w_out);
    w->n_outputs = 2;
    return 0;
}

static int unpool_layout(struct mb_workload *w, char *err, size_t errlen) {
    struct mb_unpool_shape s;
    unpool_sizes(&w->point, &s);
    if (s.h_out < 1) s.h_out = 1;
    if (s.w_out < 1) s.w_out = 1;
    if (plane_check("max_unpool2d", s.h_out, s.w_out, err, errlen)) return -1;
    mb_tensor_set(&w->inputs[POOL_INPUT], "input", "batch,C,H,W", 4, s.batch, s.channels, s.h, s.w);
    mb_tensor_set(&w->inputs[POOL_INDICES], "indices", "batch,C,H,W", 4, s.batch, s.channels, s.h, s.w);
    w->n_inputs = 2;
    mb_tensor_set(&w->outputs[0], "out", "batch,C,H_out,W_out", 4, s.batch, s.channels, s.h_out, s.w_out);
    w->n_outputs = 1;
    return 0;
}

static void pool_fill(struct mb_workload *w) { mb_fill_normal(&w->inputs[POOL_INPUT], w->seed, 1, 0.0, 1.0); }

/* The indices of a real pooling: MaxPool2d(k, s, p) of an N(0, 1) plane of the default output size (whose pooled
 * size is H x W), reduced modulo H_o W_o when output_size is smaller than the default; the input ~ N(0, 1). */
static void unpool_fill(struct mb_workload *w) {
    struct mb_unpool_shape u;
    if (mb_unpool_shape(&w->point, &u, NULL, 0)) mb_contract_violation("vision.max_unpool2d: fill of an invalid point");
    const struct mb_pool_shape ps = {.batch = 1, .channels = 1, .h = (u.h - 1) * u.stride - 2 * u.pad + u.k,
                                     .w = (u.w - 1) * u.stride - 2 * u.pad + u.k, .k = u.k, .stride = u.stride,
                                     .pad = u.pad, .dil = 1, .h_out = u.h, .w_out = u.w};
    struct mb_tensor full = {.ndim = 1, .shape = {ps.h * ps.w}};
    float *values = malloc((size_t)(u.h * u.w) * sizeof *values);
    full.data = malloc((size_t)(ps.h * ps.w) * sizeof(float));
    if (!values || !full.data) mb_contract_violation("vision.max_unpool2d: out of memory in fill");
    mb_fill_normal(&w->inputs[POOL_INPUT], w->seed, 1, 0.0, 1.0);
    for (int64_t plane = 0; plane < u.batch * u.channels; plane++) {
        mb_fill_normal(&full, w->seed, 2 + (uint64_t)plane, 0.0, 1.0);
        float *idx = w->inputs[POOL_INDICES].data + plane * u.h * u.w;
        mb_max_pool2d_plane(&ps, full.data, values, idx);
        for (int64_t i = 0; i < u.h * u.w; i++) idx[i] = (float)((int64_t)idx[i] % (u.h_out * u.w_out));
    }
    free(values);
    free(full.data);
}

static int same_shapes(struct mb_workload *w, const struct mb_workload *want, char *err, size_t errlen) {
    for (int i = 0; i < want->n_inputs; i++) {
        const struct mb_tensor *got = &w->inputs[i], *need = &want->inputs[i];
        int same = got->ndim == need->ndim;
        for (int j = 0; same && j < need->ndim; j++) same = got->shape[j] == need->shape[j];
        if (!same) return mb_errorf(err, errlen, "'%s' has the wrong shape (expected %s)", need->name, need->dims);
    }
    w->point = want->point;
    w->n_outputs = want->n_outputs;
    for (int i = 0; i < want->n_outputs; i++) w->outputs[i] = want->outputs[i];
    return 0;
}

static int point_from_input(struct mb_workload *w, int (*layout)(struct mb_workload *, char *, size_t), char *err,
                            size_t errlen) {
    const struct mb_tensor *x = &w->inputs[POOL_INPUT];
    if (x->ndim != 4) return mb_errorf(err, errlen, "'input' has %d dimensions; expected (batch, C, H, W)", x->ndim);
    struct mb_workload want = {.family = w->family, .point = w->point};
    want.point.batch = x->shape[0];
    want.point.channels = x->shape[1];
    want.point.height = x->shape[2];
    want.point.width = x->shape[3];
    if (layout(&want, err, errlen)) return -1;
    return same_shapes(w, &want, err, errlen);
}

static int pool_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    return point_from_input(w, pool_layout, err, errlen);
}

static int unpool_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    return point_from_input(w, unpool_layout, err, errlen);
}

/* ------------------------------------------------------------------------------------------ families */
static const struct mb_axis_rule pool_axes[] = {
    {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_channels, 64, 1, 1 << 16}, {MB_AXIS_height, 128, 1, 1 << 16},
    {MB_AXIS_width, 128, 1, 1 << 16}, {MB_AXIS_ksize, 2, 1, 64},
};

const struct mb_family mb_family_vision_max_pool2d = {
    .name = "vision.max_pool2d",
    .summary = "input (batch, C, H, W) -> out, indices (batch, C, H', W'): torch.nn.MaxPool2d(return_indices=True); "
               "indices as exact float32 (planes up to 2^24 elements)",
    .axes = pool_axes,
    .n_axes = (int)(sizeof pool_axes / sizeof pool_axes[0]),
    .params = pool_params,
    .n_params = (int)(sizeof pool_params / sizeof pool_params[0]),
    .mechanisms = pool_mechanisms,
    .n_mechanisms = 1,
    .layout = pool_layout,
    .fill = pool_fill,
    .point_from_inputs = pool_point_from_inputs,
    .check = pool_check,
};

const struct mb_family mb_family_vision_max_unpool2d = {
    .name = "vision.max_unpool2d",
    .summary = "input, indices (batch, C, H, W) -> out (batch, C, H_o, W_o): torch.nn.MaxUnpool2d, the values "
               "scattered to their flat indices, zeros elsewhere",
    .axes = pool_axes,
    .n_axes = (int)(sizeof pool_axes / sizeof pool_axes[0]),
    .params = unpool_params,
    .n_params = (int)(sizeof unpool_params / sizeof unpool_params[0]),
    .mechanisms = unpool_mechanisms,
    .n_mechanisms = 1,
    .layout = unpool_layout,
    .fill = unpool_fill,
    .point_from_inputs = unpool_point_from_inputs,
    .check = unpool_check,
};
