/* vision families: pixel shuffle (vision) and F.interpolate (vision.upsample): workloads with PyTorch's names, the
 * geometry checks of PyTorch, the double-precision row oracles, the models and the shared setup/run of the upsampling
 * kernels. See family.h for the math. */
#include "vision/family.h"

#include "core/check.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ELEMENTS (INT64_C(1) << 34)

/* Does the point carry a value of parameter name (declared by its kernel)? Points are parsed before layout. */
static int point_has_param(const struct mb_point *p, const char *name) {
    for (int i = 0; i < p->n_values; i++)
        if (!strcmp(p->values[i].name, name)) return 1;
    return 0;
}

static int64_t param_int_or(const struct mb_point *p, const char *name, int64_t fallback) {
    const int64_t v = point_has_param(p, name) ? mb_param_int(p, name) : 0;
    return v > 0 ? v : fallback;
}

/* Compare the shapes the file gave (w->inputs) with those of the layout of `want`; adopt want's point and outputs. */
static int adopt_point(struct mb_workload *w, struct mb_workload *want, char *err, size_t errlen) {
    if (w->family->layout(want, err, errlen)) return -1;
    for (int i = 0; i < want->n_inputs; i++) {
        const struct mb_tensor *got = &w->inputs[i], *need = &want->inputs[i];
        int same = got->ndim == need->ndim;
        for (int j = 0; same && j < need->ndim; j++) same = got->shape[j] == need->shape[j];
        if (!same) return mb_errorf(err, errlen, "'%s' has the wrong shape (expected %s)", need->name, need->dims);
    }
    w->point = want->point;
    memcpy(w->outputs, want->outputs, sizeof want->outputs);
    w->n_outputs = want->n_outputs;
    return 0;
}

static void input_fill(struct mb_workload *w) { mb_fill_normal(&w->inputs[0], w->seed, 1, 0.0, 1.0); }

/* ============================================================================================ pixel shuffle */
static const struct mb_axis_rule shuffle_axes[] = {
    {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_channels, 12, 1, 1 << 20}, {MB_AXIS_height, 64, 1, 1 << 20},
    {MB_AXIS_width, 64, 1, 1 << 20}, {MB_AXIS_scale, 2, 1, 256},
};

int mb_shuffle_shape(const struct mb_point *p, struct mb_shuffle *s, char *err, size_t errlen) {
    s->unshuffle = point_has_param(p, "downscale_factor");
    s->r = param_int_or(p, s->unshuffle ? "downscale_factor" : "upscale_factor", p->scale);
    s->batch = p->batch, s->c_in = p->channels, s->h_in = p->height, s->w_in = p->width;
    const int64_t r = s->r > 0 ? s->r : 1, r2 = r * r;
    s->fits = 1;
    if (!s->unshuffle) s->c_out = s->c_in / r2, s->h_out = s->h_in * r, s->w_out = s->w_in * r;
    else s->c_out = s->c_in * r2, s->h_out = s->h_in / r, s->w_out = s->w_in / r;
    if (s->r < 1) return mb_errorf(err, errlen, "vision: the factor r = %lld must be >= 1", (long long)s->r);
    if ((double)s->batch * (double)s->c_in * (double)s->h_in * (double)s->w_in > (double)MAX_ELEMENTS)
        return mb_errorf(err, errlen, "vision: N*C*H*W is too large (max 2^34 elements)");
    s->fits = 0;
    if (!s->unshuffle && s->c_in % r2)
        return mb_errorf(err, errlen, "pixel_shuffle: %lld input channels are not divisible by upscale_factor^2 = "
                         "%lld (allowed: a multiple of r^2)", (long long)s->c_in, (long long)r2);
    if (s->unshuffle && (s->h_in % r || s->w_in % r))
        return mb_errorf(err, errlen, "pixel_unshuffle: H = %lld, W = %lld are not both divisible by "
                         "downscale_factor = %lld", (long long)s->h_in, (long long)s->w_in, (long long)r);
    s->fits = 1;
    return 0;
}

int mb_shuffle_supports(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    struct mb_shuffle s;
    return mb_shuffle_shape(p, &s, why, len) ? 1 : 0;
}

double mb_shuffle_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 8.0 * (double)p->batch * (double)p->channels * (double)p->height * (double)p->width;
}

double mb_shuffle_flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p MB_UNUSED) { return 0; }

double mb_shuffle_workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_shuffle s;
    char err[8];
    if (mb_shuffle_shape(p, &s, err, sizeof err)) return 0;
    return 4.0 * (double)omp_get_max_threads() * (double)s.r * (double)((s.w_out + 15) / 16 * 16);
}

int mb_shuffle_setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err,
                     size_t errlen) {
    struct mb_shuffle_state *st = calloc(1, sizeof *st);
    if (!st) return mb_errorf(err, errlen, "out of memory");
    if (mb_shuffle_shape(&w->point, &st->s, err, errlen)) return free(st), -1;
    if ((double)st->s.r * (double)st->s.h_in * (double)st->s.w_in >= (double)INT32_MAX)
        return free(st), mb_errorf(err, errlen, "vision: r H W >= 2^31 is not supported (32-bit row offsets)");
    st->in = w->inputs[0].data, st->out = w->outputs[0].data;
    st->threads = omp_get_max_threads();
    st->row = (st->s.w_out + 15) / 16 * 16;
    st->stream = 4.0 * (double)mb_tensor_numel(&w->outputs[0]) >= MB_VISION_STREAM_BYTES;
    st->scratch = mb_alloc((size_t)(st->threads * st->s.r * st->row) * sizeof(float));
    if (!st->scratch) return free(st), mb_errorf(err, errlen, "out of memory (scratch rows)");
    *state = st;
    return 0;
}

void mb_shuffle_teardown(void *state) {
    struct mb_shuffle_state *st = state;
    mb_free(st->scratch);
    free(st);
}

/* A shape r does not divide is laid out (truncated) and refused by the kernels' supports and by eval, with the
   shape's own line: eval lays out the family's default point before it reads the file's shapes. */
static int shuffle_layout(struct mb_workload *w, char *err, size_t errlen) {
    struct mb_shuffle s;
    if (mb_shuffle_shape(&w->point, &s, err, errlen) && s.fits) return -1;
    mb_tensor_set(&w->inputs[0], "input", "batch,channels,height,width", 4, s.batch, s.c_in, s.h_in, s.w_in);
    mb_tensor_set(&w->outputs[0], "out", "batch,channels,height,width", 4, s.batch, s.c_out, s.h_out, s.w_out);
    w->n_inputs = w->n_outputs = 1;
    return 0;
}

static int shuffle_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[0];
    if (x->ndim != 4) return mb_errorf(err, errlen, "'input' has %d dimensions; vision expects (N, C, H, W)", x->ndim);
    struct mb_workload want = {.family = w->family, .point = w->point};
    want.point.batch = x->shape[0], want.point.channels = x->shape[1];
    want.point.height = x->shape[2], want.point.width = x->shape[3];
    struct mb_shuffle s;
    if (mb_shuffle_shape(&want.point, &s, err, errlen)) return -1;
    return adopt_point(w, &want, err, errlen);
}

struct shuffle_ctx {
    struct mb_shuffle s;
    const float *in;
};

/* Output row (n, c, h) of the shuffle, in double: every value is one input value. */
static void shuffle_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct shuffle_ctx *c = ctx;
    const struct mb_shuffle *s = &c->s;
    const int64_t h = row % s->h_out, ch = row / s->h_out % s->c_out, n = row / s->h_out / s->c_out, r = s->r;
    for (int64_t x = 0; x < s->w_out; x++) {
        int64_t ci, hi, wi;
        if (!s->unshuffle) ci = ch * r * r + (h % r) * r + x % r, hi = h / r, wi = x / r;
        else ci = ch / (r * r), hi = h * r + ch / r % r, wi = x * r + ch % r;
        want[x] = c->in[((n * s->c_in + ci) * s->h_in + hi) * s->w_in + wi];
    }
}

static const struct mb_mechanism shuffle_mechanisms[] = {
    {"pixel_shuffle", "out[n, c, h r + i, w r + j] = in[n, c r^2 + i r + j, h, w]", 1e-12,
     (void (*)(void))shuffle_oracle},
    {"pixel_unshuffle", "out[n, c r^2 + i r + j, h, w] = in[n, c, h r + i, w r + j]", 1e-12,
     (void (*)(void))shuffle_oracle},
};

static int shuffle_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism,
                         const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    struct shuffle_ctx ctx = {.in = w->inputs[0].data};
    if (mb_shuffle_shape(&w->point, &ctx.s, err, errlen)) return -1;
    if (ctx.s.unshuffle != !strcmp(mechanism, "pixel_unshuffle"))
        return mb_errorf(err, errlen, "vision: the point is not a %s", mechanism);
    const struct mb_row_check c = {.width = ctx.s.w_out, .scratch = 1, .got = w->outputs[0].data,
                                   .oracle = shuffle_oracle, .ctx = &ctx};
    return mb_check_sampled(&c, 1, ctx.s.batch * ctx.s.c_out * ctx.s.h_out, 0, opts, out, err, errlen);
}

/* ------------------------------------------------------------------------------------------ probe */
/* Runs k once on w (setup, run, teardown). 0 or -1 with a message. */
static int run_kernel_once(const struct mb_kernel *k, struct mb_workload *w, char *err, size_t errlen) {
    void *state;
    if (mb_kernel_setup(k, &state, w, err, errlen)) return -1;
    k->run(state);
    k->teardown(state);
    return 0;
}

/* max |pixel_unshuffle(pixel_shuffle(x)) - x| for x ~ N(0, 1) of shape (N, C r^2, H, W), r = each x. */
static int probe_roundtrip(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                           int nx, uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const struct mb_kernel *ps = mb_kernel_find("vision.pixel_shuffle"), *pu = mb_kernel_find("vision.pixel_unshuffle");
    if (!ps || !pu) return mb_errorf(err, errlen, "shuffle_roundtrip: the shuffle kernels are not registered");
    const uint64_t given = MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width) |
                           MB_AXIS_BIT(scale);
    out->count = 0;
    for (int i = 0; i < nx && i < MB_PROBE_MAX_POINTS; i++) {
        const int64_t r = (int64_t)xs[i];
        struct mb_point p = *base, q;
        p.n_values = 0, p.params[0] = '\0';
        p.scale = r, p.channels = (base->channels > 0 ? base->channels : 3) * r * r;
        p.batch = base->batch > 0 ? base->batch : 1;
        p.height = base->height > 0 ? base->height : 16, p.width = base->width > 0 ? base->width : 16;
        q = p;
        q.channels = p.channels / (r * r), q.height = p.height * r, q.width = p.width * r;
        mb_point_complete(ps, &p, given), mb_point_complete(pu, &q, given);
        struct mb_workload a, b;
        if (mb_workload_create(&a, ps->family, &p, seed, err, errlen)) return -1;
        if (mb_workload_create(&b, pu->family, &q, seed, err, errlen)) return mb_workload_free(&a), -1;
        int status = run_kernel_once(ps, &a, err, errlen);
        const int64_t count = mb_tensor_numel(&a.inputs[0]);
        if (!status) memcpy(b.inputs[0].data, a.outputs[0].data, (size_t)count * sizeof(float));
        if (!status) status = run_kernel_once(pu, &b, err, errlen);
        double worst = 0;
        for (int64_t j = 0; !status && j < count; j++)
            worst = fmax(worst, fabs((double)b.outputs[0].data[j] - (double)a.inputs[0].data[j]));
        mb_workload_free(&a), mb_workload_free(&b);
        if (status) return -1;
        out->x[out->count] = (double)r, out->y[out->count] = worst;
        out->ns[out->count] = 0, out->samples[out->count] = NULL;
        out->count++;
    }
    return 0;
}

static const struct mb_probe shuffle_probes[] = {
    {.name = "shuffle_roundtrip", .x_axis = "scale", .run = probe_roundtrip,
     .summary = "max |pixel_unshuffle(pixel_shuffle(x)) - x| over x ~ N(0, 1) of shape (N, C r^2, H, W), one value "
                "per r (0 when PixelUnshuffle inverts PixelShuffle)"},
};

const struct mb_family mb_family_vision = {
    .name = "vision",
    .summary = "input (N, C, H, W) -> out: nn.PixelShuffle(r) (N, C r^2, H, W) -> (N, C, H r, W r) and "
               "nn.PixelUnshuffle(r), its inverse (PyTorch's channel order)",
    .axes = shuffle_axes,
    .n_axes = (int)(sizeof shuffle_axes / sizeof shuffle_axes[0]),
    .probes = shuffle_probes,
    .n_probes = 1,
    .mechanisms = shuffle_mechanisms,
    .n_mechanisms = (int)(sizeof shuffle_mechanisms / sizeof shuffle_mechanisms[0]),
    .layout = shuffle_layout,
    .fill = input_fill,
    .point_from_inputs = shuffle_point_from_inputs,
    .check = shuffle_check,
};

/* ============================================================================================ interpolation */
static const struct mb_axis_rule upsample_axes[] = {
    {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_channels, 3, 1, 1 << 20},
    {MB_AXIS_height, 64, 0, 1 << 20}, /* 0: a kernel on (N, C, W) that does not read it (linear) */
    {MB_AXIS_width, 64, 1, 1 << 20}, {MB_AXIS_scale, 2, 0, 256},
};

static const struct mb_param_decl upsample_params[] = {
    {"scale_factor", MB_PARAM_REAL, 0, 0, 1e4, NULL,
     "F.interpolate's scale_factor, may be non-integer (0 = not given: the scale axis r)"},
    {"size", MB_PARAM_INTS, 0, 1, 1 << 20, NULL, "F.interpolate's output size: one value for every spatial axis, or "
                                                 "one per axis (H,W; D,H,W); excludes scale_factor"},
    {"recompute_scale_factor", MB_PARAM_BOOL, 0, 0, 1, NULL,
     "1: the coordinate map uses in/out sizes, not 1/scale_factor (F.interpolate's recompute_scale_factor)"},
};

const struct mb_param_decl mb_upsample_align_param[1] = {
    {"align_corners", MB_PARAM_BOOL, 0, 0, 1, NULL, "1: the corner pixels' centres are aligned (F.interpolate)"},
};
const struct mb_param_decl mb_upsample_trilinear_params[2] = {
    {"align_corners", MB_PARAM_BOOL, 0, 0, 1, NULL, "1: the corner pixels' centres are aligned (F.interpolate)"},
    {"depth", MB_PARAM_INT, 0, 0, 1 << 20, NULL, "input depth D of the (N, C, D, H, W) input (0 = H)"},
};

static const char *const spatial_names[3] = {"W", "H,W", "D,H,W"};

int mb_upsample_shape(const struct mb_point *p, struct mb_upsample *u, char *err, size_t errlen) {
    memset(u, 0, sizeof *u);
    u->spatial = point_has_param(p, "depth") ? 3 : p->height == 0 ? 1 : 2;
    u->planes = p->batch * p->channels;
    const int64_t sizes[3] = {param_int_or(p, "depth", p->height), p->height, p->width};
    for (int i = 0; i < u->spatial; i++) u->in[i] = sizes[3 - u->spatial + i];
    int64_t size[MB_PARAM_MAX_INTS];
    const int n_size = mb_param_ints(p, "size", size, MB_PARAM_MAX_INTS);
    const double factor = mb_param_real(p, "scale_factor");
    const int recompute = mb_param_bool(p, "recompute_scale_factor");
    if (n_size && factor > 0)
        return mb_errorf(err, errlen, "vision.upsample: only one of size and scale_factor may be given");
    if (n_size && recompute)
        return mb_errorf(err, errlen, "vision.upsample: recompute_scale_factor is not meaningful with an explicit size");
    if (n_size && n_size != 1 && n_size != u->spatial)
        return mb_errorf(err, errlen, "vision.upsample: size has %d values; this input takes 1 or %d (%s)", n_size,
                         u->spatial, spatial_names[u->spatial - 1]);
    const double s = factor > 0 ? factor : (double)p->scale;
    if (!n_size && s <= 0)
        return mb_errorf(err, errlen, "vision.upsample: give size or scale_factor (or the scale axis r >= 1)");
    double total = (double)u->planes;
    for (int i = 0; i < u->spatial; i++) {
        u->out[i] = n_size ? size[n_size == 1 ? 0 : i] : (int64_t)floor((double)u->in[i] * s);
        u->scales[i] = n_size || recompute ? 0 : s;
        if (u->in[i] < 1 || u->out[i] < 1)
            return mb_errorf(err, errlen, "vision.upsample: input size %lld and scale factor %g give an output size "
                             "of %lld (allowed: sizes >= 1)", (long long)u->in[i], s, (long long)u->out[i]);
        total *= (double)(u->in[i] > u->out[i] ? u->in[i] : u->out[i]);
        if (u->in[i] > INT32_MAX || u->out[i] > INT32_MAX)
            return mb_errorf(err, errlen, "vision.upsample: a spatial size above 2^31 - 1");
    }
    if (total > (double)MAX_ELEMENTS)
        return mb_errorf(err, errlen, "vision.upsample: %.3g elements is too large (max 2^34)", total);
    return 0;
}

const struct mb_upsample_variant *mb_upsample_variant_of(const struct mb_kernel *k) { return k->variant; }

int mb_upsample_align_corners(const struct mb_kernel *k, const struct mb_point *p) {
    const struct mb_upsample_variant *v = mb_upsample_variant_of(k);
    if (v->forced_align_corners >= 0) return v->forced_align_corners;
    return v->mode == MB_INTERP_LINEAR || v->mode == MB_INTERP_CUBIC ? mb_param_bool(p, "align_corners") : 0;
}

static void tensor_set_spatial(struct mb_tensor *t, const char *name, const struct mb_upsample *u, int64_t batch,
                               int64_t channels, const int64_t *sizes) {
    static const char *const dims[3] = {"batch,channels,width", "batch,channels,height,width",
                                        "batch,channels,depth,height,width"};
    t->name = name, t->dims = dims[u->spatial - 1], t->ndim = 2 + u->spatial;
    t->shape[0] = batch, t->shape[1] = channels;
    for (int i = 0; i < u->spatial; i++) t->shape[2 + i] = sizes[i];
}

static int upsample_layout(struct mb_workload *w, char *err, size_t errlen) {
    struct mb_upsample u;
    if (mb_upsample_shape(&w->point, &u, err, errlen)) return -1;
    tensor_set_spatial(&w->inputs[0], "input", &u, w->point.batch, w->point.channels, u.in);
    tensor_set_spatial(&w->outputs[0], "out", &u, w->point.batch, w->point.channels, u.out);
    w->n_inputs = w->n_outputs = 1;
    return 0;
}

static int upsample_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[0];
    struct mb_upsample u;
    if (mb_upsample_shape(&w->point, &u, err, errlen)) return -1;
    if (x->ndim != 2 + u.spatial)
        return mb_errorf(err, errlen, "'input' has %d dimensions; this kernel expects (N, C, %s)", x->ndim,
                         spatial_names[u.spatial - 1]);
    int64_t size[MB_PARAM_MAX_INTS];
    if (!mb_param_ints(&w->point, "size", size, MB_PARAM_MAX_INTS) && mb_param_real(&w->point, "scale_factor") <= 0)
        return mb_errorf(err, errlen, "vision.upsample: give F.interpolate's size or scale_factor "
                         "(--param size=... or --param scale_factor=...)");
    struct mb_workload want = {.family = w->family, .point = w->point};
    want.point.batch = x->shape[0], want.point.channels = x->shape[1];
    want.point.width = x->shape[x->ndim - 1];
    if (u.spatial >= 2) want.point.height = x->shape[x->ndim - 2];
    if (u.spatial == 3) { /* the depth parameter, then the point parsed again with trilinear's declarations */
        char depth[32], msg[256];
        snprintf(depth, sizeof depth, "%lld", (long long)x->shape[2]);
        const struct mb_param_decl *const lists[2] = {upsample_params, mb_upsample_trilinear_params};
        const int counts[2] = {(int)(sizeof upsample_params / sizeof upsample_params[0]), 2};
        if (mb_param_set(&want.point, "depth", depth) ||
            mb_params_parse_decls(lists, counts, 2, "vision.upsample", want.point.params, MB_PARAMS_LENIENT,
                                  &want.point, msg, sizeof msg))
            return mb_errorf(err, errlen, "vision.upsample: cannot set depth = %s", depth);
    }
    return adopt_point(w, &want, err, errlen);
}

/* ------------------------------------------------------------------------------------------ oracle */
struct upsample_ctx {
    struct mb_upsample u;
    enum mb_interp_mode mode;
    int align_corners;
    const float *in;
};

/* Taps of output index dst along one axis, weights in double (PyTorch's float source coordinate). Returns taps. */
static int oracle_taps(const struct upsample_ctx *c, int axis, int64_t dst, int64_t idx[4], double w[4]) {
    const int64_t in = c->u.in[axis], out = c->u.out[axis];
    const double sf = c->u.scales[axis];
    const float scale = mb_interp_scale(in, out, c->align_corners, sf);
    switch (c->mode) {
    case MB_INTERP_NEAREST: idx[0] = mb_interp_nearest(dst, in, out, sf), w[0] = 1; return 1;
    case MB_INTERP_NEAREST_EXACT: idx[0] = mb_interp_nearest_exact(dst, in, out, sf), w[0] = 1; return 1;
    case MB_INTERP_LINEAR: {
        float lambda1;
        mb_interp_linear_taps(dst, in, out, scale, c->align_corners, idx, &lambda1);
        w[0] = 1.0 - lambda1, w[1] = lambda1;
        return 2;
    }
    case MB_INTERP_CUBIC: {
        float t;
        mb_interp_cubic_taps(dst, in, out, scale, c->align_corners, idx, &t);
        mb_interp_cubic_weights_double(t, w);
        return 4;
    }
    }
    return 0;
}

/* Output row (plane, [d,] [h,]) in double: the separable sum over every axis' taps. */
static void upsample_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct upsample_ctx *c = ctx;
    const struct mb_upsample *u = &c->u;
    const int last = u->spatial - 1;
    int64_t pos[3] = {0}, rest = row;
    for (int a = last - 1; a >= 0; a--) pos[a] = rest % u->out[a], rest /= u->out[a];
    const int64_t plane = rest;
    int64_t idx[3][4] = {{0}};
    double wt[3][4] = {{1}};
    int taps[3] = {1, 1, 1};
    for (int a = 0; a < last; a++) taps[a] = oracle_taps(c, a, pos[a], idx[a], wt[a]);
    const int64_t in_d = u->spatial == 3 ? u->in[0] : 1, in_h = u->spatial >= 2 ? u->in[last - 1] : 1;
    const int a_d = u->spatial == 3 ? 0 : -1, a_h = u->spatial >= 2 ? last - 1 : -1;
    for (int64_t x = 0; x < u->out[last]; x++) {
        int64_t iw[4];
        double ww[4];
        const int tw = oracle_taps(c, last, x, iw, ww);
        double sum = 0;
        for (int a = 0; a < (a_d >= 0 ? taps[a_d] : 1); a++)
            for (int b = 0; b < (a_h >= 0 ? taps[a_h] : 1); b++) {
                const int64_t id = a_d >= 0 ? idx[a_d][a] : 0, ih = a_h >= 0 ? idx[a_h][b] : 0;
                const double weight = (a_d >= 0 ? wt[a_d][a] : 1) * (a_h >= 0 ? wt[a_h][b] : 1);
                const float *src = c->in + ((plane * in_d + id) * in_h + ih) * u->in[last];
                for (int t = 0; t < tw; t++) sum += weight * ww[t] * src[iw[t]];
            }
        want[x] = sum;
    }
}

#define ORACLE (void (*)(void))upsample_oracle
static const struct mb_mechanism upsample_mechanisms[] = {
    {"nearest", "out[i] = in[min(floor(i * s), in - 1)], s = 1/scale_factor or in/out (float)", 1e-12, ORACLE},
    {"nearest_exact", "out[i] = in[min(floor((i + 0.5) s), in - 1)]", 1e-12, ORACLE},
    {"linear", "(1 - l) in[i0] + l in[i1], src = s (i + 0.5) - 0.5 (or i (in-1)/(out-1))", 1e-6, ORACLE},
    {"bilinear", "linear along H, then along W, separable", 1e-6, ORACLE},
    {"bicubic", "sum_{4x4} W(dy) W(dx) in, Keys' kernel A = -0.75, clamped borders", 1e-6, ORACLE},
    {"trilinear", "linear along D, H and W, separable", 1e-6, ORACLE},
};

static int upsample_check(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism,
                          const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    struct upsample_ctx ctx = {.in = w->inputs[0].data};
    if (mb_upsample_shape(&w->point, &ctx.u, err, errlen)) return -1;
    ctx.mode = mb_upsample_variant_of(k)->mode;
    ctx.align_corners = mb_upsample_align_corners(k, &w->point);
    if (strcmp(mechanism, k->mechanism))
        return mb_errorf(err, errlen, "vision.upsample: %s has no oracle of %s", k->name, mechanism);
    int64_t rows = ctx.u.planes;
    for (int a = 0; a < ctx.u.spatial - 1; a++) rows *= ctx.u.out[a];
    const struct mb_row_check c = {.width = ctx.u.out[ctx.u.spatial - 1], .scratch = 1, .got = w->outputs[0].data,
                                   .oracle = upsample_oracle, .ctx = &ctx};
    return mb_check_sampled(&c, 1, rows, 0, opts, out, err, errlen);
}

const struct mb_family mb_family_vision_upsample = {
    .name = "vision.upsample",
    .summary = "input (N, C, [D,] [H,] W) -> out (N, C, [D_out,] [H_out,] W_out): F.interpolate's nearest, "
               "nearest-exact, linear, bilinear, bicubic and trilinear modes (size or scale_factor, align_corners, "
               "recompute_scale_factor), PyTorch's float coordinate maps",
    .axes = upsample_axes,
    .n_axes = (int)(sizeof upsample_axes / sizeof upsample_axes[0]),
    .params = upsample_params,
    .n_params = (int)(sizeof upsample_params / sizeof upsample_params[0]),
    .mechanisms = upsample_mechanisms,
    .n_mechanisms = (int)(sizeof upsample_mechanisms / sizeof upsample_mechanisms[0]),
    .layout = upsample_layout,
    .fill = input_fill,
    .point_from_inputs = upsample_point_from_inputs,
    .check = upsample_check,
};

/* ------------------------------------------------------------------------------------------ kernels' shared code */
static double elements(const int64_t *sizes, int spatial, double planes) {
    for (int i = 0; i < spatial; i++) planes *= (double)sizes[i];
    return planes;
}

double mb_upsample_flops(const struct mb_kernel *k, const struct mb_point *p) {
    struct mb_upsample u;
    char err[8];
    if (mb_upsample_shape(p, &u, err, sizeof err)) return 0;
    const int taps = mb_interp_taps(mb_upsample_variant_of(k)->mode);
    return taps == 1 ? 0 : 2.0 * taps * u.spatial * elements(u.out, u.spatial, (double)u.planes);
}

double mb_upsample_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_upsample u;
    char err[8];
    if (mb_upsample_shape(p, &u, err, sizeof err)) return 0;
    return 4.0 * (elements(u.in, u.spatial, (double)u.planes) + elements(u.out, u.spatial, (double)u.planes));
}

double mb_upsample_workspace(const struct mb_kernel *k, const struct mb_point *p) {
    struct mb_upsample u;
    char err[8];
    if (mb_upsample_shape(p, &u, err, sizeof err)) return 0;
    return mb_interp_plan_workspace(u.spatial, u.out, mb_interp_taps(mb_upsample_variant_of(k)->mode));
}

int mb_upsample_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct mb_upsample u;
    if (mb_upsample_shape(&w->point, &u, err, errlen)) return -1;
    struct mb_interp_plan *pl = malloc(sizeof *pl);
    if (!pl) return mb_errorf(err, errlen, "out of memory");
    if (mb_interp_plan_init(pl, mb_upsample_variant_of(k)->mode, u.spatial, u.planes, u.in, u.out, u.scales,
                            mb_upsample_align_corners(k, &w->point), w->inputs[0].data, w->outputs[0].data, err,
                            errlen))
        return free(pl), -1;
    *state = pl;
    return 0;
}

void mb_upsample_run(void *state) { mb_interp_plan_run(state); }

void mb_upsample_teardown(void *state) {
    mb_interp_plan_free(state);
    free(state);
}
