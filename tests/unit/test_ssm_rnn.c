/* Selective and linear RNN families (ssm.mamba, ssm.lru, ssm.retnet, ssm.rwkv), the cross-form equalities:
 * sequential == chunked scans for chunks not dividing L, decode == last step of the scan, RetNet parallel ==
 * recurrent == chunkwise, RWKV stable == direct (and stable stays finite where direct overflows). Every kernel against
 * its family's oracle at odd shapes: test_ssm_kernels.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/isa.h"
#include "run/runner.h"

struct shape {
    int64_t batch, d, n, rank, heads;
};

/* test_ssm_kernels.c: the point of k at shape s (the axes k does not read zeroed) */
void ssm_test_point(const struct mb_kernel *k, const struct shape *s, int64_t block, int threads, const char *params,
                    struct mb_point *p);

/* Create the workload of k at p (seed 7) and run k once. Returns 0 when unsupported. */
static int run_kernel(const struct mb_kernel *k, const struct mb_point *p, struct mb_workload *w) {
    char why[256], err[256];
    if (mb_kernel_supports(k, p, why, sizeof why)) return 0;
    cr_assert_eq(mb_family_validate(k->family, p, err, sizeof err), 0, "%s: %s", k->name, err);
    cr_assert_eq(mb_workload_create(w, k->family, p, 7, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_run_once(k, w, err, sizeof err), 0, "%s", err);
    return 1;
}

static void check(const struct mb_kernel *k, const struct mb_workload *w, struct mb_errors *e) {
    char err[256];
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    cr_assert_eq(k->family->check(k, w, k->mechanism, &co, e, err, sizeof err), 0, "%s", err);
}

/* ---------------------------------------------------------------------------------------------- cross forms */
/* max |a - b| / max(1, max |b|) over the checked part (last step only when last_only) */
static double compare_outputs(const struct mb_workload *a, const struct mb_workload *b, int64_t rows, int64_t n,
                              int64_t row_len, int last_only) {
    const float *x = a->outputs[0].data, *y = b->outputs[0].data;
    double diff = 0, scale = 1;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = last_only ? n - 1 : 0; t < n; t++)
            for (int64_t c = 0; c < row_len; c++) {
                const int64_t i = (r * n + t) * row_len + c;
                cr_assert(isfinite(x[i]) && isfinite(y[i]));
                if (fabs(x[i] - y[i]) > diff) diff = fabs(x[i] - y[i]);
                if (fabs(y[i]) > scale) scale = fabs(y[i]);
            }
    return diff / scale;
}

static void same_workload_twice(const char *ka, const char *kb, const struct shape *s, int64_t block_a, int threads,
                                const char *params, struct mb_workload *wa, struct mb_workload *wb) {
    const struct mb_kernel *a = mb_kernel_find(ka), *b = mb_kernel_find(kb);
    cr_assert(a && b, "%s or %s missing", ka, kb);
    struct mb_point pa, pb;
    ssm_test_point(a, s, block_a, threads, params, &pa);
    ssm_test_point(b, s, 0, threads, params, &pb);
    cr_assert(run_kernel(a, &pa, wa));
    cr_assert(run_kernel(b, &pb, wb));
}

Test(rnn_mamba, scan_parallel_equals_scan_seq_for_chunks_not_dividing_L) {
    const int64_t blocks[] = {1, 7, 64, 1000}, lengths[] = {1, 7, 129, 1000};
    for (size_t bi = 0; bi < 4; bi++)
        for (size_t li = 0; li < 4; li++)
            for (int64_t D = 3; D <= 6; D += 3) { /* D = 3 gathers B, C per channel; D = 6 transposes them */
            const struct shape s = {2, D, lengths[li], 16, 0};
            struct mb_workload wp, ws;
            same_workload_twice("ssm.mamba.scan_parallel", "ssm.mamba.scan_seq", &s, blocks[bi], 2, NULL, &wp, &ws);
            const double rel = compare_outputs(&wp, &ws, 2 * D, s.n, 1, 0);
            cr_assert_lt(rel, 1e-5, "block %lld L %lld D %lld: %g", (long long)blocks[bi], (long long)s.n, (long long)D, rel);
            mb_workload_free(&wp);
            mb_workload_free(&ws);
        }
}

/* The default plan of scan_parallel cuts a channel unevenly when batch * D < threads (first chunk longer, later
 * chunks corrected by C . (P H) without a rescan); minchunk=1 forces the split at short L. Against scan_seq and the
 * double oracle, at threads 1, 2, 3, with and without the gate, D = 1 (one channel, every thread on it) and D = 2
 * (teams of 2 and 1 at 3 threads), N = 16 and N = 33 (a partial vector of states). */
Test(rnn_mamba, uneven_split_equals_scan_seq_and_the_oracle) {
    const int64_t lengths[] = {1, 7, 129, 1000, 65537};
    const struct mb_kernel *kp = mb_kernel_find("ssm.mamba.scan_parallel");
    for (size_t li = 0; li < 5; li++)
        for (int threads = 1; threads <= 3; threads++)
            for (int v = 0; v < 3; v++) {
                const int64_t D = v == 2 ? 2 : 1, N = v == 1 ? 33 : 16;
                if (lengths[li] == 65537 && v == 1) continue; /* N = 33 is covered at the shorter lengths */
                const struct shape s = {1, D, lengths[li], N, 0};
                const char *params = v == 1 ? "minchunk=1;gate=0" : "minchunk=1";
                struct mb_workload wp, ws;
                same_workload_twice("ssm.mamba.scan_parallel", "ssm.mamba.scan_seq", &s, 0, threads, params, &wp, &ws);
                const double rel = compare_outputs(&wp, &ws, D, s.n, 1, 0);
                cr_assert_lt(rel, 1e-5, "L %lld threads %d D %lld N %lld: %g", (long long)s.n, threads, (long long)D,
                             (long long)N, rel);
                struct mb_errors e;
                check(kp, &wp, &e);
                cr_assert_eq(e.checked, D * s.n);
                cr_assert_lt(e.rel_l2, 1e-5, "L %lld threads %d D %lld N %lld: rel_l2 %g vs the oracle", (long long)s.n,
                             threads, (long long)D, (long long)N, e.rel_l2);
                mb_workload_free(&wp);
                mb_workload_free(&ws);
            }
}

/* Windows (the stored products are bounded: L is cut in windows, each split again, the carry passed between
 * them), with the balanced split and with explicit blocks (window rounded to whole blocks). */
Test(rnn_mamba, scan_parallel_windows_equal_scan_seq) {
    const char *params[] = {"minchunk=1;window=100", "minchunk=1;window=1", "window=300", "minchunk=1;window=4096"};
    const int64_t blocks[] = {0, 0, 64, 0}, lengths[] = {1, 129, 1000, 5000};
    for (size_t pi = 0; pi < 4; pi++)
        for (size_t li = 0; li < 4; li++)
            for (int threads = 2; threads <= 3; threads++) {
                const struct shape s = {1, 2, lengths[li], 16, 0};
                struct mb_workload wp, ws;
                same_workload_twice("ssm.mamba.scan_parallel", "ssm.mamba.scan_seq", &s, blocks[pi], threads, params[pi],
                                    &wp, &ws);
                const double rel = compare_outputs(&wp, &ws, 2, s.n, 1, 0);
                cr_assert_lt(rel, 1e-5, "%s block %lld L %lld threads %d: %g", params[pi], (long long)blocks[pi],
                             (long long)s.n, threads, rel);
                mb_workload_free(&wp);
                mb_workload_free(&ws);
            }
}

/* The default split is the balanced uneven one: with K threads on one channel the K - 1 later chunks have
 * L / (K + r) steps, the first the rest; read back through the FLOP model (extra (4N + 2) per step of the later
 * chunks). With batch * D >= threads nothing is split: the FLOPs are scan_seq's. */
Test(rnn_mamba, default_plan_is_the_balanced_uneven_split) {
    const struct mb_kernel *kp = mb_kernel_find("ssm.mamba.scan_parallel"), *ks = mb_kernel_find("ssm.mamba.scan_seq");
    for (int threads = 1; threads <= 4; threads++)
        for (int64_t D = 1; D <= 2; D++) {
            const struct shape s = {1, D, 65536, 16, 0};
            struct mb_point pp, ps;
            ssm_test_point(kp, &s, 0, threads, NULL, &pp);
            ssm_test_point(ks, &s, 0, threads, NULL, &ps);
            const double later = (mb_kernel_flops(kp, &pp) - mb_kernel_flops(ks, &ps)) / (4.0 * 16 + 2.0);
            if (threads <= D) {
                cr_assert_eq(later, 0.0, "threads %d D %lld: %g steps split", threads, (long long)D, later);
                continue;
            }
            double want = 0; /* per channel: (K - 1) L / (K + r), K its team, r = R_LOCAL = 0.08 */
            for (int64_t c = 0; c < D; c++) {
                const int K = threads / (int)D + (c < threads % D);
                if (K > 1) want += (K - 1) * 65536.0 / (K + 0.08);
            }
            cr_assert(fabs(later - want) <= 16.0 * threads, "threads %d D %lld: %g later steps, want ~%g", threads,
                      (long long)D, later, want);
            cr_assert_lt(later, 65536.0 * D * (threads - D) / threads, "the first chunk must be the longest");
        }
}

Test(rnn_mamba, decode_equals_the_last_step_of_the_scan) {
    const int64_t lengths[] = {1, 7, 129, 1000};
    for (size_t li = 0; li < 4; li++)
        for (int gate = 0; gate <= 1; gate++) {
            const struct shape s = {2, 5, lengths[li], 16, 0};
            struct mb_workload wd, ws;
            same_workload_twice("ssm.mamba.decode", "ssm.mamba.scan_seq", &s, 0, 2, gate ? "gate=1" : "gate=0", &wd, &ws);
            cr_assert_eq(wd.n_inputs, gate ? 8 : 7, "z is an input exactly when gate=1");
            const double rel = compare_outputs(&wd, &ws, 10, s.n, 1, 1);
            cr_assert_lt(rel, 1e-5, "L %lld gate %d: %g", (long long)s.n, gate, rel);
            mb_workload_free(&wd);
            mb_workload_free(&ws);
        }
}

Test(rnn_mamba, without_gate_the_oracle_agrees_and_the_gate_matters) {
    const struct mb_kernel *k = mb_kernel_find("ssm.mamba.scan_seq");
    const struct shape s = {1, 4, 50, 8, 0};
    struct mb_point p0, p1;
    ssm_test_point(k, &s, 0, 1, "gate=0", &p0);
    ssm_test_point(k, &s, 0, 1, "gate=1", &p1);
    struct mb_workload w0, w1;
    cr_assert(run_kernel(k, &p0, &w0));
    cr_assert(run_kernel(k, &p1, &w1));
    struct mb_errors e;
    check(k, &w0, &e);
    cr_assert_lt(e.rel_l2, 1e-5);
    cr_assert_gt(compare_outputs(&w0, &w1, 4, 50, 1, 0), 0.1, "gated and ungated outputs must differ");
    mb_workload_free(&w0);
    mb_workload_free(&w1);
}

/* Create the workload of k at p (seed 7) with A different in every channel (the fill's A = -(n + 1) is the same in
 * all: A_log (or A) of channel d scaled by 1 + d / 8), and run k once. */
static void run_with_channel_A(const struct mb_kernel *k, const struct mb_point *p, struct mb_workload *w) {
    char err[256];
    cr_assert_eq(mb_workload_create(w, k->family, p, 7, err, sizeof err), 0, "%s", err);
    struct mb_tensor *A = &w->inputs[2];
    cr_assert(!strcmp(A->name, "A") || !strcmp(A->name, "A_log"), "%s", A->name);
    for (int64_t i = 0; i < mb_tensor_numel(A); i++) A->data[i] *= 1.0f + (float)(i / p->rank) / 8.0f;
    cr_assert_eq(mb_run_once(k, w, err, sizeof err), 0, "%s", err);
}

/* scan_seq at the shape (batch, D, L, N) with params, once at 1 thread and once at 3, A different in every channel
 * (run_with_channel_A): both against the double oracle (rel_l2 < 1e-5); returns the largest difference between the
 * two outputs (compare_outputs). */
static double scan_seq_at_1_and_3_threads(const struct shape *s, const char *params) {
    const struct mb_kernel *k = mb_kernel_find("ssm.mamba.scan_seq");
    struct mb_workload w[2];
    for (int i = 0; i < 2; i++) {
        struct mb_point p;
        ssm_test_point(k, s, 0, i ? 3 : 1, params, &p);
        run_with_channel_A(k, &p, &w[i]);
        struct mb_errors e;
        check(k, &w[i], &e);
        cr_assert_eq(e.checked, s->batch * s->d * s->n);
        cr_assert_lt(e.rel_l2, 1e-5, "%d thread(s), L %lld N %lld D %lld batch %lld %s: rel_l2 %g", i ? 3 : 1,
                     (long long)s->n, (long long)s->rank, (long long)s->d, (long long)s->batch, params ? params : "",
                     e.rel_l2);
    }
    const double rel = compare_outputs(&w[0], &w[1], s->batch * s->d, s->n, 1, 0);
    mb_workload_free(&w[0]);
    mb_workload_free(&w[1]);
    return rel;
}

static const char *const mamba_params[] = {NULL, "delta_softplus=0", "gate=0", "names=ref"};

/* scan_seq scans MB_MAMBA_GROUP channels interleaved (mb_mamba_scan_group) when there are at least 2 groups per
 * thread: D = 9 at 1 thread is two groups and a single channel per batch row; at 3 threads the same workload is
 * scanned channel by channel. Same operations in the same order per channel: equal bit for bit, and to the oracle,
 * at odd L (partial blocks), N = 1, 3, 16 (the grouped path) and 17 (one by one), batch 1 and 2, every parameter. */
Test(rnn_mamba, grouped_channels_equal_one_by_one_and_the_oracle) {
    const int64_t lengths[] = {1, 7, 333}, ranks[] = {1, 3, 16, 17};
    for (size_t li = 0; li < 3; li++)
        for (size_t ri = 0; ri < 4; ri++)
            for (int64_t batch = 1; batch <= 2; batch++)
                for (size_t pi = 0; pi < 4; pi++) {
                    const struct shape s = {batch, 9, lengths[li], ranks[ri], 0};
                    const double rel = scan_seq_at_1_and_3_threads(&s, mamba_params[pi]);
                    cr_assert_eq(rel, 0.0, "L %lld N %lld batch %lld %s: grouped differs by %g", (long long)s.n,
                                 (long long)s.rank, (long long)batch, mamba_params[pi] ? mamba_params[pi] : "", rel);
                }
}

/* With N <= 16 and at least 2 blocks of MB_MAMBA_LANES channels per thread, scan_seq scans 16 channels in the vector
 * lanes (mb_mamba_scan_lanes, AVX-512; the rest of the batch row in groups): D = 37 at 1 thread is 2 blocks, a group
 * of 4 and a single channel per batch row; at 3 threads the same workload is scanned in groups only. The lanes use a
 * degree-4 exp (harness/core/vexp.h), so the two agree to rounding, not bit for bit; both match the double oracle,
 * at L = 1, 7 and 333 (partial 16-step tiles, two 256-step spans), N = 1, 3, 16, batch 1 and 2, every parameter,
 * with A different in every channel (each lane its own decays). */
Test(rnn_mamba, lanes_equal_groups_and_the_oracle) {
    const int64_t lengths[] = {1, 7, 333}, ranks[] = {1, 3, 16};
    for (size_t li = 0; li < 3; li++)
        for (size_t ri = 0; ri < 3; ri++)
            for (int64_t batch = 1; batch <= 2; batch++)
                for (size_t pi = 0; pi < 4; pi++) {
                    const struct shape s = {batch, 37, lengths[li], ranks[ri], 0};
                    const double rel = scan_seq_at_1_and_3_threads(&s, mamba_params[pi]);
                    cr_assert_lt(rel, 1e-5, "L %lld N %lld batch %lld %s: lanes differ from groups by %g",
                                 (long long)s.n, (long long)s.rank, (long long)batch,
                                 mamba_params[pi] ? mamba_params[pi] : "", rel);
                    if (s.n > 1 && mb_isa_current() == MB_ISA_AVX512) /* at L = 1 no decay reaches the output; the
                                                                          lanes are the AVX-512 copy's */
                        cr_assert_gt(rel, 0.0, "L %lld N %lld: identical outputs: the lanes path did not run?",
                                     (long long)s.n, (long long)s.rank);
                }
}

/* softplus (the AVX-512 copies compute it 16 steps at a time: mb_mamba_softplus_ps) over its whole range: delta +
 * delta_bias from -120 (dt = 0 in float) through torch's threshold 20 (19.999, 20, 20.001) to 40, at an odd L
 * (partial blocks), against the double oracle, for every Mamba kernel. */
Test(rnn_mamba, softplus_over_its_whole_range_matches_the_oracle) {
    const char *kernels[] = {"ssm.mamba.scan_seq", "ssm.mamba.scan_parallel", "ssm.mamba.decode"};
    const float exact[] = {19.999f, 20.0f, 20.001f, 0.0f, -0.0f, -120.0f, 1e-30f, -1e-30f};
    const int64_t Ds[] = {3, 6, 33, 64}; /* gathered B, C; transposed; decode's 16-channel vectors; scan_seq's lanes */
    for (size_t ki = 0; ki < 3; ki++)
        for (size_t di = 0; di < 4; di++) {
            const int64_t D = Ds[di];
            const struct mb_kernel *k = mb_kernel_find(kernels[ki]);
            const struct shape s = {1, D, 333, 16, 0};
            struct mb_point p;
            ssm_test_point(k, &s, 0, 2, NULL, &p);
            struct mb_workload w;
            char err[256];
            cr_assert_eq(mb_workload_create(&w, k->family, &p, 7, err, sizeof err), 0, "%s", err);
            float *delta = w.inputs[1].data, *bias = w.inputs[6].data;
            cr_assert_str_eq(w.inputs[1].name, "delta");
            cr_assert_str_eq(w.inputs[6].name, "delta_bias");
            for (int64_t d = 0; d < D; d++) bias[d] = 0.0f;
            const int64_t count = D * s.n;
            for (int64_t i = 0; i < count; i++)
                delta[i] = i < 8 ? exact[i] : -120.0f + 160.0f * (float)i / (float)(count - 1);
            cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s", err);
            struct mb_errors e;
            check(k, &w, &e);
            cr_assert_lt(e.rel_l2, 1e-5, "%s D %lld: rel_l2 %g", k->name, (long long)D, e.rel_l2);
            mb_workload_free(&w);
        }
}

Test(rnn_lru, scan_parallel_equals_scan_seq_for_chunks_not_dividing_L) {
    const int64_t blocks[] = {1, 7, 64, 1000}, lengths[] = {1, 7, 129, 1000};
    for (size_t bi = 0; bi < 4; bi++)
        for (size_t li = 0; li < 4; li++) {
            const struct shape s = {2, 5, lengths[li], 20, 0};
            struct mb_workload wp, ws;
            same_workload_twice("ssm.lru.scan_parallel", "ssm.lru.scan_seq", &s, blocks[bi], 2, NULL, &wp, &ws);
            const double rel = compare_outputs(&wp, &ws, 2, s.n, 5, 0);
            cr_assert_lt(rel, 1e-5, "block %lld L %lld: %g", (long long)blocks[bi], (long long)s.n, rel);
            mb_workload_free(&wp);
            mb_workload_free(&ws);
        }
}

Test(rnn_lru, ring_init_has_the_papers_moduli_and_phases) {
    const struct mb_kernel *k = mb_kernel_find("ssm.lru.scan_seq");
    const struct shape s = {1, 4, 3, 256, 0};
    struct mb_point p;
    ssm_test_point(k, &s, 0, 1, NULL, &p);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 3, err, sizeof err), 0);
    const float *nu = mb_workload_tensor(&w, "nu_log")->data, *th = mb_workload_tensor(&w, "theta_log")->data;
    for (int n = 0; n < 256; n++) {
        const double mod = exp(-exp((double)nu[n])), phase = exp((double)th[n]);
        cr_assert(mod >= 0.9 - 1e-6 && mod <= 0.999 + 1e-6, "|lambda| = %g", mod);
        cr_assert(phase >= 0 && phase <= 2 * M_PI / 10 + 1e-6, "phase %g", phase);
    }
    mb_workload_free(&w);
}

Test(rnn_retnet, parallel_recurrent_and_chunkwise_agree_and_decode_is_the_last_row) {
    const char *forms[] = {"ssm.retnet.recurrent", "ssm.retnet.chunkwise", "ssm.retnet.decode"};
    const int64_t lengths[] = {1, 7, 129, 1000}, blocks[] = {1, 7, 64, 1000};
    for (size_t li = 0; li < 4; li++)
        for (size_t f = 0; f < 3; f++) {
            const struct shape s = {2, 24, lengths[li], 0, 3};
            struct mb_workload wf, wp;
            same_workload_twice(forms[f], "ssm.retnet.parallel", &s, f == 1 ? blocks[li] : 0, 2, NULL, &wf, &wp);
            const double rel = compare_outputs(&wf, &wp, 6, s.n, 24, f == 2);
            cr_assert_lt(rel, 2e-5, "%s n %lld: %g", forms[f], (long long)s.n, rel);
            mb_workload_free(&wf);
            mb_workload_free(&wp);
        }
}

Test(rnn_retnet, decay_per_head_is_one_minus_two_to_minus_five_minus_h) {
    /* one token attending to one earlier token: out_1 = q_1.k_1 v_1 + g q_1.k_0 v_0; with v_1 = 0 the ratio gives g */
    const struct mb_kernel *k = mb_kernel_find("ssm.retnet.recurrent");
    const struct shape s = {1, 1, 2, 0, 4};
    struct mb_point p;
    ssm_test_point(k, &s, 0, 1, NULL, &p);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 3, err, sizeof err), 0);
    float *q = w.inputs[0].data, *kk = w.inputs[1].data, *v = w.inputs[2].data;
    for (int h = 0; h < 4; h++) {
        q[h * 2 + 1] = 1.0f;
        kk[h * 2 + 0] = 1.0f;
        kk[h * 2 + 1] = 3.0f;
        v[h * 2 + 0] = 1.0f;
        v[h * 2 + 1] = 0.0f;
    }
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0);
    for (int h = 0; h < 4; h++)
        cr_assert_float_eq(w.outputs[0].data[h * 2 + 1], 1.0 - ldexp(1.0, -5 - h), 1e-6, "head %d", h);
    mb_workload_free(&w);
}

Test(rnn_rwkv, stable_equals_direct_on_moderate_inputs) {
    const int64_t lengths[] = {1, 7, 129, 1000};
    for (size_t li = 0; li < 4; li++) {
        const struct shape s = {2, 19, lengths[li], 0, 0};
        struct mb_workload wa, wb;
        same_workload_twice("ssm.rwkv.wkv_stable", "ssm.rwkv.wkv_direct", &s, 0, 2, NULL, &wa, &wb);
        const double rel = compare_outputs(&wa, &wb, 2, s.n, 19, 0);
        cr_assert_lt(rel, 2e-5, "T %lld: %g", (long long)s.n, rel);
        mb_workload_free(&wa);
        mb_workload_free(&wb);
    }
}

Test(rnn_rwkv, stable_stays_finite_where_the_direct_float_form_overflows) {
    const struct shape s = {1, 16, 64, 0, 0};
    const char *names[] = {"ssm.rwkv.wkv_stable", "ssm.rwkv.wkv_direct"};
    int finite[2];
    for (int f = 0; f < 2; f++) {
        const struct mb_kernel *k = mb_kernel_find(names[f]);
        struct mb_point p;
        ssm_test_point(k, &s, 0, 1, NULL, &p);
        struct mb_workload w;
        char err[256];
        cr_assert_eq(mb_workload_create(&w, k->family, &p, 5, err, sizeof err), 0);
        float *kk = mb_workload_tensor(&w, "k")->data;
        for (int64_t i = 0; i < mb_tensor_numel(&w.inputs[2]); i++) kk[i] += 100.0f; /* e^{100} > FLT_MAX */
        cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0);
        finite[f] = 1;
        for (int64_t i = 0; i < mb_tensor_numel(&w.outputs[0]); i++) finite[f] &= isfinite(w.outputs[0].data[i]) != 0;
        if (f == 0) { /* and still right: the oracle works in log space */
            struct mb_errors e;
            check(k, &w, &e);
            cr_assert_lt(e.rel_l2, 1e-4);
        }
        mb_workload_free(&w);
    }
    cr_assert(finite[0], "wkv_stable produced inf/nan at k ~ 100");
    cr_assert(!finite[1], "the direct float form was expected to overflow at k ~ 100");
}

Test(rnn_rwkv, direct_refuses_long_sequences) {
    const struct mb_kernel *k = mb_kernel_find("ssm.rwkv.wkv_direct");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    mb_point_complete(k, &p, 0);
    p.n = 8192;
    char why[160] = "";
    cr_assert_eq(mb_kernel_supports(k, &p, why, sizeof why), 1);
    cr_assert(strstr(why, "wkv_stable"));
}
