/* attention.softmax.flash: exact softmax attention, fused and tiled with an online softmax; the n x n score
 * matrix is never materialised.
 *
 * For each head and each block of BR = 64 query rows Q_b (BR x d), over key blocks K_c, V_c (Bc x d), in order:
 *   S   = Q_b K_c^T / sqrt(d)                 (BR x Bc tile; causal: S_ij = -inf for j > i)
 *   m'  = max(m, rowmax S)                    running row max
 *   P   = e^{S - m'}                          (AVX-512: 2^x polynomial, harness/core/vexp.h; else expf)
 *   l   = e^{m - m'} l + rowsum P             running row sum
 *   O   = e^{m - m'} O + P V_c                (O accumulates in `out`)
 * and finally O = O / l. Causal: key blocks entirely above the diagonal are skipped and the last (diagonal) block
 * of a query block is cut at its last query row; only there are scores masked. Every row keeps key 0, so m is
 * finite after the first block and no row is fully masked.
 * The engine (query block x key blocks) is the family's mb_attn_flash_rows (family_flash.c, shared with peft.prefix):
 * AVX-512 register-tiled broadcast-FMA micro-kernels on a transposed score tile, the softmax applied to each score
 * tile while it is in L1 against a reference max that moves (and rescales O) only when a score exceeds it by 2^8;
 * elsewhere OpenBLAS sgemm tiles.
 * Parallel over (batch x heads x query blocks), schedule(dynamic), head-major (the query blocks of one head run
 * together and share its K, V in cache: 1.3-1.4x over block-major at n = 4096), within a head the costliest (causal:
 * last) blocks first.
 *
 * Shapes: Q, K, V, O (batch, heads, n, d). block axis = Bc (0 = 256). Cost per head, the standard count
 * (FlashAttention's benchmarks): 4 n^2 d FLOPs non-causal, 2 n^2 d causal (the diagonal blocks' masked half,
 * n BR / 2 more scores, is computed but not counted), plus one exp per score; memory: per thread
 * one BR x Bc score tile, Q_b^T (BR x d) and the row statistics, O(threads BR (Bc + d)), independent of n.
 * Source: Dao et al. 2022, "FlashAttention", Algorithm 1; online softmax: Milakov & Gimelshein 2018.
 */
#include "attention/family.h"
#include "attention/family_flash.h"

#include <omp.h>
#include <stdlib.h>

#define BR MB_FLASH_BR /* query rows per block */
#define BC_DEFAULT 256 /* key rows per block when block = 0 */

struct softmax_flash {
    struct mb_attn a;
    int64_t bc;    /* key block size */
    int slots;     /* per-thread workspaces */
    size_t stride; /* floats per workspace */
    float *ws;     /* slots x [ S (BR x bc) | m, l, alpha (BR each) | Q_b^T (d x BR) ] */
};

static int64_t key_block(const struct mb_point *p) {
    int64_t bc = p->block > 0 ? p->block : BC_DEFAULT;
    return bc < p->n ? bc : p->n;
}

static int setup(const struct mb_kernel *kernel MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct softmax_flash *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_attn_bind(&s->a, w);
    s->bc = key_block(&w->point);
    s->slots = omp_get_max_threads();
    if (w->point.threads > s->slots) s->slots = (int)w->point.threads;
    s->stride = mb_attn_flash_slot_floats(s->bc, s->a.d); /* 64-byte aligned slots */
    s->ws = mb_alloc((size_t)s->slots * s->stride * sizeof(float));
    if (!s->ws) {
        const int slots = s->slots;
        const long long bc = (long long)s->bc;
        free(s);
        return mb_errorf(err, errlen, "cannot allocate %d score tiles of %d x %lld", slots, BR, bc);
    }
    *state = s;
    return 0;
}

/* One block of query rows [i0, i0 + rows) of one head: the keys [0, end) of the head as one segment (causal: row r
   sees keys j <= i0 + r, so end = i0 + rows). */
static void query_block(const struct softmax_flash *s, const float *q, const float *k, const float *v, float *o,
                        int64_t i0, int64_t rows, float *ws) {
    const struct mb_attn *a = &s->a;
    const struct mb_flash_segment keys = {.k = k, .v = v, .len = a->causal ? i0 + rows : a->n,
                                          .last_row0 = a->causal ? i0 : MB_FLASH_NO_MASK};
    mb_attn_flash_rows(q + i0 * a->d, rows, a->d, s->bc, &keys, 1, ws, o);
}

static void run(void *state) {
    struct softmax_flash *s = state;
    const struct mb_attn *a = &s->a;
    const int64_t n = a->n, blocks = (n + BR - 1) / BR, items = mb_attn_head_count(a) * blocks;
#pragma omp parallel num_threads(s->slots)
    {
        float *ws = s->ws + (size_t)omp_get_thread_num() * s->stride;
        /* head by head (mb_attn_flash_item), so that consecutive query blocks re-read the same K, V from cache */
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < items; it++) {
            int64_t head, blk;
            mb_attn_flash_item(it, blocks, a->causal, &head, &blk);
            const int64_t off = head * mb_attn_head_stride(a), i0 = blk * BR, rows = n - i0 < BR ? n - i0 : BR;
            query_block(s, a->q + off, a->k + off, a->v + off, a->out + off + i0 * a->d, i0, rows, ws);
        }
    }
}

static void teardown(void *state) {
    struct softmax_flash *s = state;
    mb_free(s->ws);
    free(s);
}

/* two GEMMs, 2 d FLOPs per score each, over n^2 scores (causal: n^2 / 2, the standard count) */
static double flops(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double scores = (double)p->n * (double)p->n * (p->causal ? 0.5 : 1.0);
    return (double)p->batch * p->heads * 4.0 * (double)p->d * scores;
}

static double workspace(const struct mb_kernel *kernel MB_UNUSED, const struct mb_point *p) {
    const double threads = p->threads > 0 ? (double)p->threads : 1.0;
    return threads * 4.0 * (double)mb_attn_flash_slot_floats(key_block(p), p->d);
}

const struct mb_kernel mb_kernel_attention_softmax_flash = {
    .name = "attention.softmax.flash",
    .family = &mb_family_attention,
    .mechanism = "softmax",
    .summary = "exact softmax attention, fused tiles with an online softmax (FlashAttention-style, AVX-512 micro-kernels)",
    .complexity = "O(n^2 d) time, O(threads * 64 * (block + d)) memory",
    .axes = MB_ATTN_AXES | MB_AXIS_BIT(block),
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = mb_attn_io_bytes, /* compulsory: q, k, v read once, out written once (K, V re-reads stay in cache) */
    .workspace_bytes = workspace,
};
