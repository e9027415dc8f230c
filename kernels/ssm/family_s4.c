/* ssm.s4 and ssm.s4d families: workloads, discretisations, double-precision convolution kernels and oracles, the
 * shared FFTW convolution. See family_s4.h for the math and the layouts. */
#include "ssm/family_s4.h"

#include "core/check.h"

#include <cblas.h>
#include <complex.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ssm/family_hippo.h"

/* ------------------------------------------------------------------------------------------ workload */
static const struct mb_axis_rule s4_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 22}, {MB_AXIS_d, 4, 1, 1 << 14}, {MB_AXIS_batch, 1, 1, 1 << 14},
    {MB_AXIS_rank, 64, 1, 1024},
};

static void set3(struct mb_tensor *t, const char *name, int64_t a, int64_t b, int64_t c) {
    *t = (struct mb_tensor){.name = name, .ndim = 3, .shape = {a, b, c}, .dims = "batch,d,n"};
}
static void set2(struct mb_tensor *t, const char *name, int64_t a, int64_t b) {
    *t = (struct mb_tensor){.name = name, .ndim = 2, .shape = {a, b}, .dims = "d,rank"};
}
static void set1(struct mb_tensor *t, const char *name, int64_t a) {
    *t = (struct mb_tensor){.name = name, .ndim = 1, .shape = {a}, .dims = "d"};
}

static int check_size(const struct mb_point *p, char *err, size_t errlen) {
    const double e = (double)p->batch * (double)p->d * (double)p->n;
    if (e > (double)(INT64_C(1) << 32))
        return mb_errorf(err, errlen, "batch*d*n = %.3g elements is too large (max 2^32)", e);
    return 0;
}

static int s4_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    if (check_size(p, err, errlen)) return -1;
    w->n_inputs = 4;
    set3(&w->inputs[0], "u", p->batch, p->d, p->n);
    set2(&w->inputs[1], "B", p->d, p->rank);
    set2(&w->inputs[2], "C", p->d, p->rank);
    set1(&w->inputs[3], "dt", p->d);
    w->n_outputs = 1;
    set3(&w->outputs[0], "y", p->batch, p->d, p->n);
    return 0;
}

static int s4d_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    if (check_size(p, err, errlen)) return -1;
    w->n_inputs = 6;
    set3(&w->inputs[0], "u", p->batch, p->d, p->n);
    set1(&w->inputs[1], "dt", p->d);
    set2(&w->inputs[2], "A_re", p->d, p->rank);
    set2(&w->inputs[3], "A_im", p->d, p->rank);
    set2(&w->inputs[4], "C_re", p->d, p->rank);
    set2(&w->inputs[5], "C_im", p->d, p->rank);
    w->n_outputs = 1;
    set3(&w->outputs[0], "y", p->batch, p->d, p->n);
    return 0;
}

static double gauss(gsl_rng *r) { /* Box-Muller */
    const double a = gsl_rng_uniform_pos(r), b = gsl_rng_uniform(r);
    return sqrt(-2.0 * log(a)) * cos(2.0 * M_PI * b);
}

static void fill_gauss(gsl_rng *r, float *x, int64_t count, double sd) {
    for (int64_t i = 0; i < count; i++) x[i] = (float)(sd * gauss(r));
}

static void fill_dt(gsl_rng *r, float *dt, int64_t D) { /* log-uniform in [1e-3, 1e-1] */
    for (int64_t i = 0; i < D; i++) dt[i] = (float)exp(log(1e-3) + gsl_rng_uniform(r) * (log(1e-1) - log(1e-3)));
}

static void s4_fill(struct mb_workload *w) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    const struct mb_point *p = &w->point;
    gsl_rng_set(r, (unsigned long)(w->seed * 1000003u + 11));
    fill_gauss(r, w->inputs[0].data, mb_tensor_numel(&w->inputs[0]), 1.0);
    fill_gauss(r, w->inputs[1].data, p->d * p->rank, 1.0);
    fill_gauss(r, w->inputs[2].data, p->d * p->rank, 1.0 / sqrt((double)p->rank));
    fill_dt(r, w->inputs[3].data, p->d);
    gsl_rng_free(r);
}

static void s4d_fill(struct mb_workload *w) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    const struct mb_point *p = &w->point;
    const int real = mb_param_enum(p, "init") == 1;
    gsl_rng_set(r, (unsigned long)(w->seed * 1000003u + 13));
    fill_gauss(r, w->inputs[0].data, mb_tensor_numel(&w->inputs[0]), 1.0);
    fill_dt(r, w->inputs[1].data, p->d);
    for (int64_t c = 0; c < p->d; c++)
        for (int64_t n = 0; n < p->rank; n++) {
            w->inputs[2].data[c * p->rank + n] = real ? -(float)(n + 1) : -0.5f;
            w->inputs[3].data[c * p->rank + n] = real ? 0.0f : (float)(M_PI * n);
        }
    fill_gauss(r, w->inputs[4].data, p->d * p->rank, sqrt(0.5));
    fill_gauss(r, w->inputs[5].data, p->d * p->rank, real ? 0.0 : sqrt(0.5));
    gsl_rng_free(r);
}

static int expect_shape(const struct mb_tensor *t, int ndim, const int64_t *shape, const char *what, char *err,
                        size_t errlen) {
    if (t->ndim != ndim) return mb_errorf(err, errlen, "'%s' has %d dimensions; expected %s", t->name, t->ndim, what);
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return mb_errorf(err, errlen, "'%s' dimension %d is %lld; expected %s = %lld", t->name, i,
                             (long long)t->shape[i], what, (long long)shape[i]);
    return 0;
}

static int s4_common_from_inputs(struct mb_workload *w, int first_param, char *err, size_t errlen) {
    const struct mb_tensor *u = &w->inputs[0];
    if (u->ndim != 3) return mb_errorf(err, errlen, "'u' has %d dimensions; expected 3: (batch, d, n)", u->ndim);
    w->point.batch = u->shape[0];
    w->point.d = u->shape[1];
    w->point.n = u->shape[2];
    int64_t rank = -1;
    for (int i = 1; i < w->n_inputs; i++) {
        const struct mb_tensor *t = &w->inputs[i];
        if (!strcmp(t->name, "dt")) {
            const int64_t sh[1] = {w->point.d};
            if (expect_shape(t, 1, sh, "(d)", err, errlen)) return -1;
            continue;
        }
        if (rank < 0 && t->ndim == 2) rank = t->shape[1];
        const int64_t sh[2] = {w->point.d, rank};
        if (expect_shape(t, 2, sh, "(d, rank)", err, errlen)) return -1;
    }
    (void)first_param;
    w->point.rank = rank;
    w->n_outputs = 1;
    set3(&w->outputs[0], "y", w->point.batch, w->point.d, w->point.n);
    return 0;
}
static int s4_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    return s4_common_from_inputs(w, 1, err, errlen);
}

void mb_s4_bind(struct mb_s4 *s, struct mb_workload *w) {
    memset(s, 0, sizeof *s);
    s->batch = w->point.batch;
    s->D = w->point.d;
    s->L = w->point.n;
    s->N = w->point.rank;
    s->u = w->inputs[0].data;
    s->y = w->outputs[0].data;
    if (w->family == &mb_family_ssm_s4) {
        s->B = w->inputs[1].data;
        s->C = w->inputs[2].data;
        s->dt = w->inputs[3].data;
    } else {
        s->dt = w->inputs[1].data;
        s->A_re = w->inputs[2].data;
        s->A_im = w->inputs[3].data;
        s->C_re = w->inputs[4].data;
        s->C_im = w->inputs[5].data;
    }
}

double mb_s4_io_bytes(const struct mb_point *p) {
    return 4.0 * (2.0 * (double)p->batch * p->d * p->n + 4.0 * (double)p->d * p->rank + p->d);
}

/* ------------------------------------------------------------------------------------------ S4 math */
int mb_s4_discretize(const struct mb_s4 *s, int64_t ch, double *Abar, double *Bbar) {
    const int64_t N = s->N;
    double *A = malloc((size_t)(N * N) * sizeof(double)), *B = malloc((size_t)N * sizeof(double));
    int rc = -1;
    if (A && B) {
        mb_hippo_matrix(MB_HIPPO_LEGS, N, 1.0, A, B);
        for (int64_t n = 0; n < N; n++) B[n] = s->B[ch * N + n];
        rc = mb_hippo_discretize(N, A, B, (double)s->dt[ch], MB_DISC_BILINEAR, Abar, Bbar);
    }
    free(A);
    free(B);
    return rc;
}

#define S4_BLOCK 512

int mb_s4_kernel_d(int64_t N, const double *Abar, const double *Bbar, const float *C, int64_t L, double *K) {
    double *R = malloc((size_t)(S4_BLOCK * N) * sizeof(double)), *R2 = malloc((size_t)(S4_BLOCK * N) * sizeof(double));
    double *P = malloc((size_t)(N * N) * sizeof(double)), *P2 = malloc((size_t)(N * N) * sizeof(double));
    double *c = malloc((size_t)N * sizeof(double));
    int rc = -1;
    if (!R || !R2 || !P || !P2 || !c) goto out;
    for (int64_t n = 0; n < N; n++) c[n] = C[n];
    memcpy(R, Bbar, (size_t)N * sizeof(double));
    memcpy(P, Abar, (size_t)(N * N) * sizeof(double));
    const int64_t first = L < S4_BLOCK ? L : S4_BLOCK;
    int64_t m = 1;
    while (m < first) { /* rows [m, m + cnt) = rows [0, cnt) (Abar^m)^T, then P = Abar^2m */
        const int64_t cnt = m < first - m ? m : first - m;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)cnt, (int)N, (int)N, 1.0, R, (int)N, P, (int)N, 0.0,
                    R + m * N, (int)N);
        if (cnt == m) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)N, (int)N, 1.0, P, (int)N, P, (int)N,
                        0.0, P2, (int)N);
            double *t = P;
            P = P2;
            P2 = t;
        }
        m += cnt;
    }
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)first, (int)N, 1.0, R, (int)N, c, 1, 0.0, K, 1);
    /* here P = Abar^S4_BLOCK whenever L > S4_BLOCK */
    for (int64_t base = first; base < L; base += S4_BLOCK) {
        const int64_t cnt = L - base < S4_BLOCK ? L - base : S4_BLOCK;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)cnt, (int)N, (int)N, 1.0, R, (int)N, P, (int)N, 0.0,
                    R2, (int)N);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)cnt, (int)N, 1.0, R2, (int)N, c, 1, 0.0, K + base, 1);
        double *t = R;
        R = R2;
        R2 = t;
    }
    rc = 0;
out:
    free(R);
    free(R2);
    free(P);
    free(P2);
    free(c);
    return rc;
}

void mb_s4d_modes(const struct mb_s4 *s, int64_t ch, double *z_re, double *z_im, double *cb_re, double *cb_im) {
    const double dt = s->dt[ch];
    for (int64_t n = 0; n < s->N; n++) {
        const double complex A = s->A_re[ch * s->N + n] + I * (double)s->A_im[ch * s->N + n];
        const double complex C = s->C_re[ch * s->N + n] + I * (double)s->C_im[ch * s->N + n];
        const double complex z = cexp(dt * A);
        /* Bbar = (e^{dt A} - 1)/A = dt * expm1(dt A)/(dt A); the limit dt at A = 0 */
        const double complex bb = cabs(A) > 0 ? (z - 1.0) / A : dt;
        const double complex cb = C * bb;
        z_re[n] = creal(z);
        z_im[n] = cimag(z);
        cb_re[n] = creal(cb);
        cb_im[n] = cimag(cb);
    }
}

/* ------------------------------------------------------------------------------------------ oracles */
/* Kernel of channel ch in double (L values). */
static int kernel_of(const struct mb_workload *w, const struct mb_s4 *s, int64_t ch, double *K) {
    const int64_t N = s->N, L = s->L;
    if (w->family == &mb_family_ssm_s4) {
        double *Abar = malloc((size_t)(N * N) * sizeof(double)), *Bbar = malloc((size_t)N * sizeof(double));
        int rc = (!Abar || !Bbar || mb_s4_discretize(s, ch, Abar, Bbar) ||
                  mb_s4_kernel_d(N, Abar, Bbar, s->C + ch * N, L, K)) ? -1 : 0;
        free(Abar);
        free(Bbar);
        return rc;
    }
    double *m = malloc((size_t)(4 * N) * sizeof(double));
    if (!m) return -1;
    mb_s4d_modes(s, ch, m, m + N, m + 2 * N, m + 3 * N);
    for (int64_t l = 0; l < L; l++) K[l] = 0;
    for (int64_t n = 0; n < N; n++) {
        const double complex z = m[n] + I * m[N + n], cb = m[2 * N + n] + I * m[3 * N + n];
        const double complex logz = clog(z);
        for (int64_t l = 0; l < L; l++) K[l] += creal(cb * cexp((double)l * logz));
    }
    free(m);
    return 0;
}

/* The check runs on the driver of core/check.h. Rows: channels (b, ch), the first and the last always checked; each
 * row is `times` steps of the channel's output, evenly strided and ending at the last step (all L steps unless the
 * check samples and L > 4 sample_rows). The oracle: Kbar of the channel in double, then the direct causal
 * convolution at those steps. */
struct s4_rows {
    const struct mb_workload *w;
    struct mb_s4 s;
    int64_t times, first, stride; /* steps first + i stride, i < times */
    int *failed;                  /* set when Kbar cannot be built (singular discretisation, out of memory) */
};

static int64_t s4_row_offset(const void *ctx, int64_t row) {
    const struct s4_rows *x = ctx;
    return row * x->s.L + x->first;
}

/* want[i] = y at step first + i stride of channel row; scratch: L doubles (Kbar) */
static void s4_row(const void *ctx, int64_t row, double *K, double *want) {
    const struct s4_rows *x = ctx;
    const int64_t ch = row % x->s.D;
    if (kernel_of(x->w, &x->s, ch, K)) {
#pragma omp atomic write
        *x->failed = 1;
        for (int64_t i = 0; i < x->times; i++) want[i] = NAN;
        return;
    }
    const float *u = x->s.u + row * x->s.L;
    for (int64_t i = 0; i < x->times; i++) {
        const int64_t t = x->first + i * x->stride;
        double acc = 0;
        for (int64_t j = 0; j <= t; j++) acc += K[j] * u[t - j];
        want[i] = acc;
    }
}

static const struct mb_mechanism s4_mechanisms[] = {
    {"s4", "y = Kbar * u, Kbar_j = C Abar^j Bbar, bilinear LegS (float64 kernel, direct convolution)", 1e-4,
     (void (*)(void))s4_row},
};
static const struct mb_mechanism s4d_mechanisms[] = {
    {"s4d", "y = Kbar * u, Kbar_l = Re(sum_n C_n Bbar_n exp(l dt A_n)), ZOH diagonal (float64, direct convolution)",
     1e-4, (void (*)(void))s4_row},
};

static int s4_check(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism,
                    const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    const struct mb_mechanism *m = mb_family_mechanism(w->family, mechanism);
    if (!m)
        return mb_errorf(err, errlen, "%s has no oracle for mechanism '%s' of %s", w->family->name, mechanism, k->name);
    int failed = 0;
    struct s4_rows x = {.w = w, .failed = &failed};
    mb_s4_bind(&x.s, (struct mb_workload *)w);
    const int64_t L = x.s.L;
    /* channels: all when asked for all (sample_rows <= 0); else 2..16, bounded by the oracle's cost */
    struct mb_check_opts o = *opts;
    if (o.sample_rows > 0) {
        const double per_channel = (double)L * x.s.N * x.s.N * 2.0 + 512.0 * L;
        int64_t cap = (int64_t)(2e10 / per_channel);
        o.sample_rows = cap < 2 ? 2 : cap > 16 ? 16 : cap;
    }
    x.times = (opts->sample_rows > 0 && L > 4 * opts->sample_rows) ? opts->sample_rows : L;
    x.stride = x.times > 1 ? (L - 1) / (x.times - 1) : 1;
    x.first = L - 1 - (x.times - 1) * x.stride;
    typedef void (*row_oracle)(const void *ctx, int64_t row, double *scratch, double *want);
    const struct mb_row_check c = {.width = x.times, .scratch = L, .got = x.s.y, .offset = s4_row_offset,
                                   .stride = x.stride, .oracle = (row_oracle)m->oracle, .ctx = &x};
    const int rc = mb_check_sampled(&c, 1, x.s.batch * x.s.D, 0, &o, out, err, errlen); /* first, last, sampled */
    if (!rc && failed)
        return mb_errorf(err, errlen, "%s oracle failed (out of memory or singular discretisation)", w->family->name);
    return rc;
}

const struct mb_family mb_family_ssm_s4 = {
    .name = "ssm.s4",
    .summary = "u (batch, d, n), B, C (d, rank), dt (d) -> y (batch, d, n): S4 with HiPPO-LegS A, bilinear",
    MB_SSM_TABLE(axes, s4_axes),
    MB_SSM_TABLE(mechanisms, s4_mechanisms),
    .layout = s4_layout,
    .fill = s4_fill,
    .point_from_inputs = s4_point_from_inputs,
    .check = s4_check,
};

static const struct mb_param_decl s4d_params[] = {
    {"init", MB_PARAM_ENUM, 0, 0, 0, "lin|real", "A_n = -1/2 + i pi n (S4D-Lin) or A_n = -(n+1) (S4D-Real)"},
};

const struct mb_family mb_family_ssm_s4d = {
    .name = "ssm.s4d",
    .summary = "u (batch, d, n), dt (d), A_re/A_im/C_re/C_im (d, rank) -> y (batch, d, n): diagonal S4D, ZOH",
    MB_SSM_TABLE(axes, s4_axes),
    MB_SSM_TABLE(params, s4d_params),
    MB_SSM_TABLE(mechanisms, s4d_mechanisms),
    .layout = s4d_layout,
    .fill = s4d_fill,
    .point_from_inputs = s4_point_from_inputs,
    .check = s4_check,
};

/* ------------------------------------------------------------------------------------------ FFT convolution */
int mb_s4_fftconv_init(struct mb_s4_fftconv *c, int64_t L, int threads, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->L = L;
    c->M = 2 * L;
    c->threads = threads < 1 ? 1 : threads;
    const int64_t H = c->M / 2 + 1;
    c->buf_stride = (c->M + 15) & ~INT64_C(15);  /* 64-byte aligned per-thread buffers: FFTW's new-array execute */
    c->spec_stride = (H + 7) & ~INT64_C(7);      /* needs the planning arrays' alignment */
    c->buf = fftwf_malloc((size_t)(c->threads * c->buf_stride) * sizeof(float));
    c->spec = fftwf_malloc((size_t)(c->threads * c->spec_stride) * sizeof(fftwf_complex));
    if (!c->buf || !c->spec) {
        mb_s4_fftconv_free(c);
        return mb_errorf(err, errlen, "out of memory for the FFT buffers");
    }
    c->fwd = fftwf_plan_dft_r2c_1d((int)c->M, c->buf, c->spec, FFTW_ESTIMATE);
    c->inv = fftwf_plan_dft_c2r_1d((int)c->M, c->spec, c->buf, FFTW_ESTIMATE);
    if (!c->fwd || !c->inv) {
        mb_s4_fftconv_free(c);
        return mb_errorf(err, errlen, "FFTW could not plan a transform of size %lld", (long long)c->M);
    }
    return 0;
}

void mb_s4_fftconv_free(struct mb_s4_fftconv *c) {
    if (c->fwd) fftwf_destroy_plan(c->fwd);
    if (c->inv) fftwf_destroy_plan(c->inv);
    fftwf_free(c->buf);
    fftwf_free(c->spec);
    memset(c, 0, sizeof *c);
}

void mb_s4_fftconv_kernel(const struct mb_s4_fftconv *c, int t, const float *k, fftwf_complex *Khat) {
    float *in = c->buf + (int64_t)t * c->buf_stride;
    memcpy(in, k, (size_t)c->L * sizeof(float));
    memset(in + c->L, 0, (size_t)(c->M - c->L) * sizeof(float));
    fftwf_execute_dft_r2c(c->fwd, in, Khat);
}

void mb_s4_fftconv_apply(const struct mb_s4_fftconv *c, int t, const fftwf_complex *Khat, const float *u, float *y) {
    const int64_t H = c->M / 2 + 1;
    float *in = c->buf + (int64_t)t * c->buf_stride;
    fftwf_complex *spec = c->spec + (int64_t)t * c->spec_stride;
    memcpy(in, u, (size_t)c->L * sizeof(float));
    memset(in + c->L, 0, (size_t)(c->M - c->L) * sizeof(float));
    fftwf_execute_dft_r2c(c->fwd, in, spec);
    const float scale = 1.0f / (float)c->M;
    float *restrict sp = (float *)spec;
    const float *restrict kh = (const float *)Khat;
#pragma omp simd
    for (int64_t i = 0; i < H; i++) {
        const float ar = sp[2 * i], ai = sp[2 * i + 1], br = kh[2 * i], bi = kh[2 * i + 1];
        sp[2 * i] = (ar * br - ai * bi) * scale;
        sp[2 * i + 1] = (ar * bi + ai * br) * scale;
    }
    fftwf_execute_dft_c2r(c->inv, spec, in);
    memcpy(y, in, (size_t)c->L * sizeof(float));
}

double mb_s4_fftconv_flops(int64_t L) { /* two real FFTs of size 2L (~2.5 M log2 M each) + the product */
    const double M = 2.0 * (double)L;
    return 2.0 * 2.5 * M * log2(M > 2 ? M : 2) + 6.0 * (M / 2 + 1);
}
