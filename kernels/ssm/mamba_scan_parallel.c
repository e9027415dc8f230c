/* ssm.mamba.scan_parallel: Mamba's selective scan, parallel over L by uneven chunks and a carry correction.
 *
 * h_t = a_t (.) h_{t-1} + x_t, a_t = exp(dt_t A), x_t = dt_t u_t B_t. The decays telescope:
 * prod_{s in (t0, t]} a_s = exp(A S_t), S_t the in-chunk prefix sum of dt. So a chunk [t0, t1) scanned locally from
 * h = 0 (state h'_t, output y'_t) is made exact, once its incoming carry H is known, by
 *     h_t = h'_t + P_t (.) H,   y_t = y'_t + silu(z_t) C_t . (P_t (.) H),   P_t = exp(A S_t)
 * (no gate: drop silu(z_t)). Per window of L (all of L unless the stored products exceed 64 MB):
 *   1. in parallel over (channel, chunk): chunk 0 is scanned for real from the carry (its carry is known); every
 *      other chunk runs the local pass (mb_mamba_scan_local): the scan itself, writing y', plus the running product
 *      P_t (one multiply per state, no exp) and q_t = C_t (.) P_t stored (N floats per step);
 *   2. per channel: carries H_c = P_c (.) H_{c-1} + E_c (E_c, P_c: the chunk's local end state and total decay);
 *   3. every thread corrects an equal share of the steps of all chunks > 0 (mb_mamba_correct: y_t += g_t q_t . H,
 *      one FMA per state, vectorised over 16 steps). Lanes of P under 2^-100 are flushed to 0 (the carry's share is
 *      far below rounding; no subnormal arithmetic); once every lane is 0 the chunk's correction ends there.
 * Uneven chunks (block = 0): the local pass costs (1 + r) x the plain scan (r = the product and the store of q),
 * so a channel given K threads is cut so that all finish phase 1 together: K - 1 chunks of
 * len / (K + r) steps and a first chunk of (1 + r) times that; phase 3 is split evenly over the whole team. With
 * 2 threads and one channel: time ~ (1 + r) / (2 + r) + (1 - a) r' / 2 of the sequential scan (r' the correction).
 * Channels first: with batch * D >= threads every channel is one chunk (the sequential scan, parallel over
 * channels); otherwise each channel gets threads / (batch D) threads (the first threads % (batch D) one more), and
 * a chunk is never shorter than `minchunk` steps (param, default 1024). block > 0 forces chunks of `block` steps.
 * Params (for tests and tuning): minchunk=, window= (steps per window), r= (the local pass's extra cost).
 * Work: ~ (1 + r + r') x the sequential scan on the steps of chunks > 0; workspace: q (batch D window N floats)
 * when L is split, the transposed B, C when D > 4 (as scan_seq), 3 N floats per (channel, chunk).
 * Measured (batch 1, D = 1, N = 16, L = 65536, 2 threads, AMD EPYC 2 cores, scripts/mamba_scan_bench.sh):
 * 1.7-2.0x scan_seq (which runs the one channel on one thread; medians of runs, the machine shared with other
 * jobs; mins ~1.85-1.9x) for the default seed, whose P dies ~800 steps into chunk 1; 1.4-1.7x (mins ~1.5-1.7x)
 * for seed 2, whose P stays live over the whole chunk (q written and read in full: r + r' ~ 0.2-0.25).
 * With D = 2 on 2 threads nothing is split (channels first): the same time as scan_seq.
 * Source: Gu & Dao 2023, "Mamba", sec. 3.3.2 (parallel scan); Blelloch 1990, "Prefix sums and their applications";
 * Martin & Cundy 2018, "Parallelizing linear recurrent neural nets over sequence length".
 */
#include "ssm/family_mamba.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define Q_MAX_BYTES (64.0 * 1024 * 1024)
/* r: extra cost of the local pass (running product, q store) relative to the plain scan. Measured at N = 16,
 * L = 65536, one thread, AMD EPYC (AVX-512): ~0.1-0.15 while P is live over the whole chunk (perf: the local pass
 * 1.11x the plain scan, the correction 0.12x), ~0 when P dies within a few hundred steps (the default seed's
 * D = 1 channel: after ~800 steps). 0.08 splits the difference: a few % from the ideal split either way. */
#define R_LOCAL 0.08
#define MIN_CHUNK 1024

struct plan {
    int64_t S, L, N, D;
    int threads;
    int64_t block;    /* explicit chunk length, 0 = balanced uneven split */
    int64_t window;   /* steps per window */
    int64_t minchunk;
    double r;
};

static const struct mb_param_decl scan_params[] = {
    {"minchunk", MB_PARAM_INT, MIN_CHUNK, 1, 1 << 30, NULL, "smallest chunk of the parallel split (steps)"},
    {"r", MB_PARAM_REAL, R_LOCAL, 0, 100, NULL, "extra cost of the local pass (running product, q store) relative to the plain scan"},
    {"window", MB_PARAM_INT, 0, 0, INT64_C(1) << 40, NULL, "steps per window of stored decays (0 = fit 64 MiB)"},
};

static void plan_init(struct plan *pl, const struct mb_point *p) {
    pl->S = p->batch * p->d;
    pl->L = p->n;
    pl->N = p->rank;
    pl->D = p->d;
    pl->threads = p->threads > 0 ? (int)p->threads : omp_get_max_threads();
    if (pl->threads < 1) pl->threads = 1;
    pl->block = p->block;
    pl->minchunk = mb_param_int(p, "minchunk");
    if (pl->minchunk < 1) pl->minchunk = 1;
    pl->r = mb_param_real(p, "r");
    if (pl->r < 0) pl->r = 0;
    int64_t w = mb_param_int(p, "window");
    if (w <= 0) w = (int64_t)(Q_MAX_BYTES / (4.0 * (double)pl->S * (double)pl->N));
    if (pl->block > 0) w = w / pl->block * pl->block; /* chunk boundaries stay at multiples of block */
    if (pl->block > 0 && w < pl->block) w = pl->block;
    if (w < 1) w = 1;
    pl->window = w < pl->L ? w : pl->L;
}

/* threads given to channel seq (default plan) */
static int team_of(const struct plan *pl, int64_t seq) {
    if (pl->S >= pl->threads) return 1;
    return (int)(pl->threads / pl->S + (seq < pl->threads % pl->S));
}

/* length of every chunk but the first of a window of len steps cut in K (balanced: first = (1 + r) x the others) */
static int64_t later_len(const struct plan *pl, int64_t len, int64_t K) {
    int64_t lc = (int64_t)((double)len / ((double)K + pl->r));
    if (lc >= 64) lc -= lc % 16;
    return lc < 1 ? 1 : lc;
}

/* chunks of channel seq in a window of len steps */
static int64_t chunks_in(const struct plan *pl, int64_t seq, int64_t len) {
    if (pl->block > 0) return (len + pl->block - 1) / pl->block;
    int64_t K = team_of(pl, seq);
    while (K > 1 && (double)len / ((double)K + pl->r) < (double)pl->minchunk) K--;
    return K;
}

/* chunk c of K of a window of len steps: [*a, *b) (offsets in the window) */
static void chunk_range(const struct plan *pl, int64_t len, int64_t K, int64_t c, int64_t *a, int64_t *b) {
    if (pl->block > 0) {
        *a = c * pl->block;
        *b = *a + pl->block < len ? *a + pl->block : len;
        return;
    }
    if (K == 1) {
        *a = 0;
        *b = len;
        return;
    }
    const int64_t lc = later_len(pl, len, K), first = len - (K - 1) * lc;
    *a = c == 0 ? 0 : first + (c - 1) * lc;
    *b = c == 0 ? first : *a + lc;
}

/* steps of chunks > 0 (tracked and corrected) in one pass over all windows */
static double tracked_steps(const struct plan *pl) {
    const int64_t W = pl->window, nwin = (pl->L + W - 1) / W, last = pl->L - (nwin - 1) * W;
    double total = 0;
    /* with block > 0 every channel is cut alike; else teams only shrink with seq, and teams of 1 never split */
    const int64_t distinct = pl->block > 0 ? 1 : pl->S;
    for (int64_t seq = 0; seq < distinct; seq++) {
        if (pl->block == 0 && team_of(pl, seq) == 1) break;
        int64_t a, b;
        chunk_range(pl, W, chunks_in(pl, seq, W), 0, &a, &b);
        total += (double)(nwin - 1) * (double)(W - b);
        chunk_range(pl, last, chunks_in(pl, seq, last), 0, &a, &b);
        total += (double)(last - b);
    }
    return pl->block > 0 ? total * (double)pl->S : total;
}

struct scan_parallel {
    struct mb_mamba m;
    struct plan pl;
    int64_t kmax;                  /* most chunks of a channel in a window */
    int64_t *koff_full, *koff_last; /* (S + 1): first work item of each channel, in a full / the last window */
    float *Bt, *Ct;                /* (batch, L, N) when D > 4 */
    float *q;                      /* (S, window, N): q_t = C_t (.) P_t of chunks > 0; NULL when L is never split */
    float *st;                     /* (S, kmax, 3 N): local end state E, total decay P, incoming carry H */
    int64_t *live;                 /* (S, kmax): end of the steps whose P is not flushed */
    float *carry;                  /* (S, N): state at the end of the previous window / of chunk 0 */
};

static void release(struct scan_parallel *s) {
    mb_free(s->Bt);
    mb_free(s->Ct);
    mb_free(s->q);
    mb_free(s->st);
    mb_free(s->live);
    mb_free(s->carry);
    mb_free(s->koff_full);
    mb_free(s->koff_last);
    free(s);
}

static int64_t last_window(const struct plan *pl) {
    const int64_t nwin = (pl->L + pl->window - 1) / pl->window;
    return pl->L - (nwin - 1) * pl->window;
}

static int any_split(const struct plan *pl) {
    if (pl->block > 0) return pl->block < pl->L;
    if (pl->S >= pl->threads) return 0;
    return chunks_in(pl, 0, pl->window) > 1 || chunks_in(pl, 0, last_window(pl)) > 1;
}

static double q_bytes(const struct plan *pl) {
    return any_split(pl) ? 4.0 * (double)pl->S * (double)pl->window * (double)pl->N : 0.0;
}

static int64_t kmax_of(const struct plan *pl) {
    if (pl->block > 0) return (pl->window + pl->block - 1) / pl->block;
    return chunks_in(pl, 0, pl->window); /* channel 0 has the largest team */
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct scan_parallel *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_mamba_bind(&s->m, w);
    struct plan *pl = &s->pl;
    plan_init(pl, &w->point);
    s->kmax = kmax_of(pl);
    const size_t S = (size_t)pl->S, N = (size_t)pl->N;
    int bad = 0;
    if (mb_mamba_use_transpose(&w->point)) {
        const size_t bytes = (size_t)(s->m.batch * s->m.L) * N * sizeof(float);
        bad |= !(s->Bt = mb_alloc(bytes)) || !(s->Ct = mb_alloc(bytes));
    }
    if (any_split(pl)) bad |= !(s->q = mb_alloc((size_t)q_bytes(pl)));
    bad |= !(s->st = mb_alloc(S * (size_t)s->kmax * 3 * N * sizeof(float)));
    bad |= !(s->live = mb_alloc(S * (size_t)s->kmax * sizeof(int64_t)));
    bad |= !(s->carry = mb_alloc(S * N * sizeof(float)));
    bad |= !(s->koff_full = mb_alloc((S + 1) * sizeof(int64_t))) || !(s->koff_last = mb_alloc((S + 1) * sizeof(int64_t)));
    if (bad) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for the scan's workspace (%.3g MB of stored decays)",
                         q_bytes(pl) / 1e6);
    }
    const int64_t lastw = last_window(pl);
    for (int64_t seq = 0; seq < pl->S; seq++) {
        s->koff_full[seq + 1] = s->koff_full[seq] + chunks_in(pl, seq, pl->window);
        s->koff_last[seq + 1] = s->koff_last[seq] + chunks_in(pl, seq, lastw);
    }
    *state = s;
    return 0;
}

/* channel of work item it: koff[seq] <= it < koff[seq + 1] */
static int64_t seq_of(const int64_t *koff, int64_t S, int64_t it) {
    int64_t lo = 0, hi = S - 1;
    while (lo < hi) {
        const int64_t mid = (lo + hi + 1) / 2;
        if (koff[mid] <= it) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* phase 1 of work item it of a window [w0, w0 + len) */
static void phase1(struct scan_parallel *s, const int64_t *koff, int64_t it, int64_t w0, int64_t len) {
    const struct plan *pl = &s->pl;
    const int64_t N = pl->N, W = pl->window, kmax = s->kmax;
    const int64_t seq = seq_of(koff, pl->S, it), c = it - koff[seq], K = koff[seq + 1] - koff[seq];
    int64_t a, b;
    chunk_range(pl, len, K, c, &a, &b);
    if (c == 0) {
        mb_mamba_scan_range(&s->m, s->Bt, s->Ct, seq / pl->D, seq % pl->D, w0 + a, w0 + b, s->carry + seq * N, 1, NULL,
                            MB_MAMBA_DA_NONE);
    } else {
        float *E = s->st + (seq * kmax + c) * 3 * N, *P = E + N;
        memset(E, 0, (size_t)N * sizeof(float));
        mb_mamba_scan_local(&s->m, s->Bt, s->Ct, seq / pl->D, seq % pl->D, w0 + a, w0 + b, E, P, s->q + (seq * W + a) * N,
                            &s->live[seq * kmax + c]);
    }
}

static void run(void *state) {
    struct scan_parallel *s = state;
    const struct mb_mamba *m = &s->m;
    const struct plan *pl = &s->pl;
    const int64_t S = pl->S, N = pl->N, W = pl->window, nwin = (pl->L + W - 1) / W, kmax = s->kmax;
#pragma omp parallel
    {
        if (s->Bt) mb_mamba_transpose_bc(m, s->Bt, s->Ct);
#pragma omp for schedule(static)
        for (int64_t seq = 0; seq < S; seq++) memset(s->carry + seq * N, 0, (size_t)N * sizeof(float));
        const int64_t team = omp_get_num_threads();
        for (int64_t w = 0; w < nwin; w++) {
            const int64_t w0 = w * W, len = w0 + W < pl->L ? W : pl->L - w0;
            const int64_t *koff = w == nwin - 1 ? s->koff_last : s->koff_full, items = koff[S];
            /* 1: chunk 0 for real from the carry, the others' local passes. At most one item per thread (the
               balanced plan): item it on thread it, so phase 3 knows who holds its q in cache; else dynamic. */
            if (items <= team) {
#pragma omp for schedule(static, 1)
                for (int64_t it = 0; it < items; it++) phase1(s, koff, it, w0, len);
            } else {
#pragma omp for schedule(dynamic, 1)
                for (int64_t it = 0; it < items; it++) phase1(s, koff, it, w0, len);
            }
            if (items == S) continue; /* no chunk > 0 in this window: the carries are already in place */
            /* 2: carries, sequential over a channel's chunks */
#pragma omp for schedule(static)
            for (int64_t seq = 0; seq < S; seq++) {
                float *h = s->carry + seq * N;
                for (int64_t c = 1; c < koff[seq + 1] - koff[seq]; c++) {
                    const float *E = s->st + (seq * kmax + c) * 3 * N, *P = E + N;
                    float *H = s->st + (seq * kmax + c) * 3 * N + 2 * N;
                    memcpy(H, h, (size_t)N * sizeof(float));
                    for (int64_t n = 0; n < N; n++) h[n] = P[n] * h[n] + E[n];
                }
            }
            /* 3: corrections, every chunk > 0 cut in `team` pieces of whole 16-step blocks; thread t takes one
               piece of every chunk (static, 1: piece % team == t), the chunk's own thread the last piece (the
               most recently written q, still in its cache) */
#pragma omp for schedule(static, 1)
            for (int64_t piece = 0; piece < items * team; piece++) {
                const int64_t it = piece / team, t = piece % team, owner = items <= team ? it : 0;
                const int64_t part = (t + 2 * team - 1 - owner % team) % team;
                const int64_t seq = seq_of(koff, S, it), c = it - koff[seq], K = koff[seq + 1] - koff[seq];
                if (c == 0) continue;
                int64_t a, b;
                chunk_range(pl, len, K, c, &a, &b);
                const int64_t live = s->live[seq * kmax + c] - w0, span = live - a;
                const int64_t pa = a + ((span * part / team) & ~(int64_t)15);
                const int64_t pb = part == team - 1 ? live : a + ((span * (part + 1) / team) & ~(int64_t)15);
                if (pb <= pa) continue;
                const float *H = s->st + (seq * kmax + c) * 3 * N + 2 * N;
                mb_mamba_correct(m, seq / pl->D, seq % pl->D, w0 + pa, w0 + pb, s->q + (seq * W + pa) * N, H);
            }
        }
    }
}

static void teardown(void *state) { release(state); }

/* the sequential scan (7N + 10 per step) + on the steps of chunks > 0: the running product and q (2N) and the
 * correction (2N + 2) */
static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    struct plan pl;
    plan_init(&pl, p);
    return (double)p->batch * p->d * p->n * (7.0 * p->rank + 10.0) + tracked_steps(&pl) * (4.0 * p->rank + 2.0);
}

/* as scan_seq + q written and read (4 N bytes each per tracked step) + y read and written again */
static double bytes(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    struct plan pl;
    plan_init(&pl, p);
    const double bc = mb_mamba_use_transpose(p) ? 6.0 : 2.0 * p->d;
    return 4.0 * (4.0 * p->batch * p->d * p->n + bc * p->batch * p->rank * p->n + 3.0 * p->d * p->rank) +
           tracked_steps(&pl) * (8.0 * p->rank + 8.0);
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    struct plan pl;
    plan_init(&pl, p);
    return q_bytes(&pl) + 4.0 * (mb_mamba_use_transpose(p) ? 2.0 * p->batch * p->n * p->rank : 0.0) +
           (double)pl.S * (double)kmax_of(&pl) * (12.0 * p->rank + 8.0) + 4.0 * pl.S * p->rank;
}

const struct mb_kernel mb_kernel_ssm_mamba_scan_parallel = {
    .name = "ssm.mamba.scan_parallel",
    MB_MAMBA_KERNEL(MB_AXIS_BIT(block)),
    .summary = "selective scan parallel over L: uneven chunks (first longer), local scans with the decay products "
               "exp(A S_t) kept, carries, then a no-exp correction y += C.(P H); OpenMP over batch x D first",
    .complexity = "O(batch D L N) time (1 + r + r' of the sequential work on the split steps), O(batch D L N) workspace",
    .rank_meaning = "N, SSM state size per channel (block = chunk length in steps, 0 = balanced uneven split)",
    MB_SSM_TABLE(params, scan_params),
    MB_SSM_OPS(setup, run, teardown, flops, bytes, workspace),
};
