/* The data.features.hash probe: hash-bucket collisions against the birthday bound.
 *
 *   hash_occupancy  x = rank (B, the buckets). params load (k / B, default 1), trials (40). Per trial t: k = round(
 *                   load B) distinct strings "t<seed>.<t>.<i>", i < k, each into bucket Fingerprint64(s) % B (TF's
 *                   hash bucket column); O = the number of occupied buckets. For an ideal hash (independent uniform
 *                   buckets) E[O] = B (1 - (1 - 1/B)^k) (the birthday / occupancy bound) and
 *                   Var[O] = B (B - 1) (1 - 2/B)^k + B (1 - 1/B)^k - B^2 (1 - 1/B)^(2k)
 *                   (indicator variables of the buckets; e.g. Feller vol. 1, occupancy problems).
 *                   value = the mean over the trials of O / E[O]; the samples hold each trial's ratio.
 *                   The standard deviation of the mean is sqrt(Var[O]) / (E[O] sqrt(trials)): 0.0059 at B = 256,
 *                   load 0.5, 40 trials (the widest of the claim's points), so an ideal hash lies in 1 +- 0.03 (5
 *                   sigma); a hash that reached only half the buckets would give about 0.68 at load 1.
 * Source: MECHANISMS.md G (claims); TensorFlow string_to_hash_bucket_fast (Fingerprint64 % B). */
#include "data/family_features.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_param_decl occupancy_params[] = {
    {"load", MB_PARAM_REAL, 1, 0.01, 100, NULL, "k / B: distinct strings per bucket"},
    {"trials", MB_PARAM_INT, 40, 1, 1000, NULL, "independent sets of k strings per B"},
};

/* E[O] for k balls into B bins */
static double expected_occupied(double b, double k) { return b * (1 - pow(1 - 1 / b, k)); }

static int occupancy_run(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs, int nx,
                         uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const double load = mb_param_real(base, "load");
    const int trials = (int)mb_param_int(base, "trials");
    memset(out, 0, sizeof *out);
    out->mean = 1;
    for (int xi = 0; xi < nx && xi < MB_PROBE_MAX_POINTS; xi++) {
        const int64_t b = (int64_t)xs[xi], k = (int64_t)llround(load * (double)b);
        if (b < 1 || b > (1 << 24) || k < 1 || k > (1 << 26))
            return mb_errorf(err, errlen, "hash_occupancy: B = %lld, k = %lld (allowed B in 1..2^24, k in 1..2^26)",
                             (long long)b, (long long)k);
        unsigned char *used = malloc((size_t)b);
        double *ratios = malloc((size_t)trials * sizeof *ratios);
        if (!used || !ratios) {
            free(used);
            free(ratios);
            return mb_errorf(err, errlen, "out of memory");
        }
        const double expected = expected_occupied((double)b, (double)k);
        double sum = 0;
        for (int t = 0; t < trials; t++) {
            memset(used, 0, (size_t)b);
            int64_t occupied = 0;
            for (int64_t i = 0; i < k; i++) {
                char text[64];
                const int len = snprintf(text, sizeof text, "t%llu.%d.%lld", (unsigned long long)seed, t, (long long)i);
                const uint64_t bucket = mb_fingerprint64(text, (size_t)len) % (uint64_t)b;
                occupied += !used[bucket];
                used[bucket] = 1;
            }
            ratios[t] = (double)occupied / expected;
            sum += ratios[t];
        }
        free(used);
        out->x[out->count] = (double)b;
        out->y[out->count] = sum / trials;
        out->samples[out->count] = ratios;
        out->ns[out->count] = trials;
        out->count++;
    }
    return 0;
}

const struct mb_probe mb_features_probes[MB_FC_N_PROBES] = {
    {.name = "hash_occupancy",
     .x_axis = "rank",
     .summary = "occupied hash buckets over the birthday-bound expectation B (1 - (1 - 1/B)^k), k = load B distinct "
                "strings into B = rank buckets by Fingerprint64 % B; the mean over trials (samples: each trial)",
     .params = occupancy_params,
     .n_params = (int)(sizeof occupancy_params / sizeof occupancy_params[0]),
     .run = occupancy_run},
};
