/* Shared helpers of the "lowrank" attention kernels: seeded draws and the oracles' cache (family_lowrank.h). */
#include "attention/family_lowrank.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t mb_lowrank_seed(uint64_t workload_seed, enum mb_lowrank_tag tag, int64_t a, int64_t b, int64_t c) {
    uint64_t state = workload_seed ^ UINT64_C(0x6c6f7772616e6b), h = 0;
    uint64_t parts[4] = {(uint64_t)tag, (uint64_t)a, (uint64_t)b, (uint64_t)c};
    for (int i = 0; i < 4; i++) {
        state ^= parts[i] * UINT64_C(0x9e3779b97f4a7c15);
        h = mb_splitmix64(&state);
    }
    return h;
}

void mb_lowrank_gaussian(uint64_t seed, double *out, int64_t count, double sd) {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, (unsigned long)(seed ^ (seed >> 32)) | 1ul);
    for (int64_t i = 0; i < count; i++) out[i] = gsl_ran_gaussian_ziggurat(rng, sd);
    gsl_rng_free(rng);
}

uint64_t mb_lowrank_checksum(const float *x, int64_t count) {
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (int64_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        h = (h ^ bits) * UINT64_C(0x100000001b3);
    }
    return h;
}

/* ------------------------------------------------------------------------------------------ cache */
#define CACHE_SLOTS 16

struct cache_slot {
    uint64_t key[8];
    size_t bytes;
    void *data;
    int refs;
    uint64_t stamp;
};

static struct cache_slot cache[CACHE_SLOTS];
static uint64_t cache_clock;

/* handle: a slot pointer, or (when every slot is busy) a private buffer tagged by the low bit */
const void *mb_lowrank_cache_get(const uint64_t key[8], size_t bytes, void (*fill)(void *data, const void *ctx),
                                 const void *ctx, void **handle) {
    const void *result = NULL;
    *handle = NULL;
#pragma omp critical(mb_lowrank_cache)
    {
        struct cache_slot *hit = NULL, *victim = NULL;
        for (int s = 0; s < CACHE_SLOTS; s++) {
            struct cache_slot *c = &cache[s];
            if (c->data && c->bytes == bytes && !memcmp(c->key, key, sizeof c->key)) hit = c;
            else if (!c->refs && (!victim || !c->data || (victim->data && c->stamp < victim->stamp))) victim = c;
        }
        if (!hit && victim) {
            free(victim->data);
            victim->data = malloc(bytes ? bytes : 1);
            victim->bytes = bytes;
            memcpy(victim->key, key, sizeof victim->key);
            if (victim->data) {
                fill(victim->data, ctx);
                hit = victim;
            }
        }
        if (hit) {
            hit->refs++;
            hit->stamp = ++cache_clock;
            result = hit->data;
            *handle = hit;
        } else if (!victim) { /* every slot in use: a private copy */
            void *data = malloc(bytes ? bytes : 1);
            if (data) {
                fill(data, ctx);
                result = data;
                *handle = (void *)((uintptr_t)data | 1u);
            }
        }
    }
    return result;
}

void mb_lowrank_cache_release(void *handle) {
    if (!handle) return;
    if ((uintptr_t)handle & 1u) {
        free((void *)((uintptr_t)handle & ~(uintptr_t)1u));
        return;
    }
#pragma omp critical(mb_lowrank_cache)
    ((struct cache_slot *)handle)->refs--;
}

void mb_lowrank_cache_clear(void) {
#pragma omp critical(mb_lowrank_cache)
    for (int s = 0; s < CACHE_SLOTS; s++)
        if (!cache[s].refs) {
            free(cache[s].data);
            cache[s].data = NULL;
            cache[s].bytes = 0;
        }
}

/* ------------------------------------------------------------------------------------------ performer */
#include <lapacke.h>
#include <math.h>

int mb_lowrank_performer_features(uint64_t workload_seed, int64_t d, int64_t m, int orthogonal, double *w) {
    const uint64_t seed = mb_lowrank_seed(workload_seed, MB_LOWRANK_TAG_PERFORMER_W, d, m, orthogonal);
    if (!orthogonal) {
        mb_lowrank_gaussian(seed, w, m * d, 1.0);
        return 0;
    }
    const int64_t blocks = (m + d - 1) / d;
    double *g = malloc((size_t)(blocks * d * d + d + m * d) * sizeof(double));
    if (!g) return -1;
    double *tau = g + blocks * d * d, *norms = tau + d;
    mb_lowrank_gaussian(seed, g, blocks * d * d, 1.0);
    int status = 0;
    for (int64_t b = 0; b < blocks && !status; b++) {
        double *blk = g + b * d * d;
        status = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)d, blk, (lapack_int)d, tau) ||
                 LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)d, (lapack_int)d, blk, (lapack_int)d, tau);
        const int64_t rows = m - b * d < d ? m - b * d : d; /* rows of Q: orthonormal */
        memcpy(w + b * d * d, blk, (size_t)(rows * d) * sizeof(double));
    }
    mb_lowrank_gaussian(mb_lowrank_seed(workload_seed, MB_LOWRANK_TAG_PERFORMER_NORMS, d, m, orthogonal), norms,
                        m * d, 1.0);
    for (int64_t r = 0; r < m; r++) {
        double sq = 0;
        for (int64_t c = 0; c < d; c++) sq += norms[r * d + c] * norms[r * d + c];
        for (int64_t c = 0; c < d; c++) w[r * d + c] *= sqrt(sq);
    }
    free(g);
    return status ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------ reformer */
void mb_lowrank_lsh_rotations(uint64_t workload_seed, int64_t d, int64_t b, int64_t round, float *r) {
    const int64_t count = d * (b / 2);
    double *tmp = malloc((size_t)(count ? count : 1) * sizeof(double));
    if (!tmp) { /* cannot draw: every vector hashes to bucket 0 */
        memset(r, 0, (size_t)count * sizeof(float));
        return;
    }
    mb_lowrank_gaussian(mb_lowrank_seed(workload_seed, MB_LOWRANK_TAG_REFORMER_R, d, b, round), tmp, count, 1.0);
    for (int64_t e = 0; e < count; e++) r[e] = (float)tmp[e];
    free(tmp);
}

/* Not inlined into callers: one compiled evaluation order (per f, a sequential fused multiply-add over c), so the
 * kernel and the oracle get bit-identical projections and agree on near-ties. r is (d, b/2), f contiguous. */
__attribute__((noinline)) int32_t mb_lowrank_lsh_bucket(const float *x, const float *r, int64_t d, int64_t b) {
    const int64_t half = b / 2;
    int32_t best = 0;
    float best_v = -INFINITY;
    for (int64_t f0 = 0; f0 < half; f0 += 16) {
        const int64_t lanes = half - f0 < 16 ? half - f0 : 16;
        float p[16];
#if defined(__AVX512F__)
        const __mmask16 mask = (__mmask16)((1u << lanes) - 1u);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t c = 0; c < d; c++)
            acc = _mm512_fmadd_ps(_mm512_set1_ps(x[c]), _mm512_maskz_loadu_ps(mask, r + c * half + f0), acc);
        _mm512_storeu_ps(p, acc);
#else
        for (int64_t l = 0; l < lanes; l++) p[l] = 0.0f;
        for (int64_t c = 0; c < d; c++)
            for (int64_t l = 0; l < lanes; l++) p[l] = fmaf(x[c], r[c * half + f0 + l], p[l]);
#endif
        for (int64_t l = 0; l < lanes; l++) {
            if (p[l] > best_v) best_v = p[l], best = (int32_t)(f0 + l);
            if (-p[l] > best_v) best_v = -p[l], best = (int32_t)(half + f0 + l);
        }
    }
    return best;
}
