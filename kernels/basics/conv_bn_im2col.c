/* basics.conv_bn.im2col: conv2d (with or without bias) as im2col + sgemm, then BatchNorm2d (training) or LayerNorm
 * over channels.
 *
 *   z = W col(x) [+ b]:  W (C_out x C_in k^2), col = the (C_in k^2) x T patch matrix of T output positions
 *   batch: out = (z - mean_o) rsqrt(var_o + eps) g_o + beta_o, mean/var over (n, i, j); running stats updated
 *   layer: out = (z - mean_p) rsqrt(var_p + eps) g_o + beta_o, mean/var over the C_out channels of position p
 * Blocking: a task is one image's band of output rows holding about TILE_POSITIONS positions (at least one row);
 * the thread unfolds the band's patches into its own col buffer (K x T, K = C_in k^2) and one sgemm writes the
 * band's C_out x T outputs in place (ldc = H'W'); a 1x1 kernel with stride 1 and no padding multiplies the input
 * itself. LayerNorm is applied to the band as it leaves the sgemm (all channels of those positions are there);
 * BatchNorm needs the whole batch: a second parallel pass over channels (double statistics, two passes).
 * O(batch C_out H'W' C_in k^2) time, O(threads K T) workspace. Sources: PyTorch nn.Conv2d, nn.BatchNorm2d
 * (Ioffe & Szegedy 2015, Alg. 1), nn.LayerNorm (Ba et al. 2016); im2col: Chellapilla et al. 2006.
 */
#include "basics/family_conv_bn.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define TILE_POSITIONS 256

struct state {
    struct mb_conv_bn cb;
    int64_t band_rows, bands, tile;  /* output rows per task, tasks per image, positions per task (max) */
    int direct;                      /* 1x1, stride 1, no padding: the input is its own patch matrix */
    int slots;
    size_t slot_floats;              /* per thread: col (K x tile), then mean and rstd (tile each) */
    float *ws;
};

/* col (K x cols, row (c, p, q), column (i - i0) W' + j) = input[n, c, i s - pad + p, j s - pad + q], 0 outside. */
static void im2col_band(const struct mb_conv_bn *cb, int64_t n, int64_t i0, int64_t i1, float *col) {
    const int64_t cols = (i1 - i0) * cb->w_out;
    for (int64_t c = 0; c < cb->c_in; c++)
        for (int64_t p = 0; p < cb->k; p++)
            for (int64_t q = 0; q < cb->k; q++) {
                float *dst = col + ((c * cb->k + p) * cb->k + q) * cols;
                for (int64_t i = i0; i < i1; i++, dst += cb->w_out) {
                    const int64_t y = i * cb->stride - cb->pad + p;
                    if (y < 0 || y >= cb->h) {
                        memset(dst, 0, (size_t)cb->w_out * sizeof *dst);
                        continue;
                    }
                    const float *src = cb->x + ((n * cb->c_in + c) * cb->h + y) * cb->w;
                    for (int64_t j = 0; j < cb->w_out; j++) {
                        const int64_t x = j * cb->stride - cb->pad + q;
                        dst[j] = x >= 0 && x < cb->w ? src[x] : 0.0f;
                    }
                }
            }
}

/* LayerNorm over the C_out rows (stride ld) of a band of `cols` positions; mean, rstd: cols floats of workspace. */
static void layer_norm_band(const struct mb_conv_bn *cb, float *z, int64_t ld, int64_t cols, float *mean, float *rstd) {
    const float inv_c = 1.0f / (float)cb->c_out;
    for (int64_t j = 0; j < cols; j++) mean[j] = 0, rstd[j] = 0;
    for (int64_t o = 0; o < cb->c_out; o++)
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) mean[j] += z[o * ld + j];
    for (int64_t j = 0; j < cols; j++) mean[j] *= inv_c;
    for (int64_t o = 0; o < cb->c_out; o++)
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) {
            const float e = z[o * ld + j] - mean[j];
            rstd[j] += e * e;
        }
    for (int64_t j = 0; j < cols; j++) rstd[j] = 1.0f / sqrtf(rstd[j] * inv_c + (float)MB_NORM_EPS);
    for (int64_t o = 0; o < cb->c_out; o++) {
        const float g = cb->gamma[o], beta = cb->beta[o];
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) z[o * ld + j] = (z[o * ld + j] - mean[j]) * rstd[j] * g + beta;
    }
}

/* BatchNorm in training mode over the finished convolution: per channel, statistics in double over (n, i, j). */
static void batch_norm(const struct mb_conv_bn *cb) {
    const int64_t positions = cb->h_out * cb->w_out;
    const double count = (double)(cb->batch * positions), m = MB_BN_MOMENTUM;
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < cb->c_out; o++) {
        double sum = 0, dev = 0;
        for (int64_t n = 0; n < cb->batch; n++) {
            const float *z = cb->out + (n * cb->c_out + o) * positions;
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < positions; j++) sum += z[j];
        }
        const double mean = sum / count;
        for (int64_t n = 0; n < cb->batch; n++) {
            const float *z = cb->out + (n * cb->c_out + o) * positions;
#pragma omp simd reduction(+ : dev)
            for (int64_t j = 0; j < positions; j++) dev += ((double)z[j] - mean) * ((double)z[j] - mean);
        }
        const double var = dev / count;
        const float mean_f = (float)mean, scale = (float)(cb->gamma[o] / sqrt(var + MB_NORM_EPS)), beta = cb->beta[o];
        for (int64_t n = 0; n < cb->batch; n++) {
            float *z = cb->out + (n * cb->c_out + o) * positions;
#pragma omp simd
            for (int64_t j = 0; j < positions; j++) z[j] = (z[j] - mean_f) * scale + beta;
        }
        cb->mean_out[o] = (float)((1 - m) * cb->mean_in[o] + m * mean);
        cb->var_out[o] = (float)((1 - m) * cb->var_in[o] + m * var * count / (count - 1));
    }
}

static void run(void *state) {
    const struct state *s = state;
    const struct mb_conv_bn *cb = &s->cb;
    const int64_t positions = cb->h_out * cb->w_out, fan_in = cb->c_in * cb->k * cb->k;
#pragma omp parallel
    {
        float *col = s->ws + (size_t)omp_get_thread_num() * s->slot_floats;
        float *mean = col + (s->direct ? 0 : fan_in * s->tile), *rstd = mean + s->tile;
#pragma omp for schedule(dynamic)
        for (int64_t task = 0; task < cb->batch * s->bands; task++) {
            const int64_t n = task / s->bands, i0 = task % s->bands * s->band_rows;
            const int64_t i1 = i0 + s->band_rows < cb->h_out ? i0 + s->band_rows : cb->h_out;
            const int64_t cols = (i1 - i0) * cb->w_out;
            float *z = cb->out + n * cb->c_out * positions + i0 * cb->w_out;
            const float *patches = col;
            int64_t ld = cols;
            if (s->direct) patches = cb->x + n * cb->c_in * positions + i0 * cb->w_out, ld = positions;
            else im2col_band(cb, n, i0, i1, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cb->c_out, (int)cols, (int)fan_in, 1.0f,
                        cb->weight, (int)fan_in, patches, (int)ld, 0.0f, z, (int)positions);
            if (cb->bias)
                for (int64_t o = 0; o < cb->c_out; o++) {
                    const float b = cb->bias[o];
#pragma omp simd
                    for (int64_t j = 0; j < cols; j++) z[o * positions + j] += b;
                }
            if (cb->norm == MB_NORM_LAYER) layer_norm_band(cb, z, positions, cols, mean, rstd);
        }
    }
    if (cb->norm == MB_NORM_BATCH) batch_norm(cb);
}

static void band_shape(const struct mb_conv_bn *cb, int64_t *band_rows, int64_t *bands) {
    *band_rows = TILE_POSITIONS / cb->w_out > 1 ? TILE_POSITIONS / cb->w_out : 1;
    if (*band_rows > cb->h_out) *band_rows = cb->h_out;
    *bands = (cb->h_out + *band_rows - 1) / *band_rows;
}

/* Floats per thread: the patch matrix (none when direct), then the LayerNorm statistics; 64-byte aligned slots. */
static size_t slot_floats(const struct mb_conv_bn *cb, int64_t tile, int direct) {
    return ((size_t)((direct ? 0 : cb->c_in * cb->k * cb->k * tile) + 2 * tile) + 15) & ~(size_t)15;
}

static int setup(const struct mb_kernel *k MB_UNUSED, void **out, struct mb_workload *w, char *err, size_t errlen) {
    struct state *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_conv_bn_bind(&s->cb, w);
    const struct mb_conv_bn *cb = &s->cb;
    band_shape(cb, &s->band_rows, &s->bands);
    s->tile = s->band_rows * cb->w_out;
    s->direct = cb->k == 1 && cb->stride == 1 && cb->pad == 0;
    s->slots = omp_get_max_threads() > w->point.threads ? omp_get_max_threads() : (int)w->point.threads;
    s->slot_floats = slot_floats(cb, s->tile, s->direct);
    s->ws = mb_alloc((size_t)s->slots * s->slot_floats * sizeof(float));
    if (!s->ws) {
        free(s);
        return mb_errorf(err, errlen, "cannot allocate the per-thread patch buffers");
    }
    *out = s;
    return 0;
}

static void teardown(void *state) {
    struct state *s = state;
    mb_free(s->ws);
    free(s);
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    struct mb_workload w = {.point = *p};
    struct mb_conv_bn cb;
    mb_conv_bn_bind(&cb, &w);
    if (cb.h_out < 1 || cb.w_out < 1) return 0;
    int64_t band_rows, bands;
    band_shape(&cb, &band_rows, &bands);
    const int64_t tile = band_rows * cb.w_out;
    const int direct = cb.k == 1 && cb.stride == 1 && cb.pad == 0;
    const double threads = p->threads > 0 ? (double)p->threads : 1;
    return threads * 4.0 * (double)slot_floats(&cb, tile, direct);
}

const struct mb_kernel mb_kernel_basics_conv_bn_im2col = {
    .name = "basics.conv_bn.im2col",
    .family = &mb_family_basics_conv_bn,
    .mechanism = "conv_norm",
    .summary = "conv2d by im2col bands + sgemm (bias optional), then BatchNorm2d (training) or LayerNorm over channels",
    .complexity = "O(batch C_out H'W' C_in k^2) time, O(threads C_in k^2 T) workspace (T ~ 256 positions)",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(channels) | MB_AXIS_BIT(height) | MB_AXIS_BIT(width) |
            MB_AXIS_BIT(ksize),
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = mb_conv_bn_flops,
    .bytes = mb_conv_bn_bytes,
    .workspace_bytes = workspace,
};
