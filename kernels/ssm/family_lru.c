/* ssm.lru family: workload, double-precision oracle, and the GEMM / scan pieces shared by the LRU kernels.
 * See family_lru.h for the math. */
#include "ssm/family_lru.h"

#include "core/check.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define R_MIN 0.9
#define R_MAX 0.999
#define MAX_PHASE (2.0 * M_PI / 10.0)

static const struct mb_axis_rule lru_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 24}, {MB_AXIS_d, 64, 1, 1 << 14}, {MB_AXIS_batch, 1, 1, 1 << 12},
    {MB_AXIS_rank, 64, 1, 256},    {MB_AXIS_block, 0, 0, 1 << 24},
};

static void lru_oracle(const void *ctx, int64_t b, double *scratch, double *want);

static const struct mb_mechanism lru_mechanisms[] = {
    {"lru", "x_t = lambda x_{t-1} + gamma (B u_t), lambda = exp(-e^nu + i e^theta), gamma = sqrt(1 - |lambda|^2); y_t = Re(C x_t) + D u_t",
     1e-4, (void (*)(void))lru_oracle},
};

static void lru_tensors(struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    const int64_t B = p->batch, L = p->n, H = p->d, N = p->rank;
    mb_tensor_set(&w->inputs[0], "u", "batch,L,H", 3, B, L, H, 0);
    mb_tensor_set(&w->inputs[1], "nu_log", "N", 1, N, 0, 0, 0);
    mb_tensor_set(&w->inputs[2], "theta_log", "N", 1, N, 0, 0, 0);
    mb_tensor_set(&w->inputs[3], "B_re", "N,H", 2, N, H, 0, 0);
    mb_tensor_set(&w->inputs[4], "B_im", "N,H", 2, N, H, 0, 0);
    mb_tensor_set(&w->inputs[5], "C_re", "H,N", 2, H, N, 0, 0);
    mb_tensor_set(&w->inputs[6], "C_im", "H,N", 2, H, N, 0, 0);
    mb_tensor_set(&w->inputs[7], "D", "H", 1, H, 0, 0, 0);
    w->n_inputs = 8;
    mb_tensor_set(&w->outputs[0], "y", "batch,L,H", 3, B, L, H, 0);
    w->n_outputs = 1;
}

static int lru_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    double elements = (double)p->batch * (double)p->n * (double)(p->d > p->rank ? p->d : p->rank);
    if (elements > (double)(INT64_C(1) << 33))
        return mb_errorf(err, errlen, "batch*L*max(H, N) = %.3g elements is too large (max 2^33)", elements);
    lru_tensors(w);
    return 0;
}

static void lru_fill(struct mb_workload *w) {
    const int64_t H = w->point.d, N = w->point.rank;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    for (int t = 0; t < w->n_inputs; t++) {
        gsl_rng_set(rng, (unsigned long)(w->seed * 1000003u + (uint64_t)t + 201));
        struct mb_tensor *x = &w->inputs[t];
        const int64_t count = mb_tensor_numel(x);
        for (int64_t i = 0; i < count; i++) {
            double v;
            if (t == 1) v = log(-0.5 * log(gsl_rng_uniform_pos(rng) * (R_MAX * R_MAX - R_MIN * R_MIN) + R_MIN * R_MIN));
            else if (t == 2) v = log(MAX_PHASE * gsl_rng_uniform_pos(rng));
            else if (t == 3 || t == 4) v = gsl_ran_gaussian_ziggurat(rng, 1.0 / sqrt(2.0 * (double)H));
            else if (t == 5 || t == 6) v = gsl_ran_gaussian_ziggurat(rng, 1.0 / sqrt((double)N));
            else v = gsl_ran_gaussian_ziggurat(rng, 1.0);
            x->data[i] = (float)v;
        }
    }
    gsl_rng_free(rng);
}

static int lru_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *u = &w->inputs[0], *nu = &w->inputs[1];
    if (u->ndim != 3) return mb_errorf(err, errlen, "'u' has %d dimensions; ssm.lru expects 3: (batch, L, H)", u->ndim);
    if (nu->ndim != 1) return mb_errorf(err, errlen, "'nu_log' has %d dimensions; expected 1: (N)", nu->ndim);
    struct mb_workload want = {.family = w->family, .point = w->point};
    want.point.batch = u->shape[0];
    want.point.n = u->shape[1];
    want.point.d = u->shape[2];
    want.point.rank = nu->shape[0];
    lru_tensors(&want);
    if (mb_ssm_inputs_match(w, &want, "u (batch, L, H) and nu_log (N)", err, errlen)) return -1;
    w->point = want.point;
    w->n_outputs = 1;
    w->outputs[0] = want.outputs[0];
    return 0;
}

void mb_lru_bind(struct mb_lru *r, struct mb_workload *w) {
    r->batch = w->point.batch;
    r->L = w->point.n;
    r->H = w->point.d;
    r->N = w->point.rank;
    r->u = w->inputs[0].data;
    r->nu_log = w->inputs[1].data;
    r->theta_log = w->inputs[2].data;
    r->B_re = w->inputs[3].data;
    r->B_im = w->inputs[4].data;
    r->C_re = w->inputs[5].data;
    r->C_im = w->inputs[6].data;
    r->D = w->inputs[7].data;
    r->y = w->outputs[0].data;
}

/* ------------------------------------------------------------------------------------------ oracle */
/* The check runs on the driver of core/check.h. A row is one sequence (batch item): its whole output y (L, H),
 * recomputed in double by streaming the N complex states over time (every channel of y_t depends on all the
 * states, so a sequence is the unit of the oracle's work). */

/* want = y (L, H) of sequence b; scratch: 5 N doubles */
static void lru_oracle(const void *ctx, int64_t b, double *scratch, double *want) {
    const struct mb_lru *r = ctx;
    const int64_t L = r->L, H = r->H, N = r->N;
    double *lr = scratch, *li = lr + N, *g = li + N, *sr = g + N, *si = sr + N;
    for (int64_t n = 0; n < N; n++) {
        const double mod = exp(-exp((double)r->nu_log[n])), phase = exp((double)r->theta_log[n]);
        lr[n] = mod * cos(phase);
        li[n] = mod * sin(phase);
        g[n] = sqrt(1.0 - mod * mod);
        sr[n] = si[n] = 0;
    }
    for (int64_t t = 0; t < L; t++) {
        const float *ut = r->u + (b * L + t) * H;
        for (int64_t n = 0; n < N; n++) {
            double br = 0, bi = 0;
            for (int64_t h = 0; h < H; h++) {
                br += (double)r->B_re[n * H + h] * ut[h];
                bi += (double)r->B_im[n * H + h] * ut[h];
            }
            const double nr = lr[n] * sr[n] - li[n] * si[n] + g[n] * br, ni = lr[n] * si[n] + li[n] * sr[n] + g[n] * bi;
            sr[n] = nr;
            si[n] = ni;
        }
        for (int64_t h = 0; h < H; h++) {
            double y = (double)r->D[h] * ut[h];
            for (int64_t n = 0; n < N; n++) y += (double)r->C_re[h * N + n] * sr[n] - (double)r->C_im[h * N + n] * si[n];
            want[t * H + h] = y;
        }
    }
}

typedef void (*lru_oracle_fn)(const void *ctx, int64_t b, double *scratch, double *want);

static int lru_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism,
                     const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    const struct mb_mechanism *m = mb_family_mechanism(&mb_family_ssm_lru, mechanism);
    if (!m || !m->oracle) return mb_errorf(err, errlen, "ssm.lru has no oracle for mechanism '%s'", mechanism);
    struct mb_lru r;
    mb_lru_bind(&r, (struct mb_workload *)w);
    const struct mb_row_check c = {.width = r.L * r.H, .scratch = 5 * r.N, .got = r.y,
                                   .oracle = (lru_oracle_fn)m->oracle, .ctx = &r};
    return mb_check_sampled(&c, 1, r.batch, 0, opts, out, err, errlen);
}

const struct mb_family mb_family_ssm_lru = {
    .name = "ssm.lru",
    .summary = "Linear Recurrent Unit: u (batch, L, H), lambda (N complex, nu_log/theta_log), B (N, H), C (H, N), D (H) -> y (batch, L, H)",
    MB_SSM_TABLE(axes, lru_axes),
    MB_SSM_TABLE(mechanisms, lru_mechanisms),
    .layout = lru_layout,
    .fill = lru_fill,
    .point_from_inputs = lru_point_from_inputs,
    .check = lru_check,
};
