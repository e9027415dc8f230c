/* The fused softmax-attention engine of attention.softmax.flash, shared with kernels that attend over a key
 * sequence made of several pieces (peft.prefix: trained prefix slots, then the real keys).
 *
 * mb_attn_flash_rows: one block of rows <= MB_FLASH_BR query rows q (rows x d) against the keys of `n_segments`
 * segments, visited in order; segment g holds keys K_g, V_g (len x d) and row r of the block sees key j of it when
 * j <= last_row0 + r (MB_FLASH_NO_MASK: every key). Online softmax over the key blocks of Bc = bc keys:
 *   S = q K_c^T / sqrt(d),  m' = max(m, rowmax S),  P = e^{S - m'},  l = e^{m - m'} l + rowsum P,
 *   O = e^{m - m'} O + P V_c,  and at the end O = O / l (written to o, rows x d).
 * REQUIRES: every row sees the first key of the first non-empty segment (its running max is finite after the first
 * block). ws: mb_attn_flash_slot_floats(bc, d) floats, 64-byte aligned, one per thread.
 * Source: Dao et al. 2022, "FlashAttention", Algorithm 1; online softmax: Milakov & Gimelshein 2018. */
#ifndef MB_ATTENTION_FAMILY_FLASH_H
#define MB_ATTENTION_FAMILY_FLASH_H

#include <stddef.h>
#include <stdint.h>

#define MB_FLASH_BR 64                 /* query rows per block */
#define MB_FLASH_NO_MASK INT64_MAX     /* last_row0 of a segment every row sees whole */

struct mb_flash_segment {
    const float *k, *v; /* (len, d) */
    int64_t len;
    int64_t last_row0;  /* row r sees keys j <= last_row0 + r of this segment */
};

/* Floats of one thread's workspace, a multiple of 16 (64 bytes). */
size_t mb_attn_flash_slot_floats(int64_t bc, int64_t d);
void mb_attn_flash_rows(const float *q, int64_t rows, int64_t d, int64_t bc, const struct mb_flash_segment *segments,
                        int n_segments, float *ws, float *o);
/* Scores the engine computes per head for n queries over n keys split into query blocks of MB_FLASH_BR: n^2, or
   causal: query block [i0, i0 + rows) computes keys [0, i0 + rows) (about n^2 / 2). */
double mb_attn_flash_scores(int64_t n, int causal);

/* Work item it of (heads x query blocks), handed out head-major: the query blocks of one head run together and share
   its K, V in cache (1.3-1.4x over block-major at n = 4096, where one head's K, V exceed L2); causal: within a head
   the last, most expensive blocks first. */
static inline void mb_attn_flash_item(int64_t it, int64_t blocks, int causal, int64_t *head, int64_t *blk) {
    *head = it / blocks;
    *blk = causal ? blocks - 1 - it % blocks : it % blocks;
}

#endif
