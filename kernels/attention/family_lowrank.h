/* Shared helpers of the "lowrank" group of attention kernels (linformer, performer, reformer.lsh): seeded random
 * draws that a kernel's setup and its oracle regenerate identically, and a small thread-safe cache the oracles use
 * so that a per-row oracle does not redraw (or re-derive) per-head data for every row it checks.
 *
 * Every random draw is seeded from the workload seed, a per-use tag and the point (see mb_lowrank_seed); draws are
 * shared across heads and batch (Linformer's "headwise sharing"; Performer's one projection per layer).
 */
#ifndef MB_ATTENTION_FAMILY_LOWRANK_H
#define MB_ATTENTION_FAMILY_LOWRANK_H

#include "attention/family.h"

enum mb_lowrank_tag {
    MB_LOWRANK_TAG_LINFORMER_E = 1,
    MB_LOWRANK_TAG_LINFORMER_F = 2,
    MB_LOWRANK_TAG_PERFORMER_W = 3,
    MB_LOWRANK_TAG_PERFORMER_NORMS = 4,
    MB_LOWRANK_TAG_REFORMER_R = 5,
};

/* Seed of one random draw: a mix of the workload seed, the tag and up to three point values. */
uint64_t mb_lowrank_seed(uint64_t workload_seed, enum mb_lowrank_tag tag, int64_t a, int64_t b, int64_t c);
/* out[0..count) ~ N(0, sd^2), deterministic in seed (GSL mt19937, ziggurat). */
void mb_lowrank_gaussian(uint64_t seed, double *out, int64_t count, double sd);

/* Thread-safe cache of derived arrays for the oracles (OpenMP critical section). key: 8 words identifying the
 * content completely; fill(data, ctx) computes `bytes` bytes of it on a miss. Returns the data (NULL when out of
 * memory) and a handle to give back with mb_lowrank_cache_release when done reading. */
const void *mb_lowrank_cache_get(const uint64_t key[8], size_t bytes, void (*fill)(void *data, const void *ctx),
                                 const void *ctx, void **handle);
void mb_lowrank_cache_release(void *handle);
/* Free every entry not in use: the attention check calls it when done, so no cached array outlives the check of its
   point (a sweep's earlier points would otherwise hold memory the guard does not count). */
void mb_lowrank_cache_clear(void);
/* FNV-1a over the bits of count floats: part of a cache key when the cached data depends on input values. */
uint64_t mb_lowrank_checksum(const float *x, int64_t count);

/* ---- Performer (FAVOR+) random features: W (m, d), row-major, double.
 * orthogonal: blocks of d rows, each block the Q factor of a d x d Gaussian matrix (LAPACKE dgeqrf + dorgqr), the
 * last block truncated; then every row rescaled to the norm of an independent N(0, I_d) draw (chi_d), as in the
 * reference implementation (gaussian_orthogonal_random_matrix, scaling = 0). iid: rows ~ N(0, I_d).
 * Returns 0, or -1 when LAPACK fails. */
int mb_lowrank_performer_features(uint64_t workload_seed, int64_t d, int64_t m, int orthogonal, double *w);

/* ---- Reformer LSH (angular): rotations R (d, b/2) of round `round`, N(0, 1), seeded from the workload seed, d, b
 * and the round, stored row-major as r (d, b/2); shared by every head. h(x) = argmax_f [x R ; -x R]_f in 0..b-1
 * (bucket f for +(xR)_f, b/2 + f for -(xR)_f; ties: the smaller f, + before -). The bucket
 * of a vector is computed by this one function, in float, for the kernel and the oracle alike (bit-identical). */
void mb_lowrank_lsh_rotations(uint64_t workload_seed, int64_t d, int64_t b, int64_t round, float *r);
int32_t mb_lowrank_lsh_bucket(const float *x, const float *r, int64_t d, int64_t b);

#endif
