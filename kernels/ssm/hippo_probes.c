/* The ssm.hippo family's probe.
 *
 *   legs_timescale x = scale (the stretch factor s, integer >= 1), reads n (L, default 1024) and rank (N, 32).
 *                  params measure=legs|legt (legs), disc=bilinear|euler|backward (bilinear), trials=T (8).
 *                  Timescale robustness of HiPPO-LegS (Gu et al. 2020, Sec. 3 / Prop. 3): the final coefficients
 *                  c_1 after L samples of f(t) (t in [0, 1], the ssm.hippo family's signal: 8 sinusoids, seeded
 *                  per trial) against c_s after s L samples of the stretched g(t) = f(t / s), t in [0, s] (the same
 *                  function sampled s times as densely). legs: the step-free recurrence (mb_legs_step_d, float64;
 *                  no dt, so only the sampling density differs and the difference is discretisation error).
 *                  legt: the LTI recurrence with a fixed step dt = 1/L and window theta = 1 (mb_hippo_matrix,
 *                  mb_hippo_discretize, float64): on the stretched input the window sees only the last 1/s of f,
 *                  so the coefficients differ by O(1). value = median over the trials of |c_s - c_1| / |c_1|.
 */
#include "ssm/family_hippo.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* f(t) = sum_{m=1..8} a_m sin(2 pi m t + phi_m), a_m ~ U(-1, 1)/m (the ssm.hippo family's signal), sampled at
   t = (j + 0.5)/len, j < len. */
static void timescale_signal(gsl_rng *r, double *f, int64_t len) {
    double amp[8], phase[8];
    for (int m = 0; m < 8; m++) {
        amp[m] = (2.0 * gsl_rng_uniform(r) - 1.0) / (m + 1.0);
        phase[m] = 2.0 * M_PI * gsl_rng_uniform(r);
    }
    for (int64_t j = 0; j < len; j++) {
        const double t = ((double)j + 0.5) / (double)len;
        double s = 0;
        for (int m = 0; m < 8; m++) s += amp[m] * sin(2.0 * M_PI * (m + 1.0) * t + phase[m]);
        f[j] = s;
    }
}

/* Final coefficients (N) after the len samples of f. LegS: the step-free recurrence (no dt). LegT: the LTI
   recurrence with Ad, Bd of step dt and window theta = 1. */
static int timescale_run(int legs, enum mb_hippo_disc disc, int64_t N, const double *f, int64_t len, const double *Ad,
                         const double *Bd, double *c, double *tmp) {
    if (legs) {
        for (int64_t k = 0; k < len; k++) mb_legs_step_d(N, disc, k, f[k], c, tmp);
        return 0;
    }
    memset(c, 0, sizeof(double) * N);
    for (int64_t k = 0; k < len; k++) {
        for (int64_t a = 0; a < N; a++) {
            double acc = Bd[a] * f[k];
            for (int64_t b = 0; b < N; b++) acc += Ad[a * N + b] * c[b];
            tmp[a] = acc;
        }
        memcpy(c, tmp, sizeof(double) * N);
    }
    return 0;
}

/* values in the order of enum mb_hippo_disc (zoh is refused: LegS is time-varying) */
static const struct mb_param_decl timescale_params[] = {
    {"measure", MB_PARAM_ENUM, 0, 0, 0, "legs|legt", "HiPPO-LegS (step-free) or LegT (fixed dt = 1/n, theta = 1)"},
    {"disc", MB_PARAM_ENUM, 0, 0, 0, "bilinear|zoh|euler|backward", "discretisation (not zoh)"},
    {"trials", MB_PARAM_INT, 8, 1, 100000, NULL, "random signals"},
};

static int probe_legs_timescale(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                                int nx, uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const int legs = mb_param_enum(base, "measure") == 0;
    const enum mb_hippo_disc disc = (enum mb_hippo_disc)mb_param_enum(base, "disc");
    if (disc == MB_DISC_ZOH) return mb_errorf(err, errlen, "legs_timescale: disc=zoh (allowed: bilinear, euler, backward)");
    const int64_t L = base->n > 0 ? base->n : 1024, N = base->rank > 0 ? base->rank : 32;
    const int trials = (int)mb_param_int(base, "trials");
    double smax = 1;
    for (int i = 0; i < nx; i++) smax = fmax(smax, xs[i]);
    if (smax * (double)L > 1e8) return mb_errorf(err, errlen, "legs_timescale: s * n = %g steps (at most 1e8)", smax * L);
    const int64_t Lmax = (int64_t)smax * L;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    double *f = malloc(sizeof(double) * Lmax), *c1 = malloc(sizeof(double) * N), *cs = malloc(sizeof(double) * N);
    double *tmp = malloc(sizeof(double) * N), *A = NULL, *B = NULL, *Ad = NULL, *Bd = NULL;
    if (!legs) { /* LegT, window theta = 1 time unit, fixed step dt = 1/n: the window is the whole unstretched signal */
        A = malloc(sizeof(double) * N * N), B = malloc(sizeof(double) * N);
        Ad = malloc(sizeof(double) * N * N), Bd = malloc(sizeof(double) * N);
    }
    int status = 0;
    if (!r || !f || !c1 || !cs || !tmp || (!legs && (!A || !B || !Ad || !Bd))) status = mb_errorf(err, errlen, "out of memory");
    if (!status && !legs) {
        mb_hippo_matrix(MB_HIPPO_LEGT, N, 1.0, A, B);
        if (mb_hippo_discretize(N, A, B, 1.0 / (double)L, disc, Ad, Bd))
            status = mb_errorf(err, errlen, "legs_timescale: LegT discretisation failed");
    }
    for (int xi = 0; xi < nx && !status; xi++) {
        const int64_t s = (int64_t)xs[xi];
        double *sm = malloc(sizeof(double) * trials);
        if (!sm) {
            status = mb_errorf(err, errlen, "out of memory");
            break;
        }
        for (int t = 0; t < trials; t++) {
            gsl_rng_set(r, seed * 1000003 + (uint64_t)t * 7919 + 1);
            timescale_signal(r, f, L); /* f(t) on [0, 1], L steps */
            timescale_run(legs, disc, N, f, L, Ad, Bd, c1, tmp);
            gsl_rng_set(r, seed * 1000003 + (uint64_t)t * 7919 + 1);
            timescale_signal(r, f, s * L); /* f(t / s) on [0, s]: the same function over s times as many steps */
            timescale_run(legs, disc, N, f, s * L, Ad, Bd, cs, tmp);
            double num = 0, den = 0;
            for (int64_t n = 0; n < N; n++) num += (cs[n] - c1[n]) * (cs[n] - c1[n]), den += c1[n] * c1[n];
            sm[t] = den > 0 ? sqrt(num / den) : sqrt(num);
        }
        out->x[out->count] = (double)s;
        out->samples[out->count] = sm;
        out->ns[out->count] = trials;
        if (mb_probe_median(out, out->count++)) status = mb_errorf(err, errlen, "out of memory");
    }
    if (r) gsl_rng_free(r);
    free(f), free(c1), free(cs), free(tmp), free(A), free(B), free(Ad), free(Bd);
    return status;
}

const struct mb_probe mb_hippo_probes[1] = {
    {.name = "legs_timescale", .x_axis = "scale", .run = probe_legs_timescale, MB_SSM_TABLE(params, timescale_params),
     .summary = "|c_s - c_1| / |c_1|: HiPPO coefficients of f on [0, 1] vs f(t/s) on [0, s] (timescale robustness)"},
};
