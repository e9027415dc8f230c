/* This machine's roofs: peak FP32 GFLOP/s (OpenBLAS sgemm) on one core and on all cores, and memory bandwidth
 * (STREAM triad a = b + s c), for `mechbench machine` and the roofline plot.
 *
 * sgemm: square n x n (n = 2048), best of `reps`; one core: one OpenBLAS thread; all cores: one OpenMP thread
 * per core, each calling single-threaded sgemm on its own matrices (the sum of their FLOP over the slowest
 * thread's time). OpenBLAS's thread count is set to 1 throughout (as in the kernels) and restored afterwards.
 * OPENBLAS_CORETYPE is recorded: with Haswell, sgemm runs its AVX2 kernels (about half the AVX-512 peak).
 * Triad: three arrays of 2^25 doubles (768 MiB in all, far beyond any L3), first-touch initialised by the same
 * parallel loop, best of `reps`, 24 bytes per element (STREAM's count), validated by replaying the recurrence.
 * exp: Sleef_expf16_u10 (the exp of the SSM kernels) over 4096 floats in [-10, 0] kept in L1, 8 independent
 * vectors in flight, 2^24 exps per repetition, best of `reps`; all cores: one such loop per core, the slowest
 * thread's time. Without AVX-512: scalar expf. The result is checked against the sum of the exps.
 */
#ifndef MB_MACHINE_H
#define MB_MACHINE_H

#include <stddef.h>

struct mb_machine {
    int cores;
    double gflops_1, gflops_all;   /* sgemm peak, one core and all cores */
    double triad_gbs;              /* STREAM triad, all cores (GB/s, 1e9 bytes) */
    double triad_gbs_1;            /* one core */
    double exp_gps_1, exp_gps_all; /* SLEEF expf throughput (Sleef_expf16_u10, AVX-512), G exp/s, one core and all
                                      cores; 0 when not measured (older files) */
    char openblas_coretype[64];    /* "" when unset */
    char cpu_model[128];
    char measured[32];             /* UTC */
};

#define MB_MACHINE_FILE "results/machine.h5"

/* Measure (a few seconds). reps >= 1. Returns 0 or -1 with a message. */
int mb_machine_measure(struct mb_machine *m, int reps, char *err, size_t errlen);
/* Save as root attributes of a small HDF5 file (atomically), and load them back. */
int mb_machine_save(const struct mb_machine *m, const char *path, char *err, size_t errlen);
int mb_machine_load(struct mb_machine *m, const char *path, char *err, size_t errlen);
/* Internal: sum of SLEEF's AVX-512 expf over `passes` passes of x[0..n) (n a multiple of 128, x 64-byte aligned);
 * machine_exp_avx512.c, built for x86-64-v4: call only when the CPU has AVX-512. */
double mb_machine_exp_loop_avx512(const float *x, int n, int passes);

#endif
