/* peft.svd family: workload (delta -> out, U, S, Vh), the seeded delta of known spectrum, and the double-precision
 * oracle (the rank-r reconstruction from LAPACKE dgesdd of the same float delta). See family_svd.h for the math. */
#include "peft/family_svd.h"

#include "core/check.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule svd_axes[] = {
    {MB_AXIS_n, 0, 0, 1 << 15}, {MB_AXIS_d, 256, 1, 1 << 15}, {MB_AXIS_rank, 16, 1, 1 << 15}, /* n = 0: d_out = d */
};

static const struct mb_param_decl svd_params[] = {
    {"decay", MB_PARAM_REAL, 0.9, 1e-3, 1, NULL, "the seeded delta's spectrum: s_i = decay^i"},
};

int64_t mb_svd_rows(const struct mb_point *p) { return p->n > 0 ? p->n : p->d; }

void mb_svd_bind(struct mb_svd *a, const struct mb_workload *w) {
    a->rows = mb_svd_rows(&w->point);
    a->cols = w->point.d;
    a->r = w->point.rank;
    a->delta = w->inputs[MB_SVD_DELTA].data;
    a->out = w->outputs[MB_SVD_OUT].data;
    a->u = w->outputs[MB_SVD_U].data;
    a->s = w->outputs[MB_SVD_S].data;
    a->vh = w->outputs[MB_SVD_VH].data;
}

/* ------------------------------------------------------------------------------------------ matrices */
/* q (m x k, row-major): orthonormal columns, the Q of the QR of a seeded N(0, 1) m x k matrix (m >= k). */
static int random_orthonormal(int64_t m, int64_t k, uint64_t seed, uint64_t stream, double *q) {
    struct mb_tensor g = {.ndim = 2, .shape = {m, k}};
    g.data = mb_alloc((size_t)(m * k) * sizeof(float));
    double *tau = malloc((size_t)k * sizeof(double));
    int rc = !g.data || !tau ? -1 : 0;
    if (!rc) {
        mb_fill_normal(&g, seed, stream, 0.0, 1.0);
        for (int64_t i = 0; i < m * k; i++) q[i] = g.data[i];
        rc = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)m, (lapack_int)k, q, (lapack_int)k, tau) ||
                     LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)m, (lapack_int)k, (lapack_int)k, q, (lapack_int)k, tau)
                 ? -1 : 0;
    }
    mb_free(g.data);
    free(tau);
    return rc;
}

int mb_svd_spectrum_matrix(int64_t rows, int64_t cols, double decay, uint64_t seed, uint64_t stream, double *delta) {
    const int64_t k = rows < cols ? rows : cols;
    double *q1 = malloc((size_t)(rows * k) * sizeof(double)), *q2 = malloc((size_t)(cols * k) * sizeof(double));
    int rc = !q1 || !q2 ? -1 : 0;
    if (!rc) rc = random_orthonormal(rows, k, seed, 2 * stream, q1) || random_orthonormal(cols, k, seed, 2 * stream + 1, q2) ? -1 : 0;
    if (!rc) {
        for (int64_t i = 0; i < rows; i++) /* Q1 diag(s) */
            for (int64_t j = 0; j < k; j++) q1[i * k + j] *= pow(decay, (double)j);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)k, 1.0, q1, (int)k, q2, (int)k,
                    0.0, delta, (int)cols);
    }
    free(q1), free(q2);
    return rc;
}

/* The row-major rows x cols a is the column-major cols x rows a^T = Vh^T S U^T: LAPACK's U is vt (ld cols) and its VT
   is u (ld k). Called this way LAPACKE makes no transposed copies (its row-major path makes three). */
int mb_svd_double(const float *a, int64_t rows, int64_t cols, double *s, double *u, double *vt) {
    const int64_t k = rows < cols ? rows : cols;
    double *copy = malloc((size_t)(rows * cols) * sizeof(double));
    if (!copy) return -1;
    for (int64_t i = 0; i < rows * cols; i++) copy[i] = a[i];
    const int vectors = u && vt;
    const lapack_int rc = LAPACKE_dgesdd(LAPACK_COL_MAJOR, vectors ? 'S' : 'N', (lapack_int)cols, (lapack_int)rows, copy,
                                         (lapack_int)cols, s, vectors ? vt : NULL, (lapack_int)cols,
                                         vectors ? u : NULL, (lapack_int)k);
    free(copy);
    return rc ? -1 : 0;
}

double mb_svd_gesdd_lwork(int64_t rows, int64_t cols, int single) {
    const lapack_int m = (lapack_int)cols, n = (lapack_int)rows, k = m < n ? m : n;
    if (single) {
        float q = 0;
        return LAPACKE_sgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, NULL, m, NULL, NULL, m, NULL, k, &q, -1, NULL) ? 0 : q;
    }
    double q = 0;
    return LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, NULL, m, NULL, NULL, m, NULL, k, &q, -1, NULL) ? 0 : q;
}

double mb_svd_family_bytes(const struct mb_point *p) {
    const double rows = (double)mb_svd_rows(p), cols = (double)p->d, k = rows < cols ? rows : cols;
    const double m = rows > cols ? rows : cols;
    /* fill: delta, Q1, Q2 in double; one seeded float draw and LAPACKE's transposed copy of it for the QR */
    const double fill = 8.0 * (rows * cols + rows * k + cols * k) + 12.0 * m * k;
    /* check: dgesdd's copy of delta, U, Vt, S, its work and iwork (8k ints) */
    const double check = 8.0 * (rows * cols + rows * k + k * cols + k + mb_svd_gesdd_lwork(mb_svd_rows(p), p->d, 0)) +
                         4.0 * 8.0 * k;
    return fill > check ? fill : check;
}

/* ------------------------------------------------------------------------------------------ oracle */
struct svd_oracle {
    int64_t cols, k, r;
    const double *us; /* (rows, k): U S, the first r columns used */
    const double *vt; /* (k, cols) */
};

/* want = row `row` of U_r S_r Vh_r, made on demand (no rows x cols reconstruction is held) */
static void reconstruction_row(const void *ctx, int64_t row, double *scratch MB_UNUSED, double *want) {
    const struct svd_oracle *o = ctx;
    for (int64_t c = 0; c < o->cols; c++) want[c] = 0;
    for (int64_t j = 0; j < o->r; j++) {
        const double f = o->us[row * o->k + j];
        for (int64_t c = 0; c < o->cols; c++) want[c] += f * o->vt[j * o->cols + c];
    }
}

static const struct mb_mechanism svd_mechanisms[] = {
    {"svd.truncated", "out = U_r S_r Vh_r, the rank-r truncated SVD of delta (Eckart-Young: the best rank-r approximation)",
     1e-4, (void (*)(void))reconstruction_row},
};

static int svd_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism,
                     const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    if (strcmp(mechanism, "svd.truncated")) return mb_errorf(err, errlen, "peft.svd has no mechanism '%s'", mechanism);
    struct mb_svd a;
    mb_svd_bind(&a, w);
    const int64_t kk = a.rows < a.cols ? a.rows : a.cols;
    double *s = malloc((size_t)kk * sizeof(double)), *u = malloc((size_t)(a.rows * kk) * sizeof(double));
    double *vt = malloc((size_t)(kk * a.cols) * sizeof(double));
    int rc = !s || !u || !vt ? mb_errorf(err, errlen, "out of memory for the SVD oracle") : 0;
    if (!rc && mb_svd_double(a.delta, a.rows, a.cols, s, u, vt))
        rc = mb_errorf(err, errlen, "LAPACKE_dgesdd failed on delta (%lld x %lld)", (long long)a.rows, (long long)a.cols);
    if (!rc) {
        for (int64_t i = 0; i < a.rows; i++) /* U_r S_r */
            for (int64_t j = 0; j < a.r; j++) u[i * kk + j] *= s[j];
        const struct svd_oracle o = {.cols = a.cols, .k = kk, .r = a.r, .us = u, .vt = vt};
        const struct mb_row_check c = {.width = a.cols, .scratch = 1, .got = a.out, .oracle = reconstruction_row, .ctx = &o};
        rc = mb_check_sampled(&c, 1, a.rows, 0, opts, out, err, errlen);
    }
    free(s), free(u), free(vt);
    return rc;
}

/* ------------------------------------------------------------------------------------------ workload */
static int svd_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    const int64_t rows = mb_svd_rows(p), cols = p->d, k = rows < cols ? rows : cols;
    if (p->rank > k)
        return mb_errorf(err, errlen, "rank r = %lld exceeds min(d_out, d_in) = %lld (allowed: 1..%lld)",
                         (long long)p->rank, (long long)k, (long long)k);
    mb_tensor_set(&w->inputs[MB_SVD_DELTA], "delta", "d_out,d_in", 2, rows, cols, 0, 0);
    w->n_inputs = 1;
    mb_tensor_set(&w->outputs[MB_SVD_OUT], "out", "d_out,d_in", 2, rows, cols, 0, 0);
    mb_tensor_set(&w->outputs[MB_SVD_U], "U", "d_out,r", 2, rows, p->rank, 0, 0);
    mb_tensor_set(&w->outputs[MB_SVD_S], "S", "r", 1, p->rank, 0, 0, 0);
    mb_tensor_set(&w->outputs[MB_SVD_VH], "Vh", "r,d_in", 2, p->rank, cols, 0, 0);
    w->n_outputs = 4;
    return 0;
}

/* delta = Q1 diag(decay^i) Q2^T (family_svd.h). Should the QR fail (out of memory), delta is N(0, 1) noise: still a
   valid input (the oracle takes its SVD), only its spectrum is not the documented one. */
static void svd_fill(struct mb_workload *w) {
    struct mb_svd a;
    mb_svd_bind(&a, w);
    struct mb_tensor *t = &w->inputs[MB_SVD_DELTA];
    double *delta = malloc((size_t)(a.rows * a.cols) * sizeof(double));
    if (delta && !mb_svd_spectrum_matrix(a.rows, a.cols, mb_param_real(&w->point, "decay"), w->seed, 1, delta))
        for (int64_t i = 0; i < a.rows * a.cols; i++) t->data[i] = (float)delta[i];
    else mb_fill_normal(t, w->seed, 1, 0.0, 1.0);
    free(delta);
}

static int svd_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *delta = &w->inputs[MB_SVD_DELTA];
    if (delta->ndim != 2)
        return mb_errorf(err, errlen, "'delta' has %d dimensions; peft.svd expects (d_out, d_in)", delta->ndim);
    w->point.n = delta->shape[0];
    w->point.d = delta->shape[1];
    struct mb_workload want = {.family = w->family, .point = w->point};
    if (svd_layout(&want, err, errlen)) return -1;
    w->n_outputs = want.n_outputs;
    for (int i = 0; i < want.n_outputs; i++) w->outputs[i] = want.outputs[i];
    return 0;
}

const struct mb_family mb_family_peft_svd = {
    .name = "peft.svd",
    .summary = "delta (d_out, d_in) -> out = U_r S_r Vh_r (d_out, d_in), U (d_out, r), S (r), Vh (r, d_in): the "
               "rank-r truncated SVD of a fine-tuning delta (n = d_out, d = d_in, rank = r)",
    .axes = svd_axes,
    .n_axes = (int)(sizeof svd_axes / sizeof svd_axes[0]),
    .params = svd_params,
    .n_params = (int)(sizeof svd_params / sizeof svd_params[0]),
    .probes = mb_peft_svd_probes,
    .n_probes = (int)(sizeof mb_peft_svd_probes / sizeof mb_peft_svd_probes[0]),
    .mechanisms = svd_mechanisms,
    .n_mechanisms = (int)(sizeof svd_mechanisms / sizeof svd_mechanisms[0]),
    .layout = svd_layout,
    .fill = svd_fill,
    .point_from_inputs = svd_point_from_inputs,
    .check = svd_check,
};
