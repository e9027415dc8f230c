/* FMA peak, sgemm GFLOP/s, STREAM triad bandwidth and exp throughput (see machine.h). */
#include "run/machine.h"

#include "core/isa.h"
#include "core/mechbench.h"

#include <cblas.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GEMM_N 2048
#define TRIAD_N (1L << 25)

static void cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = 0;
                snprintf(buf, len, "%s", v);
            }
            break;
        }
    fclose(f);
}

/* The longest of the threads' times of one repetition: the slowest thread bounds an aggregate rate. */
static double slowest_thread(const double *dts, int threads) {
    double slowest = 0;
    for (int k = 0; k < threads; k++) slowest = dts[k] > slowest ? dts[k] : slowest;
    return slowest;
}

/* Best GFLOP/s of `threads` concurrent single-threaded sgemms. */
static double sgemm_peak(int threads, int reps, char *err, size_t errlen) {
    const size_t nn = (size_t)GEMM_N * GEMM_N;
    float *buf[64] = {0};
    if (threads > 64) threads = 64;
    int ok = 1;
    for (int t = 0; t < threads; t++) {
        buf[t] = mb_alloc(3 * nn * sizeof(float));
        if (!buf[t]) ok = 0;
    }
    if (!ok) {
        for (int t = 0; t < threads && t < 64; t++) mb_free(buf[t]);
        return mb_errorf(err, errlen, "out of memory (sgemm %d x %d, %d threads)", GEMM_N, GEMM_N, threads);
    }
    double best = 0, dts[64] = {0};
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        float *a = buf[t], *b = a + nn, *c = b + nn;
        for (size_t i = 0; i < nn; i++) a[i] = (float)((i % 97) * 0.01), b[i] = (float)((i % 89) * 0.01), c[i] = 0;
        for (int r = 0; r <= reps; r++) { /* r = 0: warm-up */
#pragma omp barrier
            double t0 = omp_get_wtime();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, GEMM_N, GEMM_N, GEMM_N, 1.0f, a, GEMM_N, b, GEMM_N,
                        0.0f, c, GEMM_N);
            dts[t] = omp_get_wtime() - t0;
#pragma omp barrier
#pragma omp single
            { /* the slowest thread bounds the aggregate rate */
                const double slowest = slowest_thread(dts, threads);
                double g = threads * 2.0 * GEMM_N * (double)GEMM_N * GEMM_N / slowest / 1e9;
                if (r > 0 && g > best) best = g;
            }
        }
    }
    for (int t = 0; t < threads; t++) mb_free(buf[t]);
    return best;
}

#define FMA_ITERS (1L << 24)

/* Best GFLOP/s of `threads` concurrent FMA loops (machine_fma.c); -1 if a loop's value is wrong. */
static double fma_peak(int threads, int reps) {
    const float a = 0.999f, b = 0.001f; /* acc -> b / (1 - a) = 1: no overflow, no denormals */
    double best = 0, dts[64] = {0}, flops = 0;
    int bad = 0;
    if (threads > 64) threads = 64;
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num();
        for (int r = 0; r <= reps; r++) { /* r = 0: warm-up (and the AVX-512 frequency licence) */
#pragma omp barrier
            const double t0 = omp_get_wtime();
            double f;
            const double got = mb_machine_fma_loop(a, b, FMA_ITERS, &f);
            dts[t] = omp_get_wtime() - t0;
            if (!(fabs(got - 1.0) < 1e-3)) { /* a^n (1 - 1) + 1 = 1 for every n */
#pragma omp atomic write
                bad = 1;
            }
#pragma omp barrier
#pragma omp single
            {
                const double slowest = slowest_thread(dts, threads);
                const double g = threads * f / slowest / 1e9;
                if (r > 0 && g > best) best = g;
                flops = f;
            }
        }
    }
    return bad || flops <= 0 ? -1 : best;
}

double mb_machine_peak(const struct mb_machine *m, int all, const char **what) {
    const double fma = all ? m->fma_gflops_all : m->fma_gflops_1;
    if (what) *what = fma > 0 ? "FMA peak" : "sgemm";
    return fma > 0 ? fma : all ? m->gflops_all : m->gflops_1;
}

/* Best triad GB/s with `threads` threads; -1 if the result does not validate. */
static double triad(int threads, int reps, double *a, double *b, double *c) {
    const double s = 3.0;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long i = 0; i < TRIAD_N; i++) a[i] = 1.0, b[i] = 2.0, c[i] = 0.5;
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = omp_get_wtime();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (long i = 0; i < TRIAD_N; i++) a[i] = b[i] + s * c[i];
        double dt = omp_get_wtime() - t0;
        if (dt < best) best = dt;
    }
    /* validate: every element is 2 + 3 * 0.5 = 3.5 after any number of repetitions */
    for (long i = 0; i < TRIAD_N; i += 4099)
        if (a[i] != 3.5) return -1;
    return 3.0 * sizeof(double) * TRIAD_N / best / 1e9;
}

#define EXP_N 4096
#define EXP_PASSES 4096 /* 2^24 exps per repetition */

/* Sum of exp(x[i]) over EXP_PASSES passes of x[0..EXP_N) (the sum keeps the exps live): SLEEF's AVX-512 expf
 * (machine_exp_avx512.c) when the CPU has AVX-512, else scalar expf. */
static double exp_loop(const float *x) {
    if (mb_isa_cpu_mask() & (1u << MB_ISA_AVX512)) return mb_machine_exp_loop_avx512(x, EXP_N, EXP_PASSES);
    double s = 0;
    for (int pass = 0; pass < EXP_PASSES; pass++) {
        float a = 0;
        for (int i = 0; i < EXP_N; i++) a += expf(x[i]);
        s += a;
    }
    return s;
}

/* Best G exp/s of `threads` concurrent exp loops; -1 if a sum is wrong. */
static double exp_throughput(int threads, int reps) {
    double best = 0, dts[64] = {0};
    int bad = 0;
    if (threads > 64) threads = 64;
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num();
        float *x = mb_alloc(EXP_N * sizeof(float));
        double want = 0;
        if (x)
            for (int i = 0; i < EXP_N; i++) {
                x[i] = -10.0f * (float)((i * 37) % EXP_N) / EXP_N;
                want += exp((double)x[i]);
            }
        for (int r = 0; r <= reps; r++) { /* r = 0: warm-up */
#pragma omp barrier
            const double t0 = omp_get_wtime();
            const double got = x ? exp_loop(x) : 0;
            dts[t] = omp_get_wtime() - t0;
            if (!x || fabs(got - want * EXP_PASSES) > 1e-3 * want * EXP_PASSES) {
#pragma omp atomic write
                bad = 1;
            }
#pragma omp barrier
#pragma omp single
            {
                const double slowest = slowest_thread(dts, threads);
                const double g = threads * (double)EXP_N * EXP_PASSES / slowest / 1e9;
                if (r > 0 && g > best) best = g;
            }
        }
        mb_free(x);
    }
    return bad ? -1 : best;
}

int mb_machine_measure(struct mb_machine *m, int reps, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    m->cores = omp_get_num_procs();
    const char *ct = getenv("OPENBLAS_CORETYPE");
    snprintf(m->openblas_coretype, sizeof m->openblas_coretype, "%s", ct ? ct : "");
    cpu_model(m->cpu_model, sizeof m->cpu_model);
    time_t now = time(NULL);
    strftime(m->measured, sizeof m->measured, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(m->fma_isa, sizeof m->fma_isa, "%s", mb_machine_fma_isa());
    m->fma_gflops_1 = fma_peak(1, reps);
    m->fma_gflops_all = fma_peak(m->cores, reps);
    if (m->fma_gflops_1 < 0 || m->fma_gflops_all < 0) return mb_errorf(err, errlen, "the FMA peak loop's value is wrong");
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
    m->gflops_1 = sgemm_peak(1, reps, err, errlen);
    if (m->gflops_1 >= 0) m->gflops_all = sgemm_peak(m->cores, reps, err, errlen);
    openblas_set_num_threads(saved);
    if (m->gflops_1 < 0 || m->gflops_all < 0) return -1;
    double *a = mb_alloc(TRIAD_N * sizeof(double)), *b = mb_alloc(TRIAD_N * sizeof(double)),
           *c = mb_alloc(TRIAD_N * sizeof(double));
    if (!a || !b || !c) {
        mb_free(a), mb_free(b), mb_free(c);
        return mb_errorf(err, errlen, "out of memory (triad: 3 x %ld doubles)", TRIAD_N);
    }
    m->triad_gbs_1 = triad(1, reps, a, b, c);
    m->triad_gbs = triad(m->cores, reps, a, b, c);
    mb_free(a), mb_free(b), mb_free(c);
    if (m->triad_gbs < 0 || m->triad_gbs_1 < 0) return mb_errorf(err, errlen, "STREAM triad result did not validate");
    m->exp_gps_1 = exp_throughput(1, reps);
    m->exp_gps_all = exp_throughput(m->cores, reps);
    if (m->exp_gps_1 < 0 || m->exp_gps_all < 0) return mb_errorf(err, errlen, "the exp throughput loop's sum is wrong");
    return 0;
}

int mb_machine_save(const struct mb_machine *m, const char *path, char *err, size_t errlen) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return mb_errorf(err, errlen, "cannot create %s", tmp);
    int bad = 0;
    double cores = m->cores;
    bad |= H5LTset_attribute_string(f, "/", "tool", "mechbench machine") < 0;
    bad |= H5LTset_attribute_double(f, "/", "cores", &cores, 1) < 0;
    bad |= H5LTset_attribute_double(f, "/", "fma_gflops_1core", &m->fma_gflops_1, 1) < 0;
    bad |= H5LTset_attribute_double(f, "/", "fma_gflops_all", &m->fma_gflops_all, 1) < 0;
    bad |= H5LTset_attribute_string(f, "/", "fma_isa", m->fma_isa) < 0;
    bad |= H5LTset_attribute_double(f, "/", "sgemm_gflops_1core", &m->gflops_1, 1) < 0;
    bad |= H5LTset_attribute_double(f, "/", "sgemm_gflops_all", &m->gflops_all, 1) < 0;
    bad |= H5LTset_attribute_double(f, "/", "triad_gbs_all", &m->triad_gbs, 1) < 0;
    bad |= H5LTset_attribute_double(f, "/", "triad_gbs_1core", &m->triad_gbs_1, 1) < 0;
    bad |= H5LTset_attribute_double(f, "/", "expf16_gexps_1core", &m->exp_gps_1, 1) < 0;
    bad |= H5LTset_attribute_double(f, "/", "expf16_gexps_all", &m->exp_gps_all, 1) < 0;
    bad |= H5LTset_attribute_string(f, "/", "openblas_coretype", m->openblas_coretype[0] ? m->openblas_coretype : "(unset)") < 0;
    bad |= H5LTset_attribute_string(f, "/", "cpu_model", m->cpu_model) < 0;
    bad |= H5LTset_attribute_string(f, "/", "measured", m->measured) < 0;
    H5Fclose(f);
    if (bad || rename(tmp, path)) {
        remove(tmp);
        return mb_errorf(err, errlen, "cannot write %s", path);
    }
    return 0;
}

int mb_machine_load(struct mb_machine *m, const char *path, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    if (access(path, R_OK)) return mb_errorf(err, errlen, "%s not found (run `mechbench machine` first)", path);
    H5E_BEGIN_TRY {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        int bad = f < 0;
        double cores = 0;
        if (!bad) {
            bad |= H5LTget_attribute_double(f, "/", "cores", &cores) < 0;
            bad |= H5LTget_attribute_double(f, "/", "sgemm_gflops_1core", &m->gflops_1) < 0;
            bad |= H5LTget_attribute_double(f, "/", "sgemm_gflops_all", &m->gflops_all) < 0;
            bad |= H5LTget_attribute_double(f, "/", "triad_gbs_all", &m->triad_gbs) < 0;
            bad |= H5LTget_attribute_double(f, "/", "triad_gbs_1core", &m->triad_gbs_1) < 0;
            /* optional (files written before the FMA and exp probes): left 0 */
            if (H5Aexists_by_name(f, "/", "fma_gflops_1core", H5P_DEFAULT) > 0) H5LTget_attribute_double(f, "/", "fma_gflops_1core", &m->fma_gflops_1);
            if (H5Aexists_by_name(f, "/", "fma_gflops_all", H5P_DEFAULT) > 0) H5LTget_attribute_double(f, "/", "fma_gflops_all", &m->fma_gflops_all);
            if (H5Aexists_by_name(f, "/", "fma_isa", H5P_DEFAULT) > 0) H5LTget_attribute_string(f, "/", "fma_isa", m->fma_isa);
            if (H5Aexists_by_name(f, "/", "expf16_gexps_1core", H5P_DEFAULT) > 0) H5LTget_attribute_double(f, "/", "expf16_gexps_1core", &m->exp_gps_1);
            if (H5Aexists_by_name(f, "/", "expf16_gexps_all", H5P_DEFAULT) > 0) H5LTget_attribute_double(f, "/", "expf16_gexps_all", &m->exp_gps_all);
            H5Fclose(f);
        }
        m->cores = (int)cores;
        if (bad) return mb_errorf(err, errlen, "%s: not a mechbench machine file (run `mechbench machine`)", path);
    }
    H5E_END_TRY;
    return 0;
}
