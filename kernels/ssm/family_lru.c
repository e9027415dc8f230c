/* ssm.lru family: workload, double-precision oracle, and the GEMM / scan pieces shared by the LRU kernels.
 * See family_lru.h for the math. */
#include "ssm/family_lru.h"

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

static void lru_oracle(const struct mb_lru *r, int64_t b, double *xr, double *xi);

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
    for (int t = 0; t < w->n_inputs; t++) {
        const struct mb_tensor *x = &w->inputs[t], *e = &want.inputs[t];
        int same = x->ndim == e->ndim;
        for (int i = 0; same && i < e->ndim; i++) same = x->shape[i] == e->shape[i];
        if (!same)
            return mb_errorf(err, errlen, "'%s' has the wrong shape; expected (%s) from u (batch, L, H) and nu_log (N)",
                             x->name, e->dims);
    }
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
/* states of batch b in double: xr, xi (L, N) */
static void lru_oracle(const struct mb_lru *r, int64_t b, double *xr, double *xi) {
    const int64_t L = r->L, H = r->H, N = r->N;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t n = 0; n < N; n++) {
        const double mod = exp(-exp((double)r->nu_log[n])), phase = exp((double)r->theta_log[n]);
        const double lr = mod * cos(phase), li = mod * sin(phase), g = sqrt(1.0 - mod * mod);
        double sr = 0, si = 0;
        for (int64_t t = 0; t < L; t++) {
            const float *ut = r->u + (b * L + t) * H;
            double br = 0, bi = 0;
            for (int64_t h = 0; h < H; h++) {
                br += (double)r->B_re[n * H + h] * ut[h];
                bi += (double)r->B_im[n * H + h] * ut[h];
            }
            const double nr = lr * sr - li * si + g * br, ni = lr * si + li * sr + g * bi;
            sr = nr;
            si = ni;
            xr[t * N + n] = sr;
            xi[t * N + n] = si;
        }
    }
}

typedef void (*lru_oracle_fn)(const struct mb_lru *r, int64_t b, double *xr, double *xi);

static int lru_check(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism,
                     const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    (void)k;
    const struct mb_mechanism *m = mb_family_mechanism(&mb_family_ssm_lru, mechanism);
    if (!m || !m->oracle) return mb_errorf(err, errlen, "ssm.lru has no oracle for mechanism '%s'", mechanism);
    const lru_oracle_fn oracle = (lru_oracle_fn)m->oracle;
    struct mb_lru r;
    mb_lru_bind(&r, (struct mb_workload *)w);
    const int64_t L = r.L, H = r.H, N = r.N, total = r.batch * H;
    const int64_t count = (opts->sample_rows <= 0 || opts->sample_rows >= total) ? total : opts->sample_rows;
    /* chosen channels as a per-channel flag, so each batch's states are computed once */
    unsigned char *pick = calloc((size_t)total, 1);
    double *xr = malloc((size_t)(L * N) * sizeof(double)), *xi = malloc((size_t)(L * N) * sizeof(double));
    if (!pick || !xr || !xi) {
        free(pick);
        free(xr);
        free(xi);
        return mb_errorf(err, errlen, "out of memory in the ssm.lru oracle (2 x %lld doubles)", (long long)(L * N));
    }
    uint64_t state = opts->seed ^ UINT64_C(0x1e0);
    if (count == total) memset(pick, 1, (size_t)total);
    else {
        pick[0] = pick[total - 1] = 1;
        for (int64_t x = 2; x < count; x++) pick[mb_splitmix64(&state) % (uint64_t)total] = 1;
    }
    mb_errors_reset(out);
    int failed = 0;
    for (int64_t b = 0; b < r.batch; b++) {
        int any = 0;
        for (int64_t h = 0; h < H; h++) any |= pick[b * H + h];
        if (!any) continue;
        oracle(&r, b, xr, xi);
#pragma omp parallel
        {
            struct mb_errors local;
            mb_errors_reset(&local);
            double *want = malloc((size_t)L * sizeof(double));
            float *got = malloc((size_t)L * sizeof(float));
            if (!want || !got) {
#pragma omp atomic write
                failed = 1;
            } else {
#pragma omp for schedule(dynamic, 1)
                for (int64_t h = 0; h < H; h++) {
                    if (!pick[b * H + h]) continue;
                    for (int64_t t = 0; t < L; t++) {
                        double s = (double)r.D[h] * r.u[(b * L + t) * H + h];
                        for (int64_t n = 0; n < N; n++)
                            s += (double)r.C_re[h * N + n] * xr[t * N + n] - (double)r.C_im[h * N + n] * xi[t * N + n];
                        want[t] = s;
                        got[t] = r.y[(b * L + t) * H + h];
                    }
                    mb_errors_add(&local, got, want, L);
                }
            }
#pragma omp critical
            mb_errors_merge(out, &local);
            free(want);
            free(got);
        }
    }
    free(pick);
    free(xr);
    free(xi);
    if (failed) return mb_errorf(err, errlen, "out of memory in the ssm.lru oracle");
    mb_errors_finish(out);
    return 0;
}

const struct mb_family mb_family_ssm_lru = {
    .name = "ssm.lru",
    .summary = "Linear Recurrent Unit: u (batch, L, H), lambda (N complex, nu_log/theta_log), B (N, H), C (H, N), D (H) -> y (batch, L, H)",
    .axes = lru_axes,
    .n_axes = (int)(sizeof lru_axes / sizeof lru_axes[0]),
    .mechanisms = lru_mechanisms,
    .n_mechanisms = (int)(sizeof lru_mechanisms / sizeof lru_mechanisms[0]),
    .layout = lru_layout,
    .fill = lru_fill,
    .point_from_inputs = lru_point_from_inputs,
    .check = lru_check,
};
