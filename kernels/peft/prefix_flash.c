/* peft.prefix.flash: Prefix-Tuning's attention, fused and tiled with an online softmax (FlashAttention-style).
 *
 * For each head (b, h) and block of 64 query rows Q_b, the keys are visited as two segments of one online softmax:
 *   1. the L_p prefix slots P_k, P_v of head h: every row sees every slot (no mask)
 *   2. the real keys K, V of head (b, h): all n, or (causal) row i sees j <= i (the block stops at its last row)
 *   S = Q_b K_c^T / sqrt(d),  m' = max(m, rowmax S),  l = e^{m - m'} l + rowsum e^{S - m'},
 *   O = e^{m - m'} O + e^{S - m'} V_c,  out = O / l
 * i.e. softmax attention over K' = [P_k; K], V' = [P_v; V] with the causal mask on the real keys only. The engine
 * is the attention family's (mb_attn_flash_rows, kernels/attention/family_flash.c, the one attention.softmax.flash
 * runs). L_p = 0 is attention.softmax.flash (default key block).
 * Parallel over (batch x heads x query blocks), schedule(dynamic), head-major (mb_attn_flash_item: one head's K, V
 * stay in cache), within a head the costliest (causal: last) blocks first.
 *
 * Cost per head: 4 d FLOPs per computed score: 4 n (L_p + n) d non-causal, 4 n L_p d + ~2 n^2 d causal, plus one
 * exp per score; memory: per thread one 64 x 256 score tile, Q_b^T and the row statistics, O(threads 64 (256 + d)).
 * Source: Li & Liang 2021, "Prefix-Tuning", Sec. 4.2; Dao et al. 2022, "FlashAttention", Algorithm 1.
 */
#include "peft/family_prefix.h"

#include "attention/family_flash.h"

#include <omp.h>
#include <stdlib.h>

#define BR MB_FLASH_BR
#define BC 256 /* keys per block */

struct prefix_flash {
    struct mb_prefix a;
    int slots;     /* per-thread workspaces */
    size_t stride; /* floats per workspace */
    float *ws;
};

static int slot_count(const struct mb_point *p) {
    const int threads = omp_get_max_threads();
    return p->threads > threads ? (int)p->threads : threads;
}

static int setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct prefix_flash *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_prefix_bind(&s->a, w);
    s->slots = slot_count(&w->point);
    s->stride = mb_attn_flash_slot_floats(BC, s->a.d);
    s->ws = mb_alloc((size_t)s->slots * s->stride * sizeof(float));
    if (!s->ws) {
        const int slots = s->slots;
        free(s);
        return mb_errorf(err, errlen, "cannot allocate %d score tiles of %d x %d", slots, BR, BC);
    }
    *state = s;
    return 0;
}

static void run(void *state) {
    struct prefix_flash *s = state;
    const struct mb_prefix *a = &s->a;
    const int64_t n = a->n, d = a->d, heads = a->batch * a->heads, blocks = (n + BR - 1) / BR;
#pragma omp parallel num_threads(s->slots)
    {
        float *ws = s->ws + (size_t)omp_get_thread_num() * s->stride;
        /* head by head (mb_attn_flash_item): one head's K, V and prefix stay in cache */
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < heads * blocks; it++) {
            int64_t head, blk;
            mb_attn_flash_item(it, blocks, a->causal, &head, &blk);
            const int64_t off = head * n * d, poff = (head % a->heads) * a->lp * d;
            const int64_t i0 = blk * BR, rows = n - i0 < BR ? n - i0 : BR;
            const struct mb_flash_segment keys[2] = {
                {.k = a->pk + poff, .v = a->pv + poff, .len = a->lp, .last_row0 = MB_FLASH_NO_MASK},
                {.k = a->k + off, .v = a->v + off, .len = a->causal ? i0 + rows : n,
                 .last_row0 = a->causal ? i0 : MB_FLASH_NO_MASK},
            };
            mb_attn_flash_rows(a->q + off + i0 * d, rows, d, BC, keys, 2, ws, a->out + off + i0 * d);
        }
    }
}

static void teardown(void *state) {
    struct prefix_flash *s = state;
    mb_free(s->ws);
    free(s);
}

/* two GEMMs, 2 d FLOPs per score each: n L_p prefix scores plus the real scores attention.softmax.flash computes */
static double flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const double scores = (double)p->n * (double)p->rank + mb_attn_flash_scores(p->n, (int)p->causal);
    return (double)p->batch * (double)p->heads * 4.0 * (double)p->d * scores;
}

/* compulsory: q, k, v read and out written once, the prefix read once */
static double bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return 4.0 * (4.0 * (double)p->batch * (double)p->heads * (double)p->n * (double)p->d +
                  2.0 * (double)p->heads * (double)p->rank * (double)p->d);
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const double threads = p->threads > 0 ? (double)p->threads : 1.0;
    return threads * 4.0 * (double)mb_attn_flash_slot_floats(BC, p->d);
}

const struct mb_kernel mb_kernel_peft_prefix_flash = {
    .name = "peft.prefix.flash",
    .aliases = "peft.prefix",
    .family = &mb_family_peft_prefix,
    .mechanism = "prefix",
    .summary = "attention over L_p prefix slots then the real keys (causal mask on the real keys only), fused online "
               "softmax (the attention family's flash engine)",
    .complexity = "O(n (n + L_p) d) time, O(threads * 64 * (256 + d)) memory",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(heads) | MB_AXIS_BIT(batch) | MB_AXIS_BIT(causal) |
            MB_AXIS_BIT(rank),
    .rank_meaning = "L_p, prefix slots (key/value rows prepended to every head)",
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
