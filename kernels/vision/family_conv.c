/* vision.conv_transpose2d and vision.subpixel_conv families: shapes and their checks, workloads, the double
 * precision row oracles (one output row (n, c, y) at a time), the lowered stride-1 convolution and the scatter form
 * the kernels share, models. See family_conv.h for the math. */
#include "vision/family_conv.h"

#include "core/check.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#define MAX_ELEMENTS ((double)(INT64_C(1) << 32)) /* per tensor */

/* ------------------------------------------------------------------------------------------ shapes */
static const struct mb_param_decl convt_params[] = {
    {"out_channels", MB_PARAM_INT, 0, 0, 1 << 16, NULL, "C_out (0 = C_in)"},
    {"stride", MB_PARAM_INT, 0, 0, 64, NULL, "stride s (0 = the scale axis)"},
    {"padding", MB_PARAM_INT, 0, 0, 1 << 12, NULL, "implicit padding p removed from each border of the output"},
    {"output_padding", MB_PARAM_INT, 0, 0, 64, NULL, "extra rows/columns at the bottom/right (< stride or dilation)"},
    {"groups", MB_PARAM_INT, 1, 1, 1 << 16, NULL, "channel groups (divides C_in and C_out)"},
    {"dilation", MB_PARAM_INT, 1, 1, 64, NULL, "spacing of the kernel taps"},
};

static const struct mb_param_decl subpixel_params[] = {
    {"out_channels", MB_PARAM_INT, 0, 0, 1 << 16, NULL, "C, the channels after the pixel shuffle (0 = C_in)"},
};

int mb_convt_shape_check(struct mb_convt_shape *s, char *err, size_t errlen) {
    const struct { const char *name; int64_t v, min; } sizes[] = {
        {"batch", s->batch, 1}, {"C_in", s->c_in, 1}, {"C_out", s->c_out, 1}, {"H", s->h, 1}, {"W", s->w, 1},
        {"kernel_size", s->k, 1}, {"stride", s->stride, 1}, {"padding", s->pad, 0}, {"output_padding", s->out_pad, 0},
        {"groups", s->groups, 1}, {"dilation", s->dil, 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].v < sizes[i].min)
            return mb_errorf(err, errlen, "conv_transpose2d: %s = %lld (allowed: >= %lld)", sizes[i].name,
                             (long long)sizes[i].v, (long long)sizes[i].min);
    if (s->c_in % s->groups || s->c_out % s->groups)
        return mb_errorf(err, errlen, "conv_transpose2d: groups = %lld must divide C_in = %lld and C_out = %lld",
                         (long long)s->groups, (long long)s->c_in, (long long)s->c_out);
    if (s->out_pad >= s->stride && s->out_pad >= s->dil)
        return mb_errorf(err, errlen,
                         "conv_transpose2d: output_padding = %lld must be smaller than either stride = %lld or "
                         "dilation = %lld",
                         (long long)s->out_pad, (long long)s->stride, (long long)s->dil);
    s->h_out = (s->h - 1) * s->stride - 2 * s->pad + s->dil * (s->k - 1) + s->out_pad + 1;
    s->w_out = (s->w - 1) * s->stride - 2 * s->pad + s->dil * (s->k - 1) + s->out_pad + 1;
    if (s->h_out < 1 || s->w_out < 1)
        return mb_errorf(err, errlen, "conv_transpose2d: output size %lld x %lld is empty (padding = %lld too large)",
                         (long long)s->h_out, (long long)s->w_out, (long long)s->pad);
    const double biggest = fmax((double)s->batch * (double)s->c_out * (double)s->h_out * (double)s->w_out,
                                (double)s->batch * (double)s->c_in * (double)s->h * (double)s->w);
    if (biggest > MAX_ELEMENTS)
        return mb_errorf(err, errlen, "conv_transpose2d: %.3g elements in one tensor (max 2^32)", biggest);
    return 0;
}

/* The sizes the point names, unchecked. */
static void convt_sizes(const struct mb_point *p, struct mb_convt_shape *s) {
    const int64_t c_out = mb_param_int(p, "out_channels"), stride = mb_param_int(p, "stride");
    *s = (struct mb_convt_shape){.batch = p->batch, .c_in = p->channels, .c_out = c_out > 0 ? c_out : p->channels,
                                 .groups = mb_param_int(p, "groups"), .h = p->height, .w = p->width, .k = p->ksize,
                                 .stride = stride > 0 ? stride : p->scale, .pad = mb_param_int(p, "padding"),
                                 .out_pad = mb_param_int(p, "output_padding"), .dil = mb_param_int(p, "dilation")};
}

int mb_convt_shape(const struct mb_point *p, struct mb_convt_shape *s, char *err, size_t errlen) {
    convt_sizes(p, s);
    return mb_convt_shape_check(s, err, errlen);
}

int mb_convt_supports(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    struct mb_convt_shape s;
    return mb_convt_shape(p, &s, why, len) ? 1 : 0;
}

void mb_convt_bind(struct mb_convt *c, const struct mb_workload *w) {
    if (mb_convt_shape(&w->point, &c->s, NULL, 0)) /* layout validated it */
        mb_contract_violation("vision.conv_transpose2d: a workload with an invalid point");
    c->x = w->inputs[MB_VCONV_INPUT].data;
    c->weight = w->inputs[MB_VCONV_WEIGHT].data;
    c->bias = w->inputs[MB_VCONV_BIAS].data;
    c->out = w->outputs[0].data;
}

int mb_subpixel_shape(const struct mb_point *p, struct mb_subpixel_shape *s, char *err, size_t errlen) {
    const int64_t c_out = mb_param_int(p, "out_channels");
    *s = (struct mb_subpixel_shape){.batch = p->batch, .c_in = p->channels, .c_out = c_out > 0 ? c_out : p->channels,
                                    .r = p->scale, .h = p->height, .w = p->width, .k = p->ksize};
    if (s->k % 2 == 0)
        return mb_errorf(err, errlen, "subpixel_conv: kernel_size = %lld must be odd (padding k/2 keeps H x W)",
                         (long long)s->k);
    const double biggest = (double)s->batch * (double)s->c_out * (double)(s->h * s->r) * (double)(s->w * s->r);
    if (biggest > MAX_ELEMENTS)
        return mb_errorf(err, errlen, "subpixel_conv: %.3g output elements (max 2^32)", biggest);
    return 0;
}

void mb_subpixel_to_convt_weight(const struct mb_subpixel_shape *s, const float *wc, float *wt) {
    const int64_t r = s->r, k = s->k, kr = r * k;
    for (int64_t c = 0; c < s->c_out; c++)
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < r; j++)
                for (int64_t ci = 0; ci < s->c_in; ci++)
                    for (int64_t a = 0; a < k; a++)
                        for (int64_t b = 0; b < k; b++)
                            wt[((ci * s->c_out + c) * kr + i + (k - 1 - a) * r) * kr + j + (k - 1 - b) * r] =
                                wc[((mb_vision_shuffle_channel(c, i, j, r) * s->c_in + ci) * k + a) * k + b];
}

/* ------------------------------------------------------------------------------------------ models */
static struct mb_convt_shape model_shape(const struct mb_point *p) {
    struct mb_convt_shape s;
    if (mb_convt_shape(p, &s, NULL, 0)) memset(&s, 0, sizeof s);
    return s;
}

double mb_convt_flops_useful(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const struct mb_convt_shape s = model_shape(p);
    return s.groups ? 2.0 * (double)s.batch * (double)s.c_in * (double)(s.c_out / s.groups) * (double)(s.k * s.k) *
                          (double)s.h * (double)s.w
                    : 0;
}

double mb_convt_flops_zero_insert(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const struct mb_convt_shape s = model_shape(p);
    return s.groups ? 2.0 * (double)s.batch * (double)s.c_out * (double)(s.c_in / s.groups) * (double)(s.k * s.k) *
                          (double)s.h_out * (double)s.w_out
                    : 0;
}

double mb_convt_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const struct mb_convt_shape s = model_shape(p);
    if (!s.groups) return 0;
    return 4.0 * ((double)s.batch * (double)s.c_in * (double)(s.h * s.w) +
                  (double)s.c_in * (double)(s.c_out / s.groups) * (double)(s.k * s.k) + (double)s.c_out +
                  (double)s.batch * (double)s.c_out * (double)(s.h_out * s.w_out));
}

int mb_subpixel_supports(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p, char *why, size_t len) {
    struct mb_subpixel_shape s;
    return mb_subpixel_shape(p, &s, why, len) ? 1 : 0;
}

double mb_subpixel_flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_subpixel_shape s;
    if (mb_subpixel_shape(p, &s, NULL, 0)) return 0;
    return 2.0 * (double)s.batch * (double)(s.c_out * s.r * s.r) * (double)s.c_in * (double)(s.k * s.k) *
           (double)(s.h * s.w);
}

double mb_subpixel_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_subpixel_shape s;
    if (mb_subpixel_shape(p, &s, NULL, 0)) return 0;
    const double cr2 = (double)(s.c_out * s.r * s.r);
    return 4.0 * ((double)s.batch * (double)s.c_in * (double)(s.h * s.w) + cr2 * (double)(s.c_in * s.k * s.k) + cr2 +
                  (double)s.batch * cr2 * (double)(s.h * s.w));
}

/* ------------------------------------------------------------------------------------------ lowered convolution */
int64_t mb_conv_band_rows(int64_t cols_per_pixel, int64_t w_out, int64_t rows) {
    const int64_t target = (INT64_C(1) << 18) / (cols_per_pixel > 0 ? cols_per_pixel : 1); /* pixels in 1 MiB */
    int64_t band = target / (w_out > 0 ? w_out : 1);
    if (band < 1) band = 1;
    return band < rows ? band : rows;
}

void mb_conv_rows(const struct mb_conv_rows *c, int64_t r0, int64_t r1, float *col, float *out, int64_t ldo,
                  float beta) {
    const int64_t pixels = (r1 - r0) * c->w_out, kk = c->k * c->k;
    for (int64_t ch = 0; ch < c->channels; ch++) {
        const float *plane = c->src + ch * c->hs * c->ws;
        for (int64_t a = 0; a < c->k; a++)
            for (int64_t b = 0; b < c->k; b++) {
                float *dst = col + (ch * kk + a * c->k + b) * pixels;
                /* columns x with 0 <= x - pad + b dil < ws */
                const int64_t off = b * c->dil - c->pad;
                int64_t x0 = off < 0 ? -off : 0, x1 = c->ws - off;
                if (x1 > c->w_out) x1 = c->w_out;
                if (x1 < x0) x1 = x0;
                for (int64_t y = r0; y < r1; y++, dst += c->w_out) {
                    const int64_t sy = y - c->pad + a * c->dil;
                    if (sy < 0 || sy >= c->hs || x0 >= x1) {
                        memset(dst, 0, (size_t)c->w_out * sizeof *dst);
                        continue;
                    }
                    const float *row = plane + sy * c->ws + off;
                    for (int64_t x = 0; x < x0; x++) dst[x] = 0;
                    memcpy(dst + x0, row + x0, (size_t)(x1 - x0) * sizeof *dst);
                    for (int64_t x = x1; x < c->w_out; x++) dst[x] = 0;
                }
            }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c->m_rows, (int)pixels, (int)(c->channels * kk), 1.0f,
                c->weight, (int)(c->channels * kk), col, (int)pixels, beta, out, (int)ldo);
}

/* ------------------------------------------------------------------------------------------ scatter form */
/* This thread's share [c0, c1) of `count` channels. */
static void thread_share(int64_t count, int threads, int me, int64_t *c0, int64_t *c1) {
    *c0 = count * me / threads;
    *c1 = count * (me + 1) / threads;
}

static int64_t scatter_band_rows(const struct mb_convt_shape *s, int threads) {
    const int64_t chunk = (s->c_out + threads - 1) / threads, cog = s->c_out / s->groups;
    return mb_conv_band_rows((chunk < cog ? chunk : cog) * s->k * s->k, s->w, s->h);
}

int64_t mb_convt_col_floats(const struct mb_convt_shape *s, int threads) {
    const int64_t chunk = (s->c_out + threads - 1) / threads, cog = s->c_out / s->groups;
    return (chunk < cog ? chunk : cog) * s->k * s->k * scatter_band_rows(s, threads) * s->w;
}

/* First w with 0 <= w s + off, and one past the last with w s + off < limit, within [0, n). */
static void tap_range(int64_t off, int64_t s, int64_t limit, int64_t n, int64_t *lo, int64_t *hi) {
    *lo = off >= 0 ? 0 : (-off + s - 1) / s;
    const int64_t room = limit - off; /* w s < room */
    *hi = room <= 0 ? 0 : (room + s - 1) / s;
    if (*hi > n) *hi = n;
    if (*hi < *lo) *hi = *lo;
}

/* Output channels [co0, co1) of group g (local indices) of image n, input rows [h0, h1): one sgemm
 * cols[(co, a, b), (h, w)] = sum_ci W[g cig + ci, co, a, b] x[g cig + ci, h, w], then col2im. */
static void scatter_band(const struct mb_convt *c, int64_t n, int64_t g, int64_t co0, int64_t co1, int64_t h0,
                         int64_t h1, float *col) {
    const struct mb_convt_shape *s = &c->s;
    const int64_t cig = s->c_in / s->groups, cog = s->c_out / s->groups, kk = s->k * s->k;
    const int64_t pixels = (h1 - h0) * s->w, m = (co1 - co0) * kk;
    const float *x = c->x + ((n * s->c_in + g * cig) * s->h + h0) * s->w;
    const float *wt = c->weight + (g * cig * cog + co0) * kk; /* W[g cig, co0, 0, 0]; rows of cog k^2 */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)pixels, (int)cig, 1.0f, wt, (int)(cog * kk), x,
                (int)(s->h * s->w), 0.0f, col, (int)pixels);
    for (int64_t co = co0; co < co1; co++) {
        float *plane = c->out + (n * s->c_out + g * cog + co) * s->h_out * s->w_out;
        for (int64_t a = 0; a < s->k; a++)
            for (int64_t b = 0; b < s->k; b++) {
                const float *src = col + (((co - co0) * s->k + a) * s->k + b) * pixels;
                int64_t w0, w1;
                tap_range(b * s->dil - s->pad, s->stride, s->w_out, s->w, &w0, &w1);
                for (int64_t h = h0; h < h1; h++) {
                    const int64_t oy = h * s->stride - s->pad + a * s->dil;
                    if (oy < 0 || oy >= s->h_out) continue;
                    float *dst = plane + oy * s->w_out;
                    const float *row = src + (h - h0) * s->w;
                    const int64_t off = b * s->dil - s->pad;
                    for (int64_t w = w0; w < w1; w++) dst[w * s->stride + off] += row[w];
                }
            }
    }
}

void mb_convt_scatter(const struct mb_convt *c, float *col, int64_t col_floats_per_thread, int threads) {
    const struct mb_convt_shape *s = &c->s;
    const int64_t cog = s->c_out / s->groups, band = scatter_band_rows(s, threads);
#pragma omp parallel num_threads(threads)
    {
        const int me = omp_get_thread_num(), team = omp_get_num_threads();
        int64_t c0, c1;
        thread_share(s->c_out, team, me, &c0, &c1);
        float *my_col = col + (int64_t)me * col_floats_per_thread;
        for (int64_t n = 0; n < s->batch; n++) {
            for (int64_t co = c0; co < c1; co++) {
                float *plane = c->out + (n * s->c_out + co) * s->h_out * s->w_out;
                for (int64_t i = 0; i < s->h_out * s->w_out; i++) plane[i] = c->bias[co];
            }
            /* the groups this share touches, each with its own channel range */
            for (int64_t co = c0; co < c1;) {
                const int64_t g = co / cog, end = (g + 1) * cog < c1 ? (g + 1) * cog : c1;
                for (int64_t h0 = 0; h0 < s->h; h0 += band)
                    scatter_band(c, n, g, co - g * cog, end - g * cog, h0, h0 + band < s->h ? h0 + band : s->h,
                                 my_col);
                co = end;
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ oracles */
/* Transposed convolution, output row (n, co, oy) in double: the gather form of the definition. */
static void convt_row_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct mb_convt *c = ctx;
    const struct mb_convt_shape *s = &c->s;
    const int64_t oy = row % s->h_out, co_all = row / s->h_out % s->c_out, n = row / s->h_out / s->c_out;
    const int64_t cig = s->c_in / s->groups, cog = s->c_out / s->groups, g = co_all / cog, co = co_all % cog;
    for (int64_t ox = 0; ox < s->w_out; ox++) {
        double sum = c->bias[co_all];
        for (int64_t a = 0; a < s->k; a++) {
            const int64_t ty = oy + s->pad - a * s->dil;
            if (ty < 0 || ty % s->stride || ty / s->stride >= s->h) continue;
            for (int64_t b = 0; b < s->k; b++) {
                const int64_t tx = ox + s->pad - b * s->dil;
                if (tx < 0 || tx % s->stride || tx / s->stride >= s->w) continue;
                for (int64_t ci = 0; ci < cig; ci++) {
                    const int64_t cin = g * cig + ci;
                    sum += (double)c->x[((n * s->c_in + cin) * s->h + ty / s->stride) * s->w + tx / s->stride] *
                           (double)c->weight[((cin * cog + co) * s->k + a) * s->k + b];
                }
            }
        }
        want[ox] = sum;
    }
}

struct subpixel_ctx {
    struct mb_subpixel_shape s;
    const float *x, *weight, *bias;
};

/* Sub-pixel convolution, output row (n, c, Y) in double: out[Y, X] = conv(x)[c r^2 + i r + j, Y / r, X / r]. */
static void subpixel_row_oracle(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct subpixel_ctx *c = ctx;
    const struct mb_subpixel_shape *s = &c->s;
    const int64_t hr = s->h * s->r, y = row % hr, ch = row / hr % s->c_out, n = row / hr / s->c_out;
    const int64_t h = y / s->r, i = y % s->r, pad = s->k / 2;
    for (int64_t xo = 0; xo < s->w * s->r; xo++) {
        const int64_t w = xo / s->r, j = xo % s->r, m = mb_vision_shuffle_channel(ch, i, j, s->r);
        double sum = c->bias[m];
        for (int64_t ci = 0; ci < s->c_in; ci++)
            for (int64_t a = 0; a < s->k; a++) {
                const int64_t sy = h + a - pad;
                if (sy < 0 || sy >= s->h) continue;
                for (int64_t b = 0; b < s->k; b++) {
                    const int64_t sx = w + b - pad;
                    if (sx < 0 || sx >= s->w) continue;
                    sum += (double)c->x[((n * s->c_in + ci) * s->h + sy) * s->w + sx] *
                           (double)c->weight[((m * s->c_in + ci) * s->k + a) * s->k + b];
                }
            }
        want[xo] = sum;
    }
}

static const struct mb_mechanism convt_mechanisms[] = {
    {"conv_transpose2d", "y[co, h s - p + a dil, w s - p + b dil] += x[ci, h, w] W[ci, co, a, b] + bias[co]", 1e-5,
     (void (*)(void))convt_row_oracle},
};

static const struct mb_mechanism subpixel_mechanisms[] = {
    {"subpixel_conv", "out = PixelShuffle(r)(conv2d(x, W, bias, padding = k/2))", 1e-5,
     (void (*)(void))subpixel_row_oracle},
};

static int convt_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w,
                       const char *mechanism MB_UNUSED, const struct mb_check_opts *opts, struct mb_errors *out,
                       char *err, size_t errlen) {
    struct mb_convt c;
    mb_convt_bind(&c, w);
    const struct mb_row_check rc = {.width = c.s.w_out, .scratch = 1, .got = c.out, .oracle = convt_row_oracle,
                                    .ctx = &c};
    return mb_check_sampled(&rc, 1, c.s.batch * c.s.c_out * c.s.h_out, 0, opts, out, err, errlen);
}

static int subpixel_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w,
                          const char *mechanism MB_UNUSED, const struct mb_check_opts *opts, struct mb_errors *out,
                          char *err, size_t errlen) {
    struct subpixel_ctx c = {.x = w->inputs[MB_VCONV_INPUT].data, .weight = w->inputs[MB_VCONV_WEIGHT].data,
                             .bias = w->inputs[MB_VCONV_BIAS].data};
    if (mb_subpixel_shape(&w->point, &c.s, err, errlen)) return -1;
    const struct mb_row_check rc = {.width = c.s.w * c.s.r, .scratch = 1, .got = w->outputs[0].data,
                                    .oracle = subpixel_row_oracle, .ctx = &c};
    return mb_check_sampled(&rc, 1, c.s.batch * c.s.c_out * c.s.h * c.s.r, 0, opts, out, err, errlen);
}

/* ------------------------------------------------------------------------------------------ workloads */
/* Layouts check only what allocation needs: `mechbench eval` lays the family's default point out before it reads
   the user's tensors, so the checks that tie params to shapes (groups | C, output_padding, an empty output, odd k)
   are the kernels' `supports` (mb_convt_supports, mb_subpixel_supports), run before any kernel is set up. */
static int convt_layout(struct mb_workload *w, char *err, size_t errlen) {
    struct mb_convt_shape s;
    convt_sizes(&w->point, &s);
    if (s.groups < 1 || s.c_out / s.groups < 1) s.groups = 1;
    s.h_out = (s.h - 1) * s.stride - 2 * s.pad + s.dil * (s.k - 1) + s.out_pad + 1;
    s.w_out = (s.w - 1) * s.stride - 2 * s.pad + s.dil * (s.k - 1) + s.out_pad + 1;
    if (s.h_out < 1) s.h_out = 1;
    if (s.w_out < 1) s.w_out = 1;
    const double biggest = fmax((double)s.batch * (double)s.c_out * (double)s.h_out * (double)s.w_out,
                                (double)s.batch * (double)s.c_in * (double)s.h * (double)s.w);
    if (biggest > MAX_ELEMENTS)
        return mb_errorf(err, errlen, "conv_transpose2d: %.3g elements in one tensor (max 2^32)", biggest);
    mb_tensor_set(&w->inputs[MB_VCONV_INPUT], "input", "batch,C_in,H,W", 4, s.batch, s.c_in, s.h, s.w);
    mb_tensor_set(&w->inputs[MB_VCONV_WEIGHT], "weight", "C_in,C_out/groups,k,k", 4, s.c_in, s.c_out / s.groups, s.k,
                  s.k);
    mb_tensor_set(&w->inputs[MB_VCONV_BIAS], "bias", "C_out", 1, s.c_out, 0, 0, 0);
    w->n_inputs = 3;
    mb_tensor_set(&w->outputs[0], "out", "batch,C_out,H_out,W_out", 4, s.batch, s.c_out, s.h_out, s.w_out);
    w->n_outputs = 1;
    return 0;
}

static int subpixel_layout(struct mb_workload *w, char *err, size_t errlen) {
    struct mb_subpixel_shape s;
    if (mb_subpixel_shape(&w->point, &s, err, errlen) && s.k % 2) return -1; /* even k: supports refuses it */
    const int64_t cr2 = s.c_out * s.r * s.r;
    mb_tensor_set(&w->inputs[MB_VCONV_INPUT], "input", "batch,C_in,H,W", 4, s.batch, s.c_in, s.h, s.w);
    mb_tensor_set(&w->inputs[MB_VCONV_WEIGHT], "weight", "C*r*r,C_in,k,k", 4, cr2, s.c_in, s.k, s.k);
    mb_tensor_set(&w->inputs[MB_VCONV_BIAS], "bias", "C*r*r", 1, cr2, 0, 0, 0);
    w->n_inputs = 3;
    mb_tensor_set(&w->outputs[0], "out", "batch,C,H*r,W*r", 4, s.batch, s.c_out, s.h * s.r, s.w * s.r);
    w->n_outputs = 1;
    return 0;
}

/* U(-bound, bound) through the normal CDF of N(0, 1) draws (PyTorch's default conv init: bound 1/sqrt(fan_in)). */
static void uniform_fill(struct mb_tensor *t, uint64_t seed, uint64_t stream, double bound) {
    mb_fill_normal(t, seed, stream, 0.0, 1.0);
    const int64_t count = mb_tensor_numel(t);
    for (int64_t i = 0; i < count; i++) t->data[i] = (float)(bound * erf((double)t->data[i] / sqrt(2.0)));
}

/* input ~ N(0, 1); weight, bias ~ U(+-1/sqrt(fan_in)), fan_in = weight.size(1) k^2 (as torch.nn's init) */
static void conv_fill(struct mb_workload *w) {
    const struct mb_tensor *wt = &w->inputs[MB_VCONV_WEIGHT];
    const double bound = 1.0 / sqrt((double)(wt->shape[1] * wt->shape[2] * wt->shape[3]));
    mb_fill_normal(&w->inputs[MB_VCONV_INPUT], w->seed, 1, 0.0, 1.0);
    uniform_fill(&w->inputs[MB_VCONV_WEIGHT], w->seed, 2, bound);
    uniform_fill(&w->inputs[MB_VCONV_BIAS], w->seed, 3, bound);
}

/* Shapes of input and weight give batch, C_in, H, W, k and weight dim 0 (C_out/groups, or C r^2): the caller sets
   the rest; then the layout of the new point must match every tensor read. */
static int conv_point_common(struct mb_workload *w, struct mb_point *pt, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[MB_VCONV_INPUT], *wt = &w->inputs[MB_VCONV_WEIGHT];
    if (x->ndim != 4) return mb_errorf(err, errlen, "'input' has %d dimensions; expected (batch, C_in, H, W)", x->ndim);
    if (wt->ndim != 4 || wt->shape[2] != wt->shape[3])
        return mb_errorf(err, errlen, "'weight' must have 4 dimensions with a square kernel (k, k)");
    pt->batch = x->shape[0];
    pt->channels = x->shape[1];
    pt->height = x->shape[2];
    pt->width = x->shape[3];
    pt->ksize = wt->shape[2];
    return 0;
}

static int conv_point_finish(struct mb_workload *w, struct mb_point *pt, const struct mb_param_decl *decls, int count,
                             int (*layout)(struct mb_workload *, char *, size_t), char *err, size_t errlen) {
    char msg[256];
    if (mb_params_parse_decls((const struct mb_param_decl *const[]){decls}, (const int[]){count}, 1, w->family->name,
                              pt->params, MB_PARAMS_LENIENT, pt, msg, sizeof msg))
        return mb_errorf(err, errlen, "%s", msg);
    struct mb_workload want = {.family = w->family, .point = *pt};
    if (layout(&want, err, errlen)) return -1;
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

static int convt_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    struct mb_point pt = w->point;
    if (conv_point_common(w, &pt, err, errlen)) return -1;
    const int64_t groups = mb_param_int(&w->point, "groups");
    char c_out[32];
    snprintf(c_out, sizeof c_out, "%lld", (long long)(w->inputs[MB_VCONV_WEIGHT].shape[1] * groups));
    if (mb_param_set(&pt, "out_channels", c_out)) return mb_errorf(err, errlen, "no out_channels parameter");
    return conv_point_finish(w, &pt, convt_params, (int)(sizeof convt_params / sizeof convt_params[0]), convt_layout,
                             err, errlen);
}

static int subpixel_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    struct mb_point pt = w->point;
    if (conv_point_common(w, &pt, err, errlen)) return -1;
    const int64_t r = pt.scale, cr2 = w->inputs[MB_VCONV_WEIGHT].shape[0];
    if (r < 1 || cr2 % (r * r))
        return mb_errorf(err, errlen, "'weight' has %lld output channels, not a multiple of r^2 = %lld (r = --scale)",
                         (long long)cr2, (long long)(r * r));
    char c_out[32];
    snprintf(c_out, sizeof c_out, "%lld", (long long)(cr2 / (r * r)));
    if (mb_param_set(&pt, "out_channels", c_out)) return mb_errorf(err, errlen, "no out_channels parameter");
    return conv_point_finish(w, &pt, subpixel_params, (int)(sizeof subpixel_params / sizeof subpixel_params[0]),
                             subpixel_layout, err, errlen);
}

/* ------------------------------------------------------------------------------------------ families */
static const struct mb_axis_rule convt_axes[] = {
    {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_channels, 64, 1, 1 << 16}, {MB_AXIS_height, 128, 1, 1 << 16},
    {MB_AXIS_width, 128, 1, 1 << 16}, {MB_AXIS_ksize, 4, 1, 64}, {MB_AXIS_scale, 1, 1, 64},
};

static const struct mb_axis_rule subpixel_axes[] = {
    {MB_AXIS_batch, 1, 1, 1 << 16}, {MB_AXIS_channels, 64, 1, 1 << 16}, {MB_AXIS_height, 128, 1, 1 << 16},
    {MB_AXIS_width, 128, 1, 1 << 16}, {MB_AXIS_ksize, 3, 1, 63}, {MB_AXIS_scale, 2, 1, 16},
};

const struct mb_family mb_family_vision_conv_transpose2d = {
    .name = "vision.conv_transpose2d",
    .summary = "input (batch, C_in, H, W), weight (C_in, C_out/groups, k, k), bias (C_out) -> out (batch, C_out, "
               "H', W'): torch.nn.ConvTranspose2d (stride, padding, output_padding, groups, dilation)",
    .axes = convt_axes,
    .n_axes = (int)(sizeof convt_axes / sizeof convt_axes[0]),
    .params = convt_params,
    .n_params = (int)(sizeof convt_params / sizeof convt_params[0]),
    .probes = mb_vision_checkerboard_probes,
    .n_probes = 1,
    .mechanisms = convt_mechanisms,
    .n_mechanisms = 1,
    .layout = convt_layout,
    .fill = conv_fill,
    .point_from_inputs = convt_point_from_inputs,
    .check = convt_check,
};

const struct mb_family mb_family_vision_subpixel_conv = {
    .name = "vision.subpixel_conv",
    .summary = "input (batch, C_in, H, W), weight (C r^2, C_in, k, k), bias (C r^2) -> out (batch, C, H r, W r): "
               "ESPCN's convolution at low resolution + PixelShuffle(r)",
    .axes = subpixel_axes,
    .n_axes = (int)(sizeof subpixel_axes / sizeof subpixel_axes[0]),
    .params = subpixel_params,
    .n_params = (int)(sizeof subpixel_params / sizeof subpixel_params[0]),
    .probes = mb_vision_subpixel_probes,
    .n_probes = 1,
    .mechanisms = subpixel_mechanisms,
    .n_mechanisms = 1,
    .layout = subpixel_layout,
    .fill = conv_fill,
    .point_from_inputs = subpixel_point_from_inputs,
    .check = subpixel_check,
};
