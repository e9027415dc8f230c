/* vision.pixel_unshuffle: nn.PixelUnshuffle(downscale_factor r), the inverse of pixel_shuffle (space to depth).
 *
 *   (N, C, H r, W r) -> (N, C r^2, H, W):  out[n, c r^2 + i r + j, h, w] = in[n, c, h r + i, w r + j]
 * Each input row (n, c, h r + i) is read once and de-interleaved into its r output rows (j = 0..r-1) in scratch
 * rows, then copied out (non-temporal for large outputs). OpenMP over the input rows. No arithmetic.
 * Source: torch.nn.PixelUnshuffle (PyTorch's channel order c, i, j). */
#include "vision/family.h"

#include <omp.h>

static void unshuffle_rows(const struct mb_shuffle_state *st, float *restrict rows, int64_t r0, int64_t r1) {
    const struct mb_shuffle *s = &st->s;
    const int64_t r = s->r, w_out = s->w_out, h_out = s->h_out;
    for (int64_t q = r0; q < r1; q++) { /* input row q = (n, c, hi), hi = h r + i */
        const int64_t hi = q % s->h_in, c = q / s->h_in % s->c_in, n = q / s->h_in / s->c_in;
        const int64_t h = hi / r, i = hi % r;
        const float *restrict src = st->in + q * s->w_in;
        if (r == 2) {
            float *restrict a = rows, *restrict b = rows + st->row;
            for (int64_t w = 0; w < w_out; w++) a[w] = src[2 * w], b[w] = src[2 * w + 1];
        } else {
            for (int64_t j = 0; j < r; j++)
                for (int64_t w = 0; w < w_out; w++) rows[j * st->row + w] = src[w * r + j];
        }
        for (int64_t j = 0; j < r; j++) {
            const int64_t oc = c * r * r + i * r + j;
            mb_vision_store_row(st->out + ((n * s->c_out + oc) * h_out + h) * w_out, rows + j * st->row, w_out,
                                st->stream);
        }
    }
}

static void run(void *state) {
    const struct mb_shuffle_state *st = state;
    const int64_t rows = st->s.batch * st->s.c_in * st->s.h_in;
#pragma omp parallel num_threads(st->threads)
    {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        unshuffle_rows(st, st->scratch + t * st->s.r * st->row, rows * t / nt, rows * (t + 1) / nt);
        if (st->stream) mb_vision_store_fence();
    }
}

static const struct mb_param_decl params[] = {
    {"downscale_factor", MB_PARAM_INT, 0, 0, 256, NULL, "nn.PixelUnshuffle's r (0 = the scale axis)"},
};

const struct mb_kernel mb_kernel_vision_pixel_unshuffle = {
    .name = "vision.pixel_unshuffle",
    MB_SHUFFLE_KERNEL,
    .mechanism = "pixel_unshuffle",
    .summary = "nn.PixelUnshuffle: each input row de-interleaved into r output rows (a permutation)",
    .complexity = "O(N C H W) copies",
    .params = params,
    .n_params = 1,
    .run = run,
};
