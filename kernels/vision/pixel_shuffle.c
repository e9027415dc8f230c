/* vision.pixel_shuffle: nn.PixelShuffle(upscale_factor r), the rearrangement of sub-pixel convolution (ESPCN).
 *
 *   (N, C r^2, H, W) -> (N, C, H r, W r):  out[n, c, h r + i, w r + j] = in[n, c r^2 + i r + j, h, w]
 * Output row (n, c, h r + i) interleaves the r input rows (n, c r^2 + i r + j, h), j = 0..r-1: a gather with a
 * per-column offset table (j H W + w) into a scratch row, then a row copy (non-temporal for large outputs). OpenMP
 * over the output rows. No arithmetic. Sources: Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
 * Using an Efficient Sub-Pixel Convolutional Neural Network", eq. 4 (PS); torch.nn.PixelShuffle. */
#include "vision/family.h"

#include <omp.h>

static void shuffle_rows(const struct mb_shuffle_state *st, float *restrict row, int64_t r0, int64_t r1) {
    const struct mb_shuffle *s = &st->s;
    const int64_t r = s->r, plane = s->h_in * s->w_in, w_in = s->w_in, w_out = s->w_out;
    for (int64_t o = r0; o < r1; o++) {
        const int64_t oh = o % s->h_out, c = o / s->h_out % s->c_out, n = o / s->h_out / s->c_out;
        const int64_t h = oh / r, i = oh % r;
        const float *restrict src = st->in + ((n * s->c_in + mb_vision_shuffle_channel(c, i, 0, r)) * s->h_in + h) * w_in;
        if (r == 2) {
            const float *restrict a = src, *restrict b = src + plane;
            for (int64_t w = 0; w < w_in; w++) row[2 * w] = a[w], row[2 * w + 1] = b[w];
        } else {
            for (int64_t j = 0; j < r; j++)
                for (int64_t w = 0; w < w_in; w++) row[w * r + j] = src[j * plane + w];
        }
        mb_vision_store_row(st->out + o * w_out, row, w_out, st->stream);
    }
}

static void run(void *state) {
    const struct mb_shuffle_state *st = state;
    const int64_t rows = st->s.batch * st->s.c_out * st->s.h_out;
#pragma omp parallel num_threads(st->threads)
    {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        shuffle_rows(st, st->scratch + t * st->s.r * st->row, rows * t / nt, rows * (t + 1) / nt);
        if (st->stream) mb_vision_store_fence();
    }
}

static const struct mb_param_decl params[] = {
    {"upscale_factor", MB_PARAM_INT, 0, 0, 256, NULL, "nn.PixelShuffle's r (0 = the scale axis)"},
};

const struct mb_kernel mb_kernel_vision_pixel_shuffle = {
    .name = "vision.pixel_shuffle",
    MB_SHUFFLE_KERNEL,
    .mechanism = "pixel_shuffle",
    .summary = "nn.PixelShuffle: r input rows interleaved per output row (a permutation, no arithmetic)",
    .complexity = "O(N C H W) copies",
    .params = params,
    .n_params = 1,
    .run = run,
};
