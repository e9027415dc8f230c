/* C API over Google Benchmark 1.7.1 (harness/gbench_shim.cc): time one body at a time.
 *
 * The body runs in Google Benchmark's loop with real (wall-clock) time, as OpenMP kernels need; each of
 * `repetitions` repetitions runs enough iterations to last `min_time` seconds (at least one). Per-repetition
 * times and the library's aggregates come back to C; Google Benchmark prints nothing.
 */
#ifndef MB_GBENCH_H
#define MB_GBENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mb_timing {
    int64_t iterations;   /* per repetition */
    int repetitions;      /* samples actually returned */
    double mean, median, stddev, cv, min, max; /* seconds per iteration (cv: a ratio) */
};

/* REQUIRES: min_time > 0, repetitions >= 1, samples has room for `repetitions` doubles.
 * Fills samples[i] (seconds per iteration of repetition i) and *t. Returns 0, or -1 with a message. */
int mb_gbench_measure(const char *name, void (*body)(void *ctx), void *ctx, double min_time, int repetitions,
                      double *samples, struct mb_timing *t, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
