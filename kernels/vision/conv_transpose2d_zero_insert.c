/* vision.conv_transpose2d.zero_insert: torch.nn.ConvTranspose2d as zero insertion + a stride-1 convolution.
 *
 *   z[ci, h s + q, w s + q] = x[ci, h, w], zero elsewhere;  q = dil (k - 1) - p;  z is (H - 1) s + 1 + 2 q +
 *     output_padding rows (and the same for columns; q < 0 crops)
 *   y[co, oy, ox] = bias[co] + sum_{ci, a, b} Wf[co, ci, a, b] z[ci, oy + a dil, ox + b dil]
 *   Wf[co, ci, a, b] = W[ci, co, k - 1 - a, k - 1 - b]       (the flipped, transposed kernel; per group)
 * The convolution is lowered by im2col + sgemm per band of output rows; threads own bands (race-free). It multiplies
 * the inserted zeros too: 2 batch C_out (C_in/groups) k^2 H' W' FLOPs, about s^2 times the scatter form's.
 * Source: Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep learning", Sec. 4.5 (relationship 14). */
#include "vision/family_conv.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct zero_insert_state {
    struct mb_convt c;
    int64_t q, hz, wz, band;
    int threads;
    float *flipped;     /* Wf (groups, C_out/groups, C_in/groups k^2) */
    float *zeros;       /* z of one image (C_in, hz, wz) */
    float *col;         /* per thread: (C_in/groups) k^2 x band W' */
    int64_t col_floats; /* per thread */
};

static void geometry(const struct mb_convt_shape *s, int64_t *q, int64_t *hz, int64_t *wz) {
    *q = s->dil * (s->k - 1) - s->pad;
    *hz = (s->h - 1) * s->stride + 1 + 2 * *q + s->out_pad;
    *wz = (s->w - 1) * s->stride + 1 + 2 * *q + s->out_pad;
}

static int64_t band_rows(const struct mb_convt_shape *s) {
    return mb_conv_band_rows(s->c_in / s->groups * s->k * s->k, s->w_out, s->h_out);
}

static int setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct zero_insert_state *st = calloc(1, sizeof *st);
    if (!st) return mb_errorf(err, errlen, "out of memory");
    mb_convt_bind(&st->c, w);
    const struct mb_convt_shape *s = &st->c.s;
    geometry(s, &st->q, &st->hz, &st->wz);
    st->threads = omp_get_max_threads();
    st->band = band_rows(s);
    const int64_t cig = s->c_in / s->groups, cog = s->c_out / s->groups, kk = s->k * s->k;
    st->col_floats = cig * kk * st->band * s->w_out;
    st->flipped = mb_alloc((size_t)(s->c_in * cog * kk) * sizeof(float));
    st->zeros = mb_alloc((size_t)(s->c_in * st->hz * st->wz) * sizeof(float));
    st->col = mb_alloc((size_t)(st->col_floats * st->threads) * sizeof(float));
    if (!st->flipped || !st->zeros || !st->col) {
        mb_free(st->flipped), mb_free(st->zeros), mb_free(st->col), free(st);
        return mb_errorf(err, errlen, "out of memory (flipped kernel, zero-inserted input, im2col scratch)");
    }
    for (int64_t g = 0; g < s->groups; g++)
        for (int64_t co = 0; co < cog; co++)
            for (int64_t ci = 0; ci < cig; ci++)
                for (int64_t a = 0; a < s->k; a++)
                    for (int64_t b = 0; b < s->k; b++)
                        st->flipped[(((g * cog + co) * cig + ci) * s->k + a) * s->k + b] =
                            st->c.weight[(((g * cig + ci) * cog + co) * s->k + (s->k - 1 - a)) * s->k + (s->k - 1 - b)];
    *state = st;
    return 0;
}

static void run(void *state) {
    const struct zero_insert_state *st = state;
    const struct mb_convt_shape *s = &st->c.s;
    const int64_t cig = s->c_in / s->groups, cog = s->c_out / s->groups, kk = s->k * s->k;
    const int64_t bands = (s->h_out + st->band - 1) / st->band, plane = s->h_out * s->w_out;
    for (int64_t n = 0; n < s->batch; n++) {
        const float *x = st->c.x + n * s->c_in * s->h * s->w;
#pragma omp parallel num_threads(st->threads)
        {
#pragma omp for schedule(static)
            for (int64_t ci = 0; ci < s->c_in; ci++) { /* insert s - 1 zeros, pad by q */
                float *zp = st->zeros + ci * st->hz * st->wz;
                memset(zp, 0, (size_t)(st->hz * st->wz) * sizeof *zp);
                for (int64_t h = 0; h < s->h; h++) {
                    const int64_t u = h * s->stride + st->q;
                    if (u < 0 || u >= st->hz) continue;
                    for (int64_t w = 0; w < s->w; w++) {
                        const int64_t v = w * s->stride + st->q;
                        if (v >= 0 && v < st->wz) zp[u * st->wz + v] = x[(ci * s->h + h) * s->w + w];
                    }
                }
            }
            float *col = st->col + (int64_t)omp_get_thread_num() * st->col_floats;
#pragma omp for schedule(static) collapse(2)
            for (int64_t g = 0; g < s->groups; g++)
                for (int64_t band = 0; band < bands; band++) {
                    const int64_t r0 = band * st->band, r1 = r0 + st->band < s->h_out ? r0 + st->band : s->h_out;
                    float *y = st->c.out + (n * s->c_out + g * cog) * plane + r0 * s->w_out;
                    for (int64_t co = 0; co < cog; co++)
                        for (int64_t i = 0; i < (r1 - r0) * s->w_out; i++) y[co * plane + i] = st->c.bias[g * cog + co];
                    const struct mb_conv_rows conv = {.src = st->zeros + g * cig * st->hz * st->wz, .channels = cig,
                                                      .hs = st->hz, .ws = st->wz, .k = s->k, .pad = 0, .dil = s->dil,
                                                      .w_out = s->w_out, .weight = st->flipped + g * cog * cig * kk,
                                                      .m_rows = cog};
                    mb_conv_rows(&conv, r0, r1, col, y, plane, 1.0f);
                }
        }
    }
}

static void teardown(void *state) {
    struct zero_insert_state *st = state;
    mb_free(st->flipped), mb_free(st->zeros), mb_free(st->col);
    free(st);
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_convt_shape s;
    if (mb_convt_shape(p, &s, NULL, 0)) return 0;
    int64_t q, hz, wz;
    geometry(&s, &q, &hz, &wz);
    const int threads = p->threads > 0 ? (int)p->threads : omp_get_max_threads();
    const double kk = (double)(s.k * s.k);
    return 4.0 * ((double)s.c_in * (double)(s.c_out / s.groups) * kk + (double)s.c_in * (double)(hz * wz) +
                  (double)threads * (double)(s.c_in / s.groups) * kk * (double)(band_rows(&s) * s.w_out));
}

const struct mb_kernel mb_kernel_vision_conv_transpose2d_zero_insert = {
    .name = "vision.conv_transpose2d.zero_insert",
    .family = &mb_family_vision_conv_transpose2d,
    .mechanism = "conv_transpose2d",
    .summary = "zero insertion (s - 1 zeros between pixels, pad dil (k-1) - p) + stride-1 conv with the flipped "
               "kernel (im2col + sgemm per band of output rows)",
    .complexity = "O(batch C_in C_out k^2 H' W' / groups) time (~s^2 x the scatter form), O(C_in H' W') workspace",
    .axes = MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width) |
            MB_AXIS_BIT(ksize) | MB_AXIS_BIT(scale),
    MB_KERNEL_SOURCE,
    .supports = mb_convt_supports,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = mb_convt_flops_zero_insert,
    .bytes = mb_convt_bytes,
    .workspace_bytes = workspace,
};
