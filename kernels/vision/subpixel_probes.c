/* The sub-pixel convolution's probe (Shi et al. 2016, ESPCN, Sec. 2.2; Shi et al. 2016b, "Is the deconvolution
 * layer the same as a convolutional layer?").
 *
 *   subpixel_equivalence   x = scale r. params quantity=difference|flops_zero_insert|flops_scatter (difference),
 *                          ksize k (3), C_in = channels (4), H = W = height (9); C = 3.
 *     difference:        rel_l2 between vision.subpixel_conv.im2col and vision.conv_transpose2d.scatter with
 *                        kernel r k, stride r, padding r (k - 1) / 2 and the weights of mb_subpixel_to_convt_weight
 *                        (bias constant over the phases), on the same seeded input: ~1e-7 (float rounding).
 *     flops_zero_insert: FLOP model of the zero-insertion form of that transposed convolution / the sub-pixel
 *                        layer's: r^2 (the zeros it multiplies).
 *     flops_scatter:     the same for the scatter form: 1 (the same multiplications).
 * Exact, no trials.
 */
#include "vision/family_conv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct mb_param_decl equivalence_params[] = {
    {"quantity", MB_PARAM_ENUM, 0, 0, 0, "difference|flops_zero_insert|flops_scatter", "what is measured"},
};

/* Lay out, fill and (run) kernel `name` at p; the caller frees w. */
static int prepare(const char *name, struct mb_point *p, const char *params, struct mb_workload *w,
                   const struct mb_kernel **k, char *err, size_t errlen) {
    *k = mb_kernel_find(name);
    if (!*k) return mb_errorf(err, errlen, "subpixel_equivalence: kernel %s is not registered", name);
    if (mb_params_parse(*k, params, 0, p, err, errlen)) return -1;
    mb_point_complete(*k, p, MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width) |
                                 MB_AXIS_BIT(ksize) | MB_AXIS_BIT(scale));
    if (mb_kernel_supports(*k, p, err, errlen)) return -1;
    return mb_workload_create(w, (*k)->family, p, 17, err, errlen);
}

static int run_kernel(const struct mb_kernel *k, struct mb_workload *w, char *err, size_t errlen) {
    void *state = NULL;
    if (mb_kernel_setup(k, &state, w, err, errlen)) return -1;
    k->run(state);
    k->teardown(state);
    return 0;
}

static int one_scale(const struct mb_point *base, int64_t r, int quantity, double *value, char *err, size_t errlen) {
    const int64_t k = base->ksize > 0 ? base->ksize : 3, c_in = base->channels > 0 ? base->channels : 4;
    const int64_t c = 3;
    const int64_t h = base->height > 0 ? base->height : 9;
    struct mb_point ps = {.batch = 1, .channels = c_in, .height = h, .width = h, .ksize = k, .scale = r, .threads = 1};
    struct mb_point pt = ps;
    pt.ksize = r * k, pt.scale = r;
    char sp_params[64], ct_params[128];
    snprintf(sp_params, sizeof sp_params, "out_channels=%lld", (long long)c);
    snprintf(ct_params, sizeof ct_params, "out_channels=%lld;stride=%lld;padding=%lld", (long long)c, (long long)r,
             (long long)(r * (k - 1) / 2));
    struct mb_workload ws, wt;
    const struct mb_kernel *sub, *scatter, *zero = mb_kernel_find("vision.conv_transpose2d.zero_insert");
    memset(&ws, 0, sizeof ws), memset(&wt, 0, sizeof wt);
    int rc = prepare("vision.subpixel_conv.im2col", &ps, sp_params, &ws, &sub, err, errlen);
    if (!rc) rc = prepare("vision.conv_transpose2d.scatter", &pt, ct_params, &wt, &scatter, err, errlen);
    if (!rc && quantity > 0) {
        const double own = mb_kernel_flops(sub, &ps);
        *value = (quantity == 1 ? (zero ? mb_kernel_flops(zero, &pt) : NAN) : mb_kernel_flops(scatter, &pt)) / own;
    } else if (!rc) {
        struct mb_subpixel_shape s;
        float *bias = ws.inputs[MB_VCONV_BIAS].data;
        for (int64_t ch = 0; ch < c; ch++) /* one bias per channel, the same over its r^2 phases */
            for (int64_t m = 1; m < r * r; m++) bias[ch * r * r + m] = bias[ch * r * r];
        rc = mb_subpixel_shape(&ps, &s, err, errlen);
        if (!rc) {
            mb_subpixel_to_convt_weight(&s, ws.inputs[MB_VCONV_WEIGHT].data, wt.inputs[MB_VCONV_WEIGHT].data);
            memcpy(wt.inputs[MB_VCONV_INPUT].data, ws.inputs[MB_VCONV_INPUT].data,
                   (size_t)mb_tensor_numel(&ws.inputs[MB_VCONV_INPUT]) * sizeof(float));
            for (int64_t ch = 0; ch < c; ch++) wt.inputs[MB_VCONV_BIAS].data[ch] = bias[ch * r * r];
            rc = run_kernel(sub, &ws, err, errlen);
        }
        if (!rc) rc = run_kernel(scatter, &wt, err, errlen);
        if (!rc) {
            double d = 0, ref = 0;
            const float *a = ws.outputs[0].data, *b = wt.outputs[0].data;
            for (int64_t i = 0; i < mb_tensor_numel(&ws.outputs[0]); i++)
                d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), ref += (double)a[i] * a[i];
            *value = sqrt(d / ref);
        }
    }
    mb_workload_free(&ws);
    mb_workload_free(&wt);
    return rc;
}

static int probe_equivalence(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                             int nx, uint64_t seed MB_UNUSED, struct mb_probe_series *out, char *err, size_t errlen) {
    const int quantity = mb_param_enum(base, "quantity");
    for (int xi = 0; xi < nx; xi++) {
        double value;
        if (one_scale(base, (int64_t)xs[xi], quantity, &value, err, errlen)) return -1;
        out->x[out->count] = xs[xi];
        out->y[out->count] = value;
        out->ns[out->count] = 0;
        out->samples[out->count] = NULL;
        out->count++;
    }
    return 0;
}

const struct mb_probe mb_vision_subpixel_probes[1] = {
    {.name = "subpixel_equivalence", .x_axis = "scale", .run = probe_equivalence, .params = equivalence_params,
     .n_params = (int)(sizeof equivalence_params / sizeof equivalence_params[0]),
     .summary = "sub-pixel convolution vs the transposed convolution with kernel r k, stride r under the exact weight "
                "mapping: output difference (rel_l2), or the FLOP-model ratios of its two forms to the sub-pixel layer"},
};
