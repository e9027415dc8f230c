/* The two recursions of the seed (如何计算RF; Dang Ha The Hien 2017, "A guide to receptive field arithmetic for
 * CNNs"; Araujo, Norris & Sim 2019, "Computing Receptive Fields of CNNs", Distill, eqs. 1-2 and "Arbitrary
 * computation graphs"), per axis, on the nets of rf.h:
 *   bottom-up: r_l = r_{l-1} + (k_eff - 1) j_{l-1}, j_l = j_{l-1} s_l, c_l = c_{l-1} + ((k_eff - 1)/2 - p_l) j_{l-1}
 *              (r_0 = 1, j_0 = 1, c_0 = 0), with the output size n_l and the resolved padding p_l of every layer;
 *   top-down:  the interval [0, 0] of units of layer L mapped down, [a, b] -> [a s - p, b s - p + k_eff - 1] per
 *              layer (r = (r - 1) s + k_eff), the hull of the branches' intervals at a merge.
 * They share nothing but the resolved paddings (which depend on the input size for SAME): a test checks that they
 * agree on every layer of every shipped net. */
#include "vision/rf.h"

#include <stdio.h>

/* "experiments/nets/alexnet.net" for messages (a net parsed from text: its name) */
static const char *file_of(const struct mb_rf_net *net) { return net->path[0] ? net->path : net->name; }

static int64_t keff(const struct mb_rf_layer *l, int axis) { return (int64_t)l->dil * (l->k[axis] - 1) + 1; }

static int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* Output size and left padding of leaf l on an input of size n (axis); -1 with a message when it drops to 0. */
static int layer_size(const struct mb_rf_net *net, const struct mb_rf_layer *l, int axis, int64_t n, int64_t *out,
                      int64_t *pad_left, char *err, size_t errlen) {
    const int64_t k = keff(l, axis), s = l->stride;
    int64_t size;
    if (l->pad_mode == MB_RF_PAD_SAME) {
        size = ceil_div(n, s);
        int64_t total = (size - 1) * s + k - n;
        *pad_left = total > 0 ? total / 2 : 0;
    } else {
        const int64_t p = l->pad_mode == MB_RF_PAD_VALID ? 0 : l->pad[axis];
        *pad_left = p;
        const int64_t span = n + 2 * p - k;
        if (span < 0) size = 0;
        else if (l->ceil_mode) {
            size = ceil_div(span, s) + 1;
            if ((size - 1) * s >= n + p) size--; /* the last window must start inside the input or left padding */
        } else size = span / s + 1;
    }
    if (size < 1)
        return mb_errorf(err, errlen, "%s:%d: layer %s gets a %s of %lld pixels, smaller than its window %lld (give a "
                         "larger --input)", file_of(net), l->line, l->name, axis ? "width" : "height", (long long)n,
                         (long long)k);
    *out = size;
    return 0;
}

/* The field of the input of layer i (the output of its prev, or of its path's start). */
static void input_field(const struct mb_rf_net *net, const struct mb_rf_field *fields, int i, int64_t n,
                        struct mb_rf_field *in) {
    for (;;) {
        const struct mb_rf_layer *l = &net->layers[i];
        if (l->prev >= 0) {
            *in = fields[l->prev];
            return;
        }
        if (l->parent < 0) break;
        i = l->parent; /* a branch starts on its merge's input */
    }
    for (int a = 0; a < 2; a++) in->size[a] = n, in->r[a] = 1, in->j[a] = 1, in->centre[a] = 0, in->pad_left[a] = 0;
}

int mb_rf_bottom_up(const struct mb_rf_net *net, int64_t n, struct mb_rf_field *out, char *err, size_t errlen) {
    for (int i = 0; i < net->n; i++) {
        const struct mb_rf_layer *l = &net->layers[i];
        struct mb_rf_field in, *f = &out[i];
        input_field(net, out, i, n, &in);
        if (l->op != MB_RF_MERGE) {
            for (int a = 0; a < 2; a++) {
                if (layer_size(net, l, a, in.size[a], &f->size[a], &f->pad_left[a], err, errlen)) return -1;
                f->r[a] = in.r[a] + (keff(l, a) - 1) * in.j[a];
                f->j[a] = in.j[a] * l->stride;
                f->centre[a] = in.centre[a] + ((double)(keff(l, a) - 1) / 2 - (double)f->pad_left[a]) * (double)in.j[a];
            }
            continue;
        }
        for (int a = 0; a < 2; a++) {
            double lo = 0, hi = 0;
            for (int b = 0; b < l->n_branches; b++) {
                const struct mb_rf_field *br = l->branch_last[b] >= 0 ? &out[l->branch_last[b]] : &in;
                const double blo = br->centre[a] - (double)(br->r[a] - 1) / 2, bhi = blo + (double)(br->r[a] - 1);
                if (b && (br->j[a] != f->j[a] || br->size[a] != f->size[a]))
                    return mb_errorf(err, errlen, "%s:%d: merge %s: branch 1 has jump %lld and size %lld, branch %d "
                                     "jump %lld and size %lld (merged branches must agree in both)", file_of(net),
                                     l->line, l->name, (long long)f->j[a], (long long)f->size[a], b + 1,
                                     (long long)br->j[a], (long long)br->size[a]);
                if (!b || blo < lo) lo = blo;
                if (!b || bhi > hi) hi = bhi;
                f->j[a] = br->j[a], f->size[a] = br->size[a];
            }
            f->r[a] = (int64_t)(hi - lo) + 1;
            f->centre[a] = (lo + hi) / 2;
            f->pad_left[a] = 0;
        }
    }
    return 0;
}

static void path_down(const struct mb_rf_net *net, const struct mb_rf_field *fields, int i, int axis, int64_t *a,
                      int64_t *b);

/* Map the unit interval [a, b] at the output of layer i to the interval at its input. */
static void layer_down(const struct mb_rf_net *net, const struct mb_rf_field *fields, int i, int axis, int64_t *a,
                       int64_t *b) {
    const struct mb_rf_layer *l = &net->layers[i];
    if (l->op != MB_RF_MERGE) {
        const int64_t p = fields[i].pad_left[axis];
        *a = *a * l->stride - p;
        *b = *b * l->stride - p + keff(l, axis) - 1;
        return;
    }
    int64_t lo = 0, hi = 0;
    for (int br = 0; br < l->n_branches; br++) {
        int64_t ba = *a, bb = *b;
        path_down(net, fields, l->branch_last[br], axis, &ba, &bb);
        if (!br || ba < lo) lo = ba;
        if (!br || bb > hi) hi = bb;
    }
    *a = lo, *b = hi;
}

/* Through i, its prev, ... down to the start of i's path. */
static void path_down(const struct mb_rf_net *net, const struct mb_rf_field *fields, int i, int axis, int64_t *a,
                      int64_t *b) {
    for (; i >= 0; i = net->layers[i].prev) layer_down(net, fields, i, axis, a, b);
}

void mb_rf_top_down(const struct mb_rf_net *net, const struct mb_rf_field *fields, int layer, int64_t r[2],
                    int64_t lo[2]) {
    for (int axis = 0; axis < 2; axis++) {
        int64_t a = 0, b = 0;
        path_down(net, fields, layer, axis, &a, &b);
        for (int m = net->layers[layer].parent; m >= 0; m = net->layers[m].parent)
            path_down(net, fields, net->layers[m].prev, axis, &a, &b); /* a branch's input is its merge's input */
        r[axis] = b - a + 1;
        lo[axis] = a;
    }
}
