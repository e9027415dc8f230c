/* The measured receptive field (rf.h "mb_rf_measure"): an impulse pushed through a real 1-D stack built from the
 * net spec, one forward pass per input pixel.
 *
 *   conv: y[co, o] = sum_{ci, t} w[co, ci, t] x[ci, o s - p + t dil]   (zero outside 0..n-1), w > 0 random,
 *         normalised so that each output channel's weights sum to 1 (values stay in (0, 1]: nothing overflows or
 *         underflows a double over 150 layers)
 *   pool: y[c, o] = (1/k) sum_t x[c, o s - p + t dil]                    (average pooling, channel by channel)
 *   merge: the sum of the branches' outputs (a residual addition; a concatenation has the same dependence)
 * With input e_i (pixel i = 1, others 0) every value is a sum of products of positive numbers, so y_l[c, o] != 0
 * exactly when some path joins pixel i to unit o: the set of i with y_l[0, o] != 0 is the field of o, with no
 * cancellation and no threshold. Cost: n passes of the 1-D net (n ~ 2 r): about a second for ResNet-152. */
#include "vision/rf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stack {
    const struct mb_rf_net *net;
    int axis, channels;
    int64_t *size;      /* [layer] output size */
    int64_t *pad;       /* [layer] resolved left padding */
    double **out;       /* [layer] channels x size */
    double **weight;    /* [layer] conv: channels x channels x k */
};

/* The values feeding layer i and their size. */
static const double *layer_input(const struct stack *st, int i, const double *input, int64_t n, int64_t *size) {
    for (;;) {
        const struct mb_rf_layer *l = &st->net->layers[i];
        if (l->prev >= 0) {
            *size = st->size[l->prev];
            return st->out[l->prev];
        }
        if (l->parent < 0) break;
        i = l->parent;
    }
    *size = n;
    return input;
}

/* One forward pass on input (channels x n, channel-major). */
static void forward(const struct stack *st, const double *input, int64_t n) {
    const int C = st->channels, axis = st->axis;
    for (int i = 0; i < st->net->n; i++) {
        const struct mb_rf_layer *l = &st->net->layers[i];
        int64_t in_size;
        const double *x = layer_input(st, i, input, n, &in_size);
        double *y = st->out[i];
        const int64_t out_size = st->size[i];
        if (l->op == MB_RF_MERGE) {
            memset(y, 0, sizeof *y * (size_t)(C * out_size));
            for (int b = 0; b < l->n_branches; b++) { /* sizes equal: mb_rf_bottom_up checked them */
                const double *bx = l->branch_last[b] >= 0 ? st->out[l->branch_last[b]] : x;
                for (int64_t e = 0; e < C * out_size; e++) y[e] += bx[e];
            }
            continue;
        }
        const int k = l->k[axis];
        const int64_t s = l->stride, p = st->pad[i], dil = l->dil;
        for (int co = 0; co < C; co++)
            for (int64_t o = 0; o < out_size; o++) {
                double acc = 0;
                for (int t = 0; t < k; t++) {
                    const int64_t at = o * s - p + t * dil;
                    if (at < 0 || at >= in_size) continue;
                    if (l->op == MB_RF_POOL) acc += x[co * in_size + at] / k;
                    else
                        for (int ci = 0; ci < C; ci++) acc += st->weight[i][(co * C + ci) * k + t] * x[ci * in_size + at];
                }
                y[co * out_size + o] = acc;
            }
    }
}

int mb_rf_measure(const struct mb_rf_net *net, int axis, int64_t n, int channels, int layer, uint64_t seed,
                  struct mb_rf_measure *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->first_mismatch = -1;
    if (layer < 0) layer = net->last;
    if (axis < 0 || axis > 1 || channels < 1 || channels > 16)
        return mb_errorf(err, errlen, "rf measure: axis %d, channels %d (allowed: axis 0 or 1, channels 1..16)", axis,
                         channels);
    struct mb_rf_field *f = malloc(sizeof *f * (size_t)net->n);
    if (!f) return mb_errorf(err, errlen, "out of memory");
    if (n <= 0) { /* large enough for every layer's field, with room for a unit inside it */
        int64_t base = net->input > 0 ? net->input : 224;
        if (mb_rf_bottom_up(net, base, f, err, errlen)) return free(f), -1;
        int64_t need = base;
        for (int i = 0; i < net->n; i++)
            if (2 * (f[i].r[axis] + f[i].j[axis]) > need) need = 2 * (f[i].r[axis] + f[i].j[axis]);
        n = need;
    }
    out->n = n;
    if (mb_rf_bottom_up(net, n, f, err, errlen)) return free(f), -1;

    struct stack st = {.net = net, .axis = axis, .channels = channels};
    st.size = calloc((size_t)net->n, sizeof *st.size);
    st.pad = calloc((size_t)net->n, sizeof *st.pad);
    st.out = calloc((size_t)net->n, sizeof *st.out);
    st.weight = calloc((size_t)net->n, sizeof *st.weight);
    int64_t **lo = calloc((size_t)net->n, sizeof *lo), **hi = calloc((size_t)net->n, sizeof *hi);
    double *input = calloc((size_t)(channels * n), sizeof *input);
    int rc = (!st.size || !st.pad || !st.out || !st.weight || !lo || !hi || !input) ? -1 : 0;
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 17;
    for (int i = 0; !rc && i < net->n; i++) {
        const struct mb_rf_layer *l = &net->layers[i];
        st.size[i] = f[i].size[axis];
        st.pad[i] = f[i].pad_left[axis];
        st.out[i] = malloc(sizeof(double) * (size_t)(channels * st.size[i]));
        lo[i] = malloc(sizeof(int64_t) * (size_t)st.size[i]);
        hi[i] = malloc(sizeof(int64_t) * (size_t)st.size[i]);
        if (!st.out[i] || !lo[i] || !hi[i]) rc = -1;
        for (int64_t o = 0; !rc && o < st.size[i]; o++) lo[i][o] = -1, hi[i][o] = -1;
        if (rc || l->op != MB_RF_CONV) continue;
        const int k = l->k[axis];
        st.weight[i] = malloc(sizeof(double) * (size_t)(channels * channels * k));
        if (!st.weight[i]) {
            rc = -1;
            continue;
        }
        for (int co = 0; co < channels; co++) {
            double sum = 0, *w = &st.weight[i][co * channels * k];
            for (int e = 0; e < channels * k; e++)
                sum += w[e] = 0.5 + (double)(mb_splitmix64(&state) >> 11) * 0x1.0p-53; /* uniform [0.5, 1.5) */
            for (int e = 0; e < channels * k; e++) w[e] /= sum;
        }
    }
    if (rc) rc = mb_errorf(err, errlen, "out of memory");
    for (int64_t px = 0; !rc && px < n; px++) {
        for (int c = 0; c < channels; c++) input[c * n + px] = 1; /* the impulse, in every input channel */
        forward(&st, input, n);
        for (int c = 0; c < channels; c++) input[c * n + px] = 0;
        for (int i = 0; i < net->n; i++)
            for (int64_t o = 0; o < st.size[i]; o++)
                if (st.out[i][o] != 0) { /* channel 0 */
                    if (lo[i][o] < 0) lo[i][o] = px;
                    hi[i][o] = px;
                }
    }
    for (int i = 0; !rc && i < net->n; i++) {
        const int64_t r = f[i].r[axis], j = f[i].j[axis];
        const int64_t first = llround(f[i].centre[axis] - (double)(r - 1) / 2); /* an integer */
        int checked = 0, bad = 0;
        for (int64_t o = 0; o < st.size[i]; o++) {
            const int64_t want_lo = first + o * j, want_hi = want_lo + r - 1;
            if (want_lo < 0 || want_hi > n - 1) continue;
            checked++;
            if (lo[i][o] != want_lo || hi[i][o] != want_hi) bad = 1;
            if (i == layer && checked == 1) out->measured_r = lo[i][o] < 0 ? 0 : hi[i][o] - lo[i][o] + 1;
        }
        out->outputs_checked += checked;
        if (checked) out->layers_checked++;
        else if (i == layer)
            rc = mb_errorf(err, errlen, "%s: layer %s has no unit whose field lies inside the %lld-pixel input",
                           net->name, net->layers[i].name, (long long)n);
        if (bad && out->mismatches++ == 0) out->first_mismatch = i;
    }
    for (int i = 0; i < net->n; i++) {
        if (st.out) free(st.out[i]);
        if (st.weight) free(st.weight[i]);
        if (lo) free(lo[i]);
        if (hi) free(hi[i]);
    }
    free(st.size), free(st.pad), free(st.out), free(st.weight), free(lo), free(hi), free(input), free(f);
    return rc;
}
