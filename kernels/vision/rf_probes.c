/* The vision.rf family's probes (for experiments/claims/vision_rf.ini).
 *
 *   rf_field   x = height: the input size. params net (a shipped net of experiments/nets), layer (a layer name, or
 *              last), quantity; exact, no trials:
 *                r, jump          the formula's field and jump of the layer (height axis), bottom-up
 *                first            the first input pixel of unit 0's field (minus the effective padding)
 *                size             the layer's output size at input x
 *                measured_r       the field measured by impulses through a 1-D stack of the net (rf_measure.c), at
 *                                 an input large enough for every layer (at least x)
 *                mismatches       layers (of all) whose measured fields differ from the formula's
 *                recursion_gap    max over layers of |r_top-down - r_bottom-up| + |first_top-down - first_bottom-up|
 *   erf_width  x = n: the depth L of a stack of 3x3 convolutions with random weights (rf_erf.c). params activation
 *              (linear | relu), channels, trials, quantity: width (the standard deviation of the normalised squared
 *              gradient map, pixels) or share (width / (2 L + 1), the theoretical field); samples: one per trial (its
 *              own map), y: their mean. Luo et al. 2016: width ~ sqrt(L), share ~ 1/sqrt(L).
 */
#include "vision/rf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_param_decl rf_field_params[] = {
    {"net", MB_PARAM_ENUM, 0, 0, 0, MB_RF_SHIPPED_NETS, "a net of " MB_RF_NETS_DIR},
    {"layer", MB_PARAM_ENUM, 0, 0, 0, "last|pool5|conv5_3|conv5|conv1|pool1",
     "the layer (last: the net's final layer)"},
    {"quantity", MB_PARAM_ENUM, 0, 0, 0, "r|jump|first|size|measured_r|mismatches|recursion_gap", "the number"},
};

static const struct mb_param_decl erf_params[] = {
    {"activation", MB_PARAM_ENUM, 0, 0, 0, "linear|relu", "no nonlinearity, or ReLU after every layer but the last"},
    {"channels", MB_PARAM_INT, 8, 1, 64, NULL, "channels C of every layer"},
    {"trials", MB_PARAM_INT, 16, 2, 1000, NULL, "random draws of the weights (and inputs)"},
    {"quantity", MB_PARAM_ENUM, 0, 0, 0, "width|share", "ERF width (pixels), or width / (2 L + 1)"},
};

/* The text of ENUM parameter `name` of decls. */
static void enum_text(const struct mb_param_decl *decls, int n, const struct mb_point *p, const char *name, char *buf,
                      size_t len) {
    const char *s = "";
    for (int i = 0; i < n; i++)
        if (!strcmp(decls[i].name, name)) s = decls[i].values;
    for (int i = mb_param_enum(p, name); i > 0 && *s; i--) s += strcspn(s, "|") + 1;
    snprintf(buf, len, "%.*s", (int)strcspn(s, "|"), s);
}

static void exact_point(struct mb_probe_series *out, double x, double y) {
    out->x[out->count] = x;
    out->y[out->count] = y;
    out->ns[out->count] = 0;
    out->samples[out->count] = NULL;
    out->count++;
}

/* max over layers of the disagreement of the two recursions (height axis). */
static double recursion_gap(const struct mb_rf_net *net, const struct mb_rf_field *f) {
    double gap = 0;
    for (int i = 0; i < net->n; i++) {
        int64_t r[2], lo[2];
        mb_rf_top_down(net, f, i, r, lo);
        const double first = f[i].centre[0] - (double)(f[i].r[0] - 1) / 2;
        gap = fmax(gap, fabs((double)(r[0] - f[i].r[0])) + fabs((double)lo[0] - first));
    }
    return gap;
}

static int probe_rf_field(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                          int nx, uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const int n_decls = (int)(sizeof rf_field_params / sizeof rf_field_params[0]);
    char name[64], layer_name[64];
    enum_text(rf_field_params, n_decls, base, "net", name, sizeof name);
    enum_text(rf_field_params, n_decls, base, "layer", layer_name, sizeof layer_name);
    const int quantity = mb_param_enum(base, "quantity");
    struct mb_rf_net *net = malloc(sizeof *net);
    if (!net) return mb_errorf(err, errlen, "out of memory");
    if (mb_rf_net_load(MB_RF_NETS_DIR, name, net, err, errlen)) return free(net), -1;
    const int layer = mb_rf_layer_find(net, layer_name);
    if (layer < 0) {
        mb_errorf(err, errlen, "rf_field: net %s has no layer %s", name, layer_name);
        return free(net), -1;
    }
    struct mb_rf_field *f = malloc(sizeof *f * (size_t)net->n);
    int rc = f ? 0 : mb_errorf(err, errlen, "out of memory");
    for (int i = 0; !rc && i < nx; i++) {
        const int64_t n = (int64_t)xs[i];
        if (mb_rf_bottom_up(net, n, f, err, errlen)) {
            rc = -1;
            break;
        }
        const struct mb_rf_field *l = &f[layer];
        double y = 0;
        if (quantity <= 3) {
            const double values[4] = {(double)l->r[0], (double)l->j[0], l->centre[0] - (double)(l->r[0] - 1) / 2,
                                      (double)l->size[0]};
            y = values[quantity];
        } else if (quantity == 6) y = recursion_gap(net, f);
        else {
            struct mb_rf_measure m;
            if (mb_rf_measure(net, 0, 0, 2, layer, seed, &m, err, errlen)) {
                rc = -1;
                break;
            }
            y = quantity == 4 ? (double)m.measured_r : (double)m.mismatches;
        }
        exact_point(out, xs[i], y);
    }
    free(f), free(net);
    return rc;
}

static int probe_erf_width(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                           int nx, uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const int relu = mb_param_enum(base, "activation") == 1, share = mb_param_enum(base, "quantity") == 1;
    const int channels = (int)mb_param_int(base, "channels"), trials = (int)mb_param_int(base, "trials");
    out->mean = 1;
    for (int i = 0; i < nx; i++) {
        struct mb_rf_erf e;
        if (mb_rf_erf((int)xs[i], channels, relu, trials, seed, &e, err, errlen)) return -1;
        double *samples = malloc(sizeof *samples * (size_t)trials), sum = 0;
        if (!samples) return mb_rf_erf_free(&e), mb_errorf(err, errlen, "out of memory");
        for (int t = 0; t < trials; t++) sum += samples[t] = e.trial_widths[t] / (share ? e.side : 1);
        out->x[out->count] = xs[i];
        out->y[out->count] = sum / trials;
        out->samples[out->count] = samples;
        out->ns[out->count] = trials;
        out->count++;
        mb_rf_erf_free(&e);
    }
    return 0;
}

const struct mb_probe mb_vision_rf_probes[2] = {
    {.name = "rf_field", .x_axis = "height", .run = probe_rf_field, .params = rf_field_params,
     .n_params = (int)(sizeof rf_field_params / sizeof rf_field_params[0]),
     .summary = "a shipped net's receptive field at a layer (formula r, jump, first pixel, output size; the measured "
                "field of impulses through a 1-D stack; layers where they differ; the gap between the seed's two "
                "recursions) at input size x"},
    {.name = "erf_width", .x_axis = "n", .run = probe_erf_width, .params = erf_params,
     .n_params = (int)(sizeof erf_params / sizeof erf_params[0]),
     .summary = "width (std, pixels) of the effective receptive field of x stacked 3x3 random convolutions, or its "
                "share of the theoretical field 2x + 1 (Luo et al. 2016); x = n is the depth"},
};
