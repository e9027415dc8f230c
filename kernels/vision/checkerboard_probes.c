/* The checkerboard probe of vision.conv_transpose2d (Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard
 * Artifacts", Distill: "Overlap & Artifacts").
 *
 *   checkerboard_overlap   x = ksize k. params stride=s (2), mode=transposed|resize (transposed), size=H (16).
 *     transposed: the overlap map = ConvTranspose2d(k, stride s, padding 0) of a constant-one H x H input with an
 *                 all-ones kernel and no bias, computed by the scatter kernel (mb_convt_scatter): out[y, x] counts
 *                 the (input pixel, tap) pairs that land on (y, x). It is separable: out = c(y) c(x), c(t) = the
 *                 number of a in [0, k) with t - a divisible by s.
 *     resize:     nearest-neighbour upsampling by s of the same input (a constant stays a constant), then a k x k
 *                 all-ones convolution, stride 1, padding k/2 (the kernel is symmetric, so the transposed
 *                 convolution with stride 1 is that convolution).
 *     value = max / min of the map over its interior (rows and columns at least k from every border). Exact, no
 *     trials: (k, s) = (3, 2): c alternates 2, 1, so the 2-D ratio is 4; (4, 2): c = 2 everywhere, ratio 1;
 *     resize + conv: ratio 1.
 */
#include "vision/family_conv.h"

#include <math.h>
#include <stdlib.h>

static const struct mb_param_decl checkerboard_params[] = {
    {"stride", MB_PARAM_INT, 2, 1, 16, NULL, "stride s of the transposed convolution (or the resize factor)"},
    {"mode", MB_PARAM_ENUM, 0, 0, 0, "transposed|resize", "transposed convolution, or nearest resize + convolution"},
    {"size", MB_PARAM_INT, 16, 4, 256, NULL, "H = W of the constant input"},
};

int mb_vision_overlap_map(int64_t k, int64_t stride, int resize, int64_t size, float **map, int64_t *rows,
                          int64_t *cols, char *err, size_t errlen) {
    *map = NULL;
    struct mb_convt c = {.s = {.batch = 1, .c_in = 1, .c_out = 1, .groups = 1, .h = size, .w = size, .k = k,
                               .stride = stride, .pad = 0, .out_pad = 0, .dil = 1}};
    if (resize) { /* nearest upsampling of the constant input is the constant input of size s H */
        c.s.h = c.s.w = size * stride;
        c.s.stride = 1;
        c.s.pad = k / 2;
    }
    if (mb_convt_shape_check(&c.s, err, errlen)) return -1;
    const int64_t in = c.s.h * c.s.w, out = c.s.h_out * c.s.w_out, col = mb_convt_col_floats(&c.s, 1);
    float *x = malloc((size_t)in * sizeof *x), *w = malloc((size_t)(k * k) * sizeof *w);
    float *y = malloc((size_t)out * sizeof *y), *scratch = malloc((size_t)col * sizeof *scratch);
    const float zero = 0;
    int rc = 0;
    if (!x || !w || !y || !scratch) rc = mb_errorf(err, errlen, "checkerboard_overlap: out of memory");
    if (rc == 0) {
        for (int64_t i = 0; i < in; i++) x[i] = 1;
        for (int64_t i = 0; i < k * k; i++) w[i] = 1;
        c.x = x, c.weight = w, c.bias = &zero, c.out = y;
        mb_convt_scatter(&c, scratch, col, 1);
        *map = y, *rows = c.s.h_out, *cols = c.s.w_out;
    } else free(y);
    free(x), free(w), free(scratch);
    return rc;
}

/* max / min over the interior of the overlap map for kernel size k; -1 with a message. */
static int overlap_ratio(int64_t k, int64_t stride, int resize, int64_t size, double *ratio, char *err,
                         size_t errlen) {
    float *y;
    int64_t rows, cols;
    if (mb_vision_overlap_map(k, stride, resize, size, &y, &rows, &cols, err, errlen)) return -1;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t oy = k; oy < rows - k; oy++)
        for (int64_t ox = k; ox < cols - k; ox++) {
            lo = fmin(lo, y[oy * cols + ox]);
            hi = fmax(hi, y[oy * cols + ox]);
        }
    free(y);
    if (!(lo > 0))
        return mb_errorf(err, errlen, "checkerboard_overlap: size = %lld leaves no interior for k = %lld",
                         (long long)size, (long long)k);
    *ratio = hi / lo;
    return 0;
}

static int probe_checkerboard(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                              int nx, uint64_t seed MB_UNUSED, struct mb_probe_series *out, char *err, size_t errlen) {
    const int64_t stride = mb_param_int(base, "stride"), size = mb_param_int(base, "size");
    const int resize = mb_param_enum(base, "mode") == 1;
    for (int xi = 0; xi < nx; xi++) {
        double ratio = 0;
        if (overlap_ratio((int64_t)xs[xi], stride, resize, size, &ratio, err, errlen)) return -1;
        out->x[out->count] = xs[xi];
        out->y[out->count] = ratio;
        out->ns[out->count] = 0;
        out->samples[out->count] = NULL;
        out->count++;
    }
    return 0;
}

const struct mb_probe mb_vision_checkerboard_probes[1] = {
    {.name = "checkerboard_overlap", .x_axis = "ksize", .run = probe_checkerboard, .params = checkerboard_params,
     .n_params = (int)(sizeof checkerboard_params / sizeof checkerboard_params[0]),
     .summary = "max / min over the interior of the overlap count map of a transposed convolution (all-ones kernel, "
                "constant input), or of nearest resize + convolution (mode=resize); Odena et al. 2016"},
};
