/* This machine's roofs: the FP32 FMA peak (the compute roof) and OpenBLAS sgemm GFLOP/s on one core and on all
 * cores, memory bandwidth (STREAM triad a = b + s c) and exp throughput, for `mechbench machine`, the roofline
 * plot and every "% of peak" (mb_machine_peak).
 *
 * FMA peak: machine_fma.c's loop of independent register FMA chains in the widest vector ISA the CPU has
 * (AVX-512, else AVX2 + FMA, else scalar), 2^24 iterations per repetition, best of `reps`; all cores: one loop per
 * core at once, the sum of their FLOP over the slowest thread's time. Checked against the recurrence's closed form.
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
    double fma_gflops_1, fma_gflops_all; /* FP32 FMA peak, one core and all cores; 0 in older files */
    char fma_isa[16];              /* "avx512", "avx2", "scalar" ("" in older files) */
    double gflops_1, gflops_all;   /* sgemm, one core and all cores */
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
/* The compute roof: the FMA peak on one core (all = 0) or all cores (all = 1); files measured before the FMA
 * probe give sgemm instead. *what (may be NULL) = "FMA peak" or "sgemm". */
double mb_machine_peak(const struct mb_machine *m, int all, const char **what);
/* Internal (machine_fma.c): one FMA chain's final value after `iters` steps of acc = acc * a + b from 1, run on
 * FMA_CHAINS chains x the widest vector the CPU has; *flops = the FLOP executed. Lanes and ISA name of that loop. */
double mb_machine_fma_loop(float a, float b, long iters, double *flops);
int mb_machine_fma_lanes(void);
const char *mb_machine_fma_isa(void);
/* Internal: sum of SLEEF's AVX-512 expf over `passes` passes of x[0..n) (n a multiple of 128, x 64-byte aligned);
 * machine_exp_avx512.c, built for x86-64-v4: call only when the CPU has AVX-512. */
double mb_machine_exp_loop_avx512(const float *x, int n, int passes);

#endif
