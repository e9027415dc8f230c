/* The `rf` tool (mechbench.h "tools"):
 *   mechbench rf NET [--input N] [--measure]  the receptive field of every layer of experiments/nets/NET.net
 *   mechbench rf --erf [...]                   the effective receptive field against depth, maps as grids
 *   mechbench rf --checkerboard [--out STEM]   the overlap maps of transposed convolutions, as grids
 * The tool fills a report; the CLI prints it and draws its grids (harness/plot/heatmap.h) as STEM_*.png / .svg:
 * the maps travel as data in the report, so no kernel code touches the plotting layer. */
#include "vision/family_conv.h"
#include "vision/rf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                                                          \
    "rf NET [--input N] [--measure] [--nets DIR]\n"                                                                    \
    "       rf --erf [--depths 2,4,8,16,32,64] [--activation linear|relu] [--channels C] [--trials T] [--out STEM]\n"  \
    "       rf --checkerboard [--out STEM]\n"                                                                           \
    "  NET: a name of " MB_RF_NETS_DIR "/NAME.net (or a path to a .net file). Per layer: the receptive field r, the\n"  \
    "  jump j (effective stride), the centre and the pixels of the first unit's field (input pixel indices; negative\n" \
    "  = padding) and the output size, at input N (default: the net file's `input`). --measure also pushes an impulse\n"\
    "  through a real 1-D stack built from the spec and checks every layer against the formula.\n"                     \
    "  --erf: Luo et al. 2016's effective receptive field of stacked 3x3 convolutions with random weights, its width\n" \
    "  against depth, and one heat map per depth (STEM_depthL.png, default STEM plots/vision_erf).\n"                   \
    "  --checkerboard: overlap counts of ConvTranspose2d (k, s) = (3, 2), (4, 2) and of nearest x2 + 3x3 convolution\n" \
    "  (Odena et al. 2016) as heat maps (default STEM plots/vision_checkerboard).\n"                                    \
    "  Net file syntax: kernels/vision/rf.h.\n"

struct rf_args {
    const char *net, *nets, *out, *depths, *activation;
    int erf, checkerboard, measure;
    int64_t input, channels, trials;
};

static int parse_int(const char *opt, const char *text, int64_t lo, int64_t hi, int64_t *out, char *err,
                     size_t errlen) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno || v < lo || v > hi)
        return mb_errorf(err, errlen, "--%s %s: expected an integer in %lld..%lld", opt, text, (long long)lo,
                         (long long)hi);
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct rf_args *a, char *err, size_t errlen) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2)) {
            if (a->net) return mb_errorf(err, errlen, "unexpected argument '%s' (one NET)", arg);
            a->net = arg;
            continue;
        }
        const char *name = arg + 2;
        if (!strcmp(name, "erf")) { a->erf = 1; continue; }
        if (!strcmp(name, "checkerboard")) { a->checkerboard = 1; continue; }
        if (!strcmp(name, "measure")) { a->measure = 1; continue; }
        static const char *const valued[] = {"input", "channels", "trials", "nets", "out", "depths", "activation"};
        int known = 0;
        for (size_t v = 0; v < sizeof valued / sizeof valued[0]; v++) known |= !strcmp(name, valued[v]);
        if (!known)
            return mb_errorf(err, errlen, "unknown option %s (allowed: --input, --measure, --nets, --erf, --depths, "
                             "--activation, --channels, --trials, --checkerboard, --out)", arg);
        if (i + 1 >= argc) return mb_errorf(err, errlen, "%s needs a value", arg);
        const char *value = argv[++i];
        if (!strcmp(name, "input")) {
            if (parse_int(name, value, 1, 1 << 20, &a->input, err, errlen)) return -1;
        } else if (!strcmp(name, "channels")) {
            if (parse_int(name, value, 1, 64, &a->channels, err, errlen)) return -1;
        } else if (!strcmp(name, "trials")) {
            if (parse_int(name, value, 1, 1000, &a->trials, err, errlen)) return -1;
        } else if (!strcmp(name, "nets")) a->nets = value;
        else if (!strcmp(name, "out")) a->out = value;
        else if (!strcmp(name, "depths")) a->depths = value;
        else a->activation = value;
    }
    if (a->erf + a->checkerboard + (a->net != NULL) != 1)
        return mb_errorf(err, errlen, "give one of NET, --erf or --checkerboard (usage: mechbench rf --help)");
    return 0;
}

/* "-2..8" */
static void field_text(const struct mb_rf_field *f, int axis, char *buf, size_t len) {
    const double lo = f->centre[axis] - (double)(f->r[axis] - 1) / 2;
    snprintf(buf, len, "%.0f..%.0f", lo, lo + (double)(f->r[axis] - 1));
}

static void layer_row(struct mb_report *r, const struct mb_rf_net *net, int i, const struct mb_rf_field *f) {
    char op[48], field[32], unit[192], width[64] = "";
    mb_rf_layer_describe(&net->layers[i], op, sizeof op);
    field_text(f, 0, field, sizeof field);
    if (f->r[1] != f->r[0] || f->centre[1] != f->centre[0] || f->size[1] != f->size[0])
        snprintf(width, sizeof width, "  (width: r %lld, centre %g, out %lld)", (long long)f->r[1], f->centre[1],
                 (long long)f->size[1]);
    snprintf(unit, sizeof unit, "%-5lld %-8g %-13s %-5lld %s%s", (long long)f->j[0], f->centre[0], field,
             (long long)f->size[0], op, width);
    mb_report_row(r, net->layers[i].name, unit, "%lld", (long long)f->r[0]);
}

static int run_net(const struct rf_args *a, struct mb_report *r, char *err, size_t errlen) {
    static struct mb_rf_net net;
    if (mb_rf_net_load(a->nets ? a->nets : MB_RF_NETS_DIR, a->net, &net, err, errlen)) return -1;
    const int64_t n = a->input ? a->input : net.input ? net.input : 224;
    struct mb_rf_field *f = malloc(sizeof *f * (size_t)net.n);
    if (!f) return mb_errorf(err, errlen, "out of memory");
    if (mb_rf_bottom_up(&net, n, f, err, errlen)) return free(f), -1;
    int disagree = -1;
    for (int i = 0; i < net.n && disagree < 0; i++) {
        int64_t tr[2], tlo[2];
        mb_rf_top_down(&net, f, i, tr, tlo);
        for (int ax = 0; ax < 2; ax++)
            if (tr[ax] != f[i].r[ax] || (double)tlo[ax] != f[i].centre[ax] - (double)(f[i].r[ax] - 1) / 2) disagree = i;
    }
    if (disagree >= 0) {
        mb_errorf(err, errlen, "%s:%d: the top-down and bottom-up recursions disagree at layer %s (a bug)", net.path,
                  net.layers[disagree].line, net.layers[disagree].name);
        return free(f), -1;
    }
    snprintf(r->title, sizeof r->title, "receptive fields of %.40s (%.60s), input %lld x %lld", net.name, net.path,
             (long long)n, (long long)n);
    mb_report_row(r, "layer", "j     centre   field         out   op", "r");
    for (int i = 0; i < net.n; i++) layer_row(r, &net, i, &f[i]);
    const struct mb_rf_field *last = &f[net.last];
    mb_report_note(r, "r: receptive field (pixels, the hull of the inputs a unit depends on); j: jump, the input "
                      "distance between neighbouring units; centre, field: of unit 0, in input pixel indices (negative "
                      "or >= input: padding); unit o adds o j; out: output size");
    mb_report_note(r, "bottom-up r_l = r_{l-1} + (k_eff - 1) j_{l-1}, j_l = j_{l-1} s_l, centre_l = centre_{l-1} + "
                      "((k_eff - 1)/2 - p_l) j_{l-1}; top-down r = (r - 1) s + k_eff from the layer down: both agree on "
                      "all %d layers", net.n);
    mb_report_note(r, "k_eff = dilation (k - 1) + 1; SAME: out = ceil(n/s), pad_left = floor(max((out-1) s + k_eff - n, "
                      "0) / 2); merge: branches must agree in jump and size, the field is the hull of theirs");
    mb_report_note(r, "%s: r = %lld, j = %lld, effective padding %g (= -first pixel of unit 0's field)",
                   net.layers[net.last].name, (long long)last->r[0], (long long)last->j[0],
                   (double)(last->r[0] - 1) / 2 - last->centre[0]);
    if (r->n_rows == MB_REPORT_MAX_ROWS)
        mb_report_note(r, "only the first %d layers are listed", MB_REPORT_MAX_ROWS - 1);
    free(f);
    if (a->measure) {
        struct mb_rf_measure m;
        for (int axis = 0; axis < 2; axis++) {
            if (mb_rf_measure(&net, axis, 0, 2, -1, 42, &m, err, errlen)) return -1;
            mb_report_note(r, "measured (%s): an impulse at each of %lld input pixels through a 1-D stack of this net "
                              "(2 channels, random positive weights, average pooling): %d of %d layers checked on %lld "
                              "interior units, %d differ from the formula%s%s", axis ? "width" : "height",
                           (long long)m.n, m.layers_checked, net.n, (long long)m.outputs_checked, m.mismatches,
                           m.mismatches ? ", first at " : "", m.mismatches ? net.layers[m.first_mismatch].name : "");
        }
    }
    return 0;
}

/* The OLS slope of log y against log x. */
static double loglog_slope(const double *x, const double *y, int n) {
    double mx = 0, my = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) mx += log(x[i]) / n, my += log(y[i]) / n;
    for (int i = 0; i < n; i++) {
        sxx += (log(x[i]) - mx) * (log(x[i]) - mx);
        sxy += (log(x[i]) - mx) * (log(y[i]) - my);
    }
    return sxy / sxx;
}

static int run_erf(const struct rf_args *a, struct mb_report *r, char *err, size_t errlen) {
    const char *stem = a->out ? a->out : "plots/vision_erf";
    const int relu = a->activation && !strcmp(a->activation, "relu");
    if (a->activation && !relu && strcmp(a->activation, "linear"))
        return mb_errorf(err, errlen, "--activation %s: allowed linear, relu", a->activation);
    const int channels = a->channels ? (int)a->channels : 8, trials = a->trials ? (int)a->trials : 16;
    double depths[MB_REPORT_MAX_GRIDS], widths[MB_REPORT_MAX_GRIDS], shares[MB_REPORT_MAX_GRIDS];
    int n = 0;
    for (const char *s = a->depths ? a->depths : "2,4,8,16,32,64"; *s;) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 128 || (*end && *end != ','))
            return mb_errorf(err, errlen, "--depths %s: expected comma-separated integers in 1..128", a->depths);
        if (n == MB_REPORT_MAX_GRIDS) return mb_errorf(err, errlen, "--depths: at most %d depths", MB_REPORT_MAX_GRIDS);
        depths[n++] = (double)v;
        s = *end ? end + 1 : end;
    }
    snprintf(r->title, sizeof r->title, "effective receptive field of stacked 3x3 convolutions (%s, %d channel%s, "
             "%d trials; Luo et al. 2016)", relu ? "ReLU" : "linear", channels, channels > 1 ? "s" : "", trials);
    mb_report_row(r, "depth L", "theoretical r = 2L+1   width / r   width / sqrt(L)", "ERF width (px)");
    for (int i = 0; i < n; i++) {
        struct mb_rf_erf e;
        if (mb_rf_erf((int)depths[i], channels, relu, trials, 42, &e, err, errlen)) return -1;
        widths[i] = e.width;
        shares[i] = e.width / e.side;
        char label[16], unit[128], path[300], title[160];
        snprintf(label, sizeof label, "%d", e.depth);
        snprintf(unit, sizeof unit, "%-22d %-11.4f %.4f", e.side, shares[i], e.width / sqrt(e.depth));
        mb_report_row(r, label, unit, "%.3f", e.width);
        snprintf(path, sizeof path, "%s_depth%d", stem, e.depth);
        snprintf(title, sizeof title, "ERF of %d stacked 3x3 convs (%s, %d ch): std %.2f px, theoretical field %d px",
                 e.depth, relu ? "ReLU" : "linear", channels, e.width, e.side);
        struct mb_report_grid *g = mb_report_grid(r, path, title, e.side, e.side);
        if (!g) return mb_rf_erf_free(&e), mb_errorf(err, errlen, "out of memory");
        snprintf(g->x_label, sizeof g->x_label, "x - centre (pixels)");
        snprintf(g->y_label, sizeof g->y_label, "y - centre (pixels)");
        snprintf(g->value_label, sizeof g->value_label, "share of squared input gradient");
        g->x0 = g->y0 = -e.depth;
        memcpy(g->values, e.map, sizeof(double) * (size_t)(e.side * e.side));
        mb_rf_erf_free(&e);
    }
    if (n >= 2) {
        mb_report_note(r, "fitted exponents over these depths (OLS on log-log): width ~ L^%.3f, width / r ~ L^%.3f "
                          "(Luo et al. 2016, Sec. 2.6: sqrt(L) growth, 1/sqrt(L) shrinking share)",
                       loglog_slope(depths, widths, n), loglog_slope(depths, shares, n));
    }
    mb_report_note(r, "map: the mean over trials of the squared gradient of the centre output (channel 0) with respect "
                      "to the input, summed over channels, each trial normalised to sum 1; width: its standard deviation per axis, "
                      "sqrt(sum map (dx^2 + dy^2) / 2); linear stacks: sqrt(2 L / 3) in expectation");
    mb_report_note(r, "weights N(0, 2 / (9 C)), fresh per trial, no bias; input (2L+1)^2, valid convolutions: the "
                      "centre unit of a zero-padded stack on any larger image");
    return 0;
}

static int run_checkerboard(const struct rf_args *a, struct mb_report *r, char *err, size_t errlen) {
    static const struct { int k, s, resize; const char *name, *what; } cases[3] = {
        {3, 2, 0, "k3_s2", "ConvTranspose2d k = 3, s = 2"},
        {4, 2, 0, "k4_s2", "ConvTranspose2d k = 4, s = 2"},
        {3, 2, 1, "resize_k3", "nearest x2 + 3x3 conv"},
    };
    const char *stem = a->out ? a->out : "plots/vision_checkerboard";
    const int64_t size = 8;
    snprintf(r->title, sizeof r->title, "checkerboard overlap maps (Odena, Dumoulin & Olah 2016): constant 8 x 8 "
             "input, all-ones kernel");
    mb_report_row(r, "layer", "", "interior max / min");
    for (int c = 0; c < 3; c++) {
        float *map;
        int64_t rows, cols;
        if (mb_vision_overlap_map(cases[c].k, cases[c].s, cases[c].resize, size, &map, &rows, &cols, err, errlen))
            return -1;
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t y = cases[c].k; y < rows - cases[c].k; y++)
            for (int64_t x = cases[c].k; x < cols - cases[c].k; x++)
                lo = fmin(lo, map[y * cols + x]), hi = fmax(hi, map[y * cols + x]);
        char path[300], title[160];
        snprintf(path, sizeof path, "%s_%s", stem, cases[c].name);
        snprintf(title, sizeof title, "overlap count: %s (interior max/min %g)", cases[c].what, hi / lo);
        mb_report_row(r, cases[c].what, "", "%g", hi / lo);
        struct mb_report_grid *g = mb_report_grid(r, path, title, (int)rows, (int)cols);
        if (!g) return free(map), mb_errorf(err, errlen, "out of memory");
        snprintf(g->x_label, sizeof g->x_label, "output x");
        snprintf(g->y_label, sizeof g->y_label, "output y");
        snprintf(g->value_label, sizeof g->value_label, "(input pixel, tap) pairs");
        for (int64_t e = 0; e < rows * cols; e++) g->values[e] = map[e];
        free(map);
    }
    mb_report_note(r, "ConvTranspose2d(k, stride s, padding 0) of a constant one input with an all-ones kernel counts "
                      "the (input pixel, tap) pairs landing on each output pixel: uneven when s does not divide k");
    mb_report_note(r, "the interior excludes k pixels at every border");
    return 0;
}

static int run_rf(int argc, char **argv, struct mb_report *out, char *err, size_t errlen) {
    struct rf_args a = {0};
    if (parse_args(argc, argv, &a, err, errlen)) return -1;
    memset(out, 0, sizeof *out);
    int rc = a.erf ? run_erf(&a, out, err, errlen)
             : a.checkerboard ? run_checkerboard(&a, out, err, errlen)
                              : run_net(&a, out, err, errlen);
    if (rc) mb_report_free(out);
    return rc;
}

const struct mb_tool mb_vision_rf_tools[1] = {
    {.name = "rf", .usage = USAGE, .run = run_rf,
     .summary = "receptive fields of a net spec (both recursions, impulse check); ERF and checkerboard heat maps"},
};
