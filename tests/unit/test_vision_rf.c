/* Receptive fields (kernels/vision/rf*.c): the seed's two recursions agree on every layer of every shipped net; the
 * shipped nets' fields against published values (the seed, Araujo et al. 2019's table); the impulse measurement
 * equals the formula on small nets covering every construct of the spec language (padding, dilation, pooling,
 * SAME / VALID at odd and even sizes, ceil mode, 1xk kernels, branches whose fields are not nested) and on the first
 * layers of the big shipped nets; bad specs (one line "NAME:LINE: ..."); the ERF against Luo et al.'s sqrt(2 L / 3);
 * the rf tool's report and grids; the probes; the heat map module. Run from the repository root. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/probes.h"
#include "core/mechbench.h"
#include "plot/gnuplot.h"
#include "plot/heatmap.h"
#include "vision/rf.h"

static struct mb_rf_net net; /* 100 kB: off the stack */
static struct mb_rf_field fields[MB_RF_MAX_LAYERS];

static void load(const char *name) {
    char err[512];
    cr_assert_eq(mb_rf_net_load(MB_RF_NETS_DIR, name, &net, err, sizeof err), 0, "%s", err);
}

static void parse(const char *text) {
    char err[512];
    cr_assert_eq(mb_rf_net_parse(text, "test.net", &net, err, sizeof err), 0, "%s", err);
}

static void bottom_up(int64_t n) {
    char err[512];
    cr_assert_eq(mb_rf_bottom_up(&net, n, fields, err, sizeof err), 0, "%s", err);
}

static const struct mb_rf_field *field_of(const char *layer) {
    int i = mb_rf_layer_find(&net, layer);
    cr_assert_geq(i, 0, "%s: no layer %s", net.name, layer);
    return &fields[i];
}

/* Every shipped net: the top-down interval equals the bottom-up field (size and first pixel) on every layer and
   axis, at the net's input size and at an odd one. */
Test(vision_rf, the_two_recursions_agree_on_every_layer_of_every_shipped_net) {
    char list[] = MB_RF_SHIPPED_NETS;
    int nets = 0, layers = 0;
    for (char *name = strtok(list, "|"); name; name = strtok(NULL, "|")) {
        load(name);
        const int64_t sizes[2] = {net.input, net.input + 17};
        for (int s = 0; s < 2; s++) {
            bottom_up(sizes[s]);
            for (int i = 0; i < net.n; i++) {
                int64_t r[2], lo[2];
                mb_rf_top_down(&net, fields, i, r, lo);
                for (int a = 0; a < 2; a++) {
                    cr_assert_eq(r[a], fields[i].r[a], "%s %s axis %d: top-down %lld, bottom-up %lld", name,
                                 net.layers[i].name, a, (long long)r[a], (long long)fields[i].r[a]);
                    cr_assert_eq((double)lo[a], fields[i].centre[a] - (double)(fields[i].r[a] - 1) / 2, "%s %s", name,
                                 net.layers[i].name);
                }
                layers++;
            }
        }
        nets++;
    }
    cr_assert_eq(nets, 10);
    cr_assert_gt(layers, 1000);
}

/* The probes' `net` values are exactly the files of experiments/nets. */
Test(vision_rf, the_shipped_list_matches_the_net_files) {
    char names[1024], want[] = MB_RF_SHIPPED_NETS, sorted[1024] = "";
    mb_rf_net_names(MB_RF_NETS_DIR, names, sizeof names);
    const char *parts[32];
    int n = 0;
    for (char *s = strtok(want, "|"); s; s = strtok(NULL, "|")) parts[n++] = s;
    for (int i = 0; i < n; i++) /* sort (few names) */
        for (int j = i + 1; j < n; j++)
            if (strcmp(parts[j], parts[i]) < 0) {
                const char *t = parts[i];
                parts[i] = parts[j], parts[j] = t;
            }
    for (int i = 0; i < n; i++) snprintf(sorted + strlen(sorted), sizeof sorted - strlen(sorted), "%s%s", i ? ", " : "", parts[i]);
    cr_assert_str_eq(names, sorted);
}

/* The seed's values and the published table (google-research/receptive_field, reproduced in Araujo et al. 2019):
   r, jump and effective padding (= - the first pixel of unit 0's field). */
Test(vision_rf, known_values_of_the_shipped_nets) {
    static const struct { const char *net, *layer; int64_t r, j; double padding; int64_t size; } want[] = {
        {"alexnet", "pool5", 195, 32, 66, 6},        {"alexnet", "conv1", 11, 4, 2, 55},
        {"vgg16", "conv5_3", 196, 16, 90, 14},       {"vgg16", "pool5", 212, 32, 90, 7},
        {"resnet50", "last", 427, 32, 213, 7},       {"resnet50_v1", "last", 483, 32, 239, 7},
        {"resnet101", "last", 971, 32, 485, 7},      {"resnet101_v1", "last", 1027, 32, 511, 7},
        {"resnet152", "last", 1451, 32, 725, 7},     {"resnet152_v1", "last", 1507, 32, 751, 7},
        {"mobilenet_v1", "last", 315, 32, 126, 7},   {"inception_v3", "Mixed_7c", 1311, 32, 618, 8},
        {"inception_v3", "Mixed_6a", 159, 16, 0, 17}, /* VALID up to there except 2b and 5b-5d: see below */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        load(want[i].net);
        bottom_up(net.input);
        const struct mb_rf_field *f = field_of(want[i].layer);
        cr_assert_eq(f->r[0], want[i].r, "%s %s: r = %lld", want[i].net, want[i].layer, (long long)f->r[0]);
        cr_assert_eq(f->r[1], want[i].r);
        cr_assert_eq(f->j[0], want[i].j, "%s %s: j = %lld", want[i].net, want[i].layer, (long long)f->j[0]);
        cr_assert_eq(f->size[0], want[i].size, "%s %s: size %lld", want[i].net, want[i].layer, (long long)f->size[0]);
        if (strcmp(want[i].layer, "Mixed_6a"))
            cr_assert_eq((double)(f->r[0] - 1) / 2 - f->centre[0], want[i].padding, "%s %s: padding %g", want[i].net,
                         want[i].layer, (double)(f->r[0] - 1) / 2 - f->centre[0]);
    }
    /* the two stride placements of ResNet-50 differ by 2 (4 + 8 + 16) = 56 */
    load("resnet50_v1");
    bottom_up(224);
    const int64_t v1 = fields[net.last].r[0];
    load("resnet50");
    bottom_up(224);
    cr_assert_eq(v1 - fields[net.last].r[0], 56);
}

/* TF-slim's alexnet_v2 (VALID conv1 and pools, SAME elsewhere): the table's effective padding 64 at 224, and
   TF-slim's resnet_v1 stride placement (in the 3x3 of each block's last unit) gives the same 483 as the original. */
Test(vision_rf, tf_slim_variants_from_text) {
    parse("input 224\nconv 11 4 VALID conv1\npool 3 2 VALID\nconv 5 1 SAME\npool 3 2 VALID\nconv 3 1 SAME\n"
          "conv 3 1 SAME\nconv 3 1 SAME\npool 3 2 VALID pool5\n");
    bottom_up(224);
    cr_assert_eq(field_of("pool5")->r[0], 195);
    cr_assert_eq((double)(195 - 1) / 2 - field_of("pool5")->centre[0], 64);
    char text[4096] = "conv 7 2 3\npool 3 2 SAME\n";
    const int units[4] = {3, 4, 6, 3};
    for (int b = 0; b < 4; b++) {
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 "repeat %d {\nbranch {\nconv 1 1 0\nconv 3 1 SAME\nconv 1 1 0\n} { } merge\n}\n", units[b] - 1);
        if (b < 3) snprintf(text + strlen(text), sizeof text - strlen(text),
                            "branch {\nconv 1 1 0\nconv 3 2 1\nconv 1 1 0\n} {\npool 1 2 0\n} merge\n");
        else snprintf(text + strlen(text), sizeof text - strlen(text),
                      "branch {\nconv 1 1 0\nconv 3 1 1\nconv 1 1 0\n} { } merge last\n");
    }
    parse(text);
    bottom_up(224);
    cr_assert_eq(fields[net.last].r[0], 483);
}

/* Impulse measurement == formula on every interior unit of every layer, both axes. */
static void measured_equals_formula(int64_t n, int channels) {
    char err[512];
    for (int axis = 0; axis < 2; axis++) {
        struct mb_rf_measure m;
        cr_assert_eq(mb_rf_measure(&net, axis, n, channels, -1, 7, &m, err, sizeof err), 0, "%s", err);
        cr_assert_eq(m.mismatches, 0, "%s axis %d, n = %lld: layer %s differs", net.name, axis, (long long)m.n,
                     m.first_mismatch >= 0 ? net.layers[m.first_mismatch].name : "?");
        cr_assert_eq(m.layers_checked, net.n, "%s: %d of %d layers had an interior unit", net.name, m.layers_checked,
                     net.n);
        bottom_up(m.n);
        cr_assert_eq(m.measured_r, fields[net.last].r[axis]);
    }
}

Test(vision_rf, measured_equals_formula_for_every_construct) {
    static const char *const nets[] = {
        "conv 3 1 1\nconv 3 1 0\n",                                   /* padding, stride 1 */
        "conv 5 2 2\nconv 3 3 0\nconv 2 2 1\n",                      /* strides, even kernel */
        "conv 3 1 1 dilation 2\nconv 3 2 2 dilation 3\n",           /* dilation */
        "pool 3 2 1\npool 2 2 0\nconv 1 2 0\nconv 3 1 1\n",         /* pooling; 1x1 stride 2 leaves gaps */
        "conv 3 2 SAME\nconv 4 2 SAME\npool 3 2 SAME\nconv 5 1 SAME dilation 2\n", /* SAME */
        "conv 3 2 VALID\npool 3 2 VALID\nconv 2 1 VALID\n",          /* VALID */
        "pool 3 2 0 ceil\nconv 3 2 1\npool 2 2 0 ceil\n",            /* ceil mode */
        "conv 1x7 1 0x3\nconv 7x1 1 3x0\nconv 3x1 2 SAME\n",          /* asymmetric kernels */
        "branch {\nconv 3 1 1\n} { } merge\nbranch {\nconv 3 2 1\nconv 3 1 1\n} {\nconv 1 2 0\n} merge\n",
        /* fields not nested: [0, 2] and [-1, 1]; the hull [-1, 2] */
        "branch {\nconv 2 1 SAME\nconv 2 1 SAME\n} {\nconv 2 1 1\nconv 2 1 0\n} merge m\n",
        "repeat 3 {\nbranch {\nbranch {\nconv 3 1 1\n} {\nconv 5 1 2\n} merge\n} {\npool 3 1 1\n} { } merge\n}\n",
    };
    const int64_t sizes[] = {0, 160, 201}; /* 0: large enough for the deepest layer */
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++)
        for (size_t s = 0; s < 3; s++) {
            parse(nets[i]);
            measured_equals_formula(sizes[s], 1 + (int)(s % 2));
        }
    parse(nets[9]);
    bottom_up(20);
    cr_assert_eq(field_of("m")->r[0], 4);
    cr_assert_eq(field_of("m")->centre[0], 0.5);
}

/* The measured field follows the stack that was run, not a stored number: change the spec, the measurement moves. */
Test(vision_rf, the_measurement_follows_the_stack) {
    parse("conv 3 1 1\nconv 3 2 1\nconv 3 1 1\n");
    char err[512];
    struct mb_rf_measure m;
    cr_assert_eq(mb_rf_measure(&net, 0, 30, 1, -1, 1, &m, err, sizeof err), 0, "%s", err);
    cr_assert_eq(m.mismatches, 0);
    cr_assert_eq(m.measured_r, 9);
    net.layers[1].stride = 1;
    cr_assert_eq(mb_rf_measure(&net, 0, 30, 1, -1, 1, &m, err, sizeof err), 0, "%s", err);
    cr_assert_eq(m.measured_r, 7);
}

/* The first layers of the big shipped nets (the whole nets take seconds: the claims do them). */
Test(vision_rf, measured_equals_formula_on_the_shipped_nets) {
    static const struct { const char *net, *upto; } cases[] = {
        {"alexnet", "last"},          {"vgg16", "last"},      {"mobilenet_v1", "Conv2d_6_pointwise"},
        {"resnet50", "layer2.0"},     {"resnet50_v1", "res3.0"}, {"inception_v3", "Mixed_5b"},
        {"resnet152", "layer1.2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        load(cases[i].net);
        const int upto = mb_rf_layer_find(&net, cases[i].upto);
        cr_assert_geq(upto, 0);
        cr_assert_eq(net.layers[upto].parent, -1, "%s: cut on the main path", cases[i].upto);
        net.n = upto + 1, net.last = upto; /* later layers only reference earlier ones */
        measured_equals_formula(0, 2);
    }
}

/* SAME at odd and even sizes: pad_left = floor(pad_total / 2), TensorFlow's rule. */
Test(vision_rf, same_padding_follows_tensorflow) {
    parse("conv 3 2 SAME a\nconv 4 1 SAME b\n");
    bottom_up(8); /* a: out 4, pad_total (4-1)2 + 3 - 8 = 1, left 0; b: pad_total 3, left 1 */
    cr_assert_eq(field_of("a")->size[0], 4);
    cr_assert_eq(field_of("a")->pad_left[0], 0);
    cr_assert_eq(field_of("a")->centre[0], 1);
    cr_assert_eq(field_of("b")->pad_left[0], 1);
    bottom_up(7); /* a: out 4, pad_total 2, left 1 */
    cr_assert_eq(field_of("a")->size[0], 4);
    cr_assert_eq(field_of("a")->pad_left[0], 1);
    cr_assert_eq(field_of("a")->centre[0], 0);
    bottom_up(1); /* n = 1 */
    cr_assert_eq(field_of("a")->size[0], 1);
    cr_assert_eq(field_of("b")->r[0], 3 + 3 * 2);
    parse("pool 3 2 0 ceil p\n");
    bottom_up(6); /* PyTorch ceil_mode: ceil(3/2) + 1 = 3, the last window starts at 4 < 6 */
    cr_assert_eq(field_of("p")->size[0], 3);
    parse("pool 2 2 1 ceil p\n");
    bottom_up(4); /* ceil(4/2) + 1 = 3 windows, but the third would start at 4 >= n + p = 5? no: 4 < 5, kept */
    cr_assert_eq(field_of("p")->size[0], 3);
    bottom_up(3); /* ceil(3/2) + 1 = 3, the third starts at 4 >= 3 + 1: dropped */
    cr_assert_eq(field_of("p")->size[0], 2);
}

Test(vision_rf, repeat_names_and_branch_structure) {
    parse("input 32\nrepeat 2 from 5 {\nconv 3 1 1 c@\n}\nbranch {\nconv 3 1 1 x\n} {\n} merge m\n");
    cr_assert_eq(net.input, 32);
    cr_assert_eq(net.n, 4);
    cr_assert_str_eq(net.layers[0].name, "c5");
    cr_assert_str_eq(net.layers[1].name, "c6");
    cr_assert_eq(net.layers[1].prev, 0);
    cr_assert_eq(net.layers[2].parent, 3);
    cr_assert_eq(net.layers[3].op, MB_RF_MERGE);
    cr_assert_eq(net.layers[3].branch_last[1], -1);
    cr_assert_eq(net.last, 3);
    bottom_up(32);
    cr_assert_eq(field_of("m")->r[0], 7);
}

/* Bad specs: one line, "NAME:LINE: what (what is allowed)". */
Test(vision_rf, bad_specs_name_the_line) {
    static const struct { const char *text, *want; } bad[] = {
        {"conv 3 1 1\nconvv 3 1 1\n", "test.net:2: unknown statement 'convv'"},
        {"conv 3\n", "test.net:1: conv stride '(missing)'"},
        {"conv 3 0 1\n", "test.net:1: conv stride '0'"},
        {"conv 3 1 foo\n", "test.net:1: conv padding 'foo'"},
        {"conv 3x 1 1\n", "test.net:1: conv kernel '3x'"},
        {"conv 3 1 1 a b\n", "test.net:1: unexpected 'b'"},
        {"}\n", "test.net:1: '}' without a block"},
        {"branch {\nconv 3 1 1\n", "test.net:2: end of file inside a block"},
        {"branch {\nconv 3 1 1\n} merge\n", "test.net:1: a branch needs at least two blocks"},
        {"branch {\nconv 3 1 1\n}\nconv 3 1 1\n", "test.net:4: expected another '{' block or 'merge'"},
        {"conv 3 1 1 c@\n", "test.net:1: '@' in a name outside a repeat block"},
        {"conv 3 1 1\ninput 5\n", "test.net:2: 'input N' must come before the first layer"},
        {"pool 3 1 2\n", "test.net:1: pool padding 2 is more than half the window 3"},
        {"# nothing\n", "test.net:1: no layer"},
        {"repeat 0 {\nconv 3 1 1\n}\n", "test.net:1: repeat count '0'"},
        {"conv 3 1 1 dilation\n", "test.net:1: dilation '(missing)'"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(mb_rf_net_parse(bad[i].text, "test.net", &net, err, sizeof err), -1, "case %zu parsed", i);
        cr_assert(strstr(err, bad[i].want) == err, "case %zu: %s", i, err);
        cr_assert_null(strchr(err, '\n'), "case %zu: one line", i);
    }
    /* evaluation errors name the line too */
    parse("conv 3 1 1\nbranch {\nconv 3 2 1\n} {\nconv 3 1 1\n} merge\n");
    cr_assert_eq(mb_rf_bottom_up(&net, 16, fields, err, sizeof err), -1);
    cr_assert(strstr(err, "test.net:6: merge") && strstr(err, "jump"), "%s", err);
    parse("conv 11 4 0 big\n");
    cr_assert_eq(mb_rf_bottom_up(&net, 5, fields, err, sizeof err), -1);
    cr_assert(strstr(err, "test.net:1: layer big") && strstr(err, "--input"), "%s", err);
    cr_assert_eq(mb_rf_net_load(MB_RF_NETS_DIR, "lenet", &net, err, sizeof err), -1);
    cr_assert(strstr(err, "unknown net 'lenet'") && strstr(err, "alexnet, inception_v3"), "%s", err);
}

/* Luo et al.: the linear stack's mean squared-gradient map is the L-fold box convolution, std sqrt(2 L / 3). */
Test(vision_rf, erf_width_follows_sqrt_two_thirds_depth) {
    char err[256];
    struct mb_rf_erf e;
    cr_assert_eq(mb_rf_erf(6, 8, 0, 16, 3, &e, err, sizeof err), 0, "%s", err);
    cr_assert_eq(e.side, 13);
    double sum = 0;
    for (int i = 0; i < 13 * 13; i++) sum += e.map[i];
    cr_assert_float_eq(sum, 1, 1e-12);
    cr_assert(fabs(e.width - 2.0) < 0.15, "width %g, want sqrt(4) = 2", e.width);
    const double linear = e.width;
    mb_rf_erf_free(&e);
    cr_assert_eq(mb_rf_erf(1, 1, 0, 2, 3, &e, err, sizeof err), 0, "%s", err); /* L = 1, C = 1: one kernel squared */
    cr_assert_eq(e.side, 3);
    mb_rf_erf_free(&e);
    cr_assert_eq(mb_rf_erf(6, 8, 1, 16, 3, &e, err, sizeof err), 0, "%s", err);
    cr_assert(e.width != linear && fabs(e.width - 2.0) < 0.3, "ReLU width %g", e.width);
    mb_rf_erf_free(&e);
    cr_assert_eq(mb_rf_erf(0, 8, 0, 16, 3, &e, err, sizeof err), -1);
    cr_assert(strstr(err, "depth 0"), "%s", err);
    /* the width of a known map: a point has width 0, a 3 x 3 box sqrt(2/3) */
    double point[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0}, box[9];
    for (int i = 0; i < 9; i++) box[i] = 1.0 / 9;
    cr_assert_float_eq(mb_rf_map_width(point, 3), 0, 1e-15);
    cr_assert_float_eq(mb_rf_map_width(box, 3), sqrt(2.0 / 3), 1e-12);
}

Test(vision_rf, the_rf_tool_reports_every_layer_and_grids) {
    const struct mb_tool *tool = mb_tool_find("rf");
    cr_assert_not_null(tool);
    static struct mb_report r;
    char err[512];
    char *argv[] = {"rf", "alexnet", "--input", "227"};
    cr_assert_eq(tool->run(4, argv, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.n_rows, 9); /* header + 8 layers */
    cr_assert_str_eq(r.rows[8].label, "pool5");
    cr_assert_str_eq(r.rows[8].value, "195");
    cr_assert(strstr(r.title, "227"), "%s", r.title);
    cr_assert_eq(r.n_grids, 0);
    char *cb[] = {"rf", "--checkerboard", "--out", "/tmp/x"};
    cr_assert_eq(tool->run(4, cb, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.n_grids, 3);
    cr_assert_str_eq(r.grids[0].path, "/tmp/x_k3_s2");
    cr_assert_str_eq(r.rows[1].value, "4");
    cr_assert_str_eq(r.rows[2].value, "1");
    cr_assert_str_eq(r.rows[3].value, "1");
    mb_report_free(&r);
    char *erf[] = {"rf", "--erf", "--depths", "2,3", "--trials", "4"};
    cr_assert_eq(tool->run(6, erf, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.n_grids, 2);
    cr_assert_eq(r.grids[1].rows, 7);
    cr_assert_eq(r.grids[1].x0, -3);
    mb_report_free(&r);
    char *bad[][3] = {{"rf", "--erf", "alexnet"}, {"rf", "alexnet", "--input"}, {"rf", "--erf", "--bogus"}};
    const char *want[] = {"give one of NET", "--input needs a value", "unknown option --bogus"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tool->run(3, bad[i], &r, err, sizeof err), -1);
        cr_assert(strstr(err, want[i]), "%s", err);
    }
}

Test(vision_rf, probes_give_the_formula_and_the_measurement) {
    struct mb_point base;
    memset(&base, 0, sizeof base);
    const double xs[1] = {224};
    struct mb_probe_series s;
    char err[512];
    const char *quantities[] = {"net=alexnet;layer=pool5;quantity=r", "net=alexnet;layer=pool5;quantity=measured_r",
                                "net=vgg16;layer=conv5_3;quantity=r", "net=alexnet;layer=pool5;quantity=mismatches",
                                "net=resnet50;layer=last;quantity=recursion_gap"};
    const double want[] = {195, 195, 196, 0, 0};
    for (int i = 0; i < 5; i++) {
        snprintf(base.params, sizeof base.params, "%s", quantities[i]);
        base.n_values = 0;
        cr_assert_eq(mb_probe_run("rf_field", &base, xs, 1, 42, &s, err, sizeof err), 0, "%s", err);
        cr_assert_eq(s.y[0], want[i], "%s: %g", quantities[i], s.y[0]);
        mb_probe_series_free(&s);
    }
    snprintf(base.params, sizeof base.params, "net=alexnet;layer=conv5_3");
    base.n_values = 0;
    cr_assert_eq(mb_probe_run("rf_field", &base, xs, 1, 42, &s, err, sizeof err), -1);
    cr_assert(strstr(err, "no layer conv5_3"), "%s", err);
    const double depths[2] = {2, 4};
    snprintf(base.params, sizeof base.params, "trials=4;quantity=share");
    base.n_values = 0;
    cr_assert_eq(mb_probe_run("erf_width", &base, depths, 2, 42, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.count, 2);
    cr_assert_eq(s.ns[1], 4);
    cr_assert(s.y[1] < s.y[0] && s.y[1] > 0.1 && s.y[1] < 0.25, "share %g at depth 4", s.y[1]);
    mb_probe_series_free(&s);
}

Test(vision_rf_heatmap, draws_png_and_svg_or_refuses_an_empty_grid) {
    char err[512], stem[] = "/tmp/mechbench-heatmap-XXXXXX";
    cr_assert_not_null(mkdtemp(stem));
    char path[600];
    snprintf(path, sizeof path, "%s/map", stem);
    const double v[6] = {0, 1, 2, 3, 4, 5};
    struct mb_heatmap h = {.title = "t", .x_label = "x", .y_label = "y", .value_label = "v", .values = v, .rows = 2,
                           .cols = 3, .x0 = -1, .y0 = 0};
    if (mb_gnuplot_available()) {
        cr_assert_eq(mb_plot_heatmap(path, &h, err, sizeof err), 0, "%s", err);
        char png[640], svg[640];
        snprintf(png, sizeof png, "%s.png", path);
        snprintf(svg, sizeof svg, "%s.svg", path);
        cr_assert_eq(access(png, R_OK), 0);
        cr_assert_eq(access(svg, R_OK), 0);
        unlink(png), unlink(svg);
    }
    h.rows = 0;
    cr_assert_eq(mb_plot_heatmap(path, &h, err, sizeof err), -1);
    cr_assert(strstr(err, "empty grid"), "%s", err);
    rmdir(stem);
}
