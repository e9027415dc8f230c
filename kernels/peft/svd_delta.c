/* peft.svd.delta (alias peft.svd_delta): store a fine-tuning delta by its rank-r truncated SVD.
 *
 *   delta = U S Vh (thin SVD, LAPACK sgesdd, divide and conquer),   out = U_r S_r Vh_r = sum_{i<r} s_i u_i v_i^T
 * also returning the factors U_r (d_out x r), S_r, Vh_r (r x d_in) (torch.linalg.svd's names; a LoRA pair is
 * B = U_r S_r, A = Vh_r). Eckart-Young: out is the best rank-r approximation, ||delta - out||_F = sqrt(sum_{i>r} s_i^2).
 * Timed: copy delta (sgesdd overwrites its input), the full thin SVD, the rank-r product (sgemm). The row-major delta
 * is handed to column-major sgesdd as delta^T (no transposition copy, no allocation): delta^T = Vh^T S U^T, so
 * LAPACK's U is Vh (k x d_in, row-major) and its VT is U (d_out x k, row-major, leading dimension k).
 * Single-threaded (OpenBLAS runs single-threaded inside the harness; LAPACK's SVD is not split across OpenMP threads).
 *
 * FLOP model: Golub & Van Loan, Matrix Computations (3rd ed., Fig. 5.4.1), R-SVD computing S, U1 and V of an m x n
 * matrix (m >= n): 6 m n^2 + 20 n^3, plus 2 d_out d_in r for the product. A model: gesdd's divide and conquer does
 * a different (usually smaller) count. Workspace: the copy, both thin factors, LAPACK's work arrays.
 * Sources: Eckart & Young 1936; LAPACK Users' Guide, xGESDD; Hu et al. 2021, LoRA, Sec. 7.
 */
#include "peft/family_svd.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct svd_delta {
    struct mb_svd a;
    int64_t k;          /* min(d_out, d_in) */
    float *copy;        /* (d_out, d_in): sgesdd's input, destroyed */
    float *s, *u, *vh;  /* k; (d_out, k); (k, d_in) */
    float *svh;         /* (r, d_in): S_r Vh_r */
    float *work;
    lapack_int lwork, *iwork;
};

static void release(struct svd_delta *s) {
    mb_free(s->copy), mb_free(s->s), mb_free(s->u), mb_free(s->vh), mb_free(s->svh), mb_free(s->work);
    mb_free(s->iwork);
    free(s);
}

static int setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct svd_delta *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_svd_bind(&s->a, w);
    const struct mb_svd *a = &s->a;
    s->k = a->rows < a->cols ? a->rows : a->cols;
    s->copy = mb_alloc((size_t)(a->rows * a->cols) * sizeof(float));
    s->s = mb_alloc((size_t)s->k * sizeof(float));
    s->u = mb_alloc((size_t)(a->rows * s->k) * sizeof(float));
    s->vh = mb_alloc((size_t)(s->k * a->cols) * sizeof(float));
    s->svh = mb_alloc((size_t)(a->r * a->cols) * sizeof(float));
    s->iwork = mb_alloc((size_t)(8 * s->k) * sizeof(lapack_int));
    if (!s->copy || !s->s || !s->u || !s->vh || !s->svh || !s->iwork) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for the SVD workspace");
    }
    float query = 0;
    if (LAPACKE_sgesdd_work(LAPACK_COL_MAJOR, 'S', (lapack_int)a->cols, (lapack_int)a->rows, s->copy, (lapack_int)a->cols,
                            s->s, s->vh, (lapack_int)a->cols, s->u, (lapack_int)s->k, &query, -1, s->iwork)) {
        const long long rows = (long long)a->rows, cols = (long long)a->cols;
        release(s);
        return mb_errorf(err, errlen, "sgesdd workspace query failed (%lld x %lld)", rows, cols);
    }
    s->lwork = (lapack_int)query + 1;
    s->work = mb_alloc((size_t)s->lwork * sizeof(float));
    if (!s->work) {
        release(s);
        return mb_errorf(err, errlen, "out of memory for sgesdd's work array (%lld floats)", (long long)query);
    }
    *state = s;
    return 0;
}

/* A failed SVD (it does not converge: never on finite input in practice) leaves NaN in out, which the check reports;
   run has no failure path. */
static void run(void *state) {
    struct svd_delta *s = state;
    const struct mb_svd *a = &s->a;
    const int64_t rows = a->rows, cols = a->cols, r = a->r, k = s->k;
    memcpy(s->copy, a->delta, (size_t)(rows * cols) * sizeof(float));
    if (LAPACKE_sgesdd_work(LAPACK_COL_MAJOR, 'S', (lapack_int)cols, (lapack_int)rows, s->copy, (lapack_int)cols, s->s,
                            s->vh, (lapack_int)cols, s->u, (lapack_int)k, s->work, s->lwork, s->iwork)) {
        for (int64_t i = 0; i < rows * cols; i++) a->out[i] = NAN;
        return;
    }
    memcpy(a->s, s->s, (size_t)r * sizeof(float));
    memcpy(a->vh, s->vh, (size_t)(r * cols) * sizeof(float));
    for (int64_t i = 0; i < rows; i++) memcpy(a->u + i * r, s->u + i * k, (size_t)r * sizeof(float));
    for (int64_t j = 0; j < r; j++)
        for (int64_t c = 0; c < cols; c++) s->svh[j * cols + c] = s->s[j] * s->vh[j * cols + c];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)cols, (int)r, 1.0f, s->u, (int)k, s->svh,
                (int)cols, 0.0f, a->out, (int)cols);
}

static void teardown(void *state) { release(state); }

static double flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const double rows = (double)mb_svd_rows(p), cols = (double)p->d;
    const double m = rows > cols ? rows : cols, n = rows < cols ? rows : cols;
    return 6.0 * m * n * n + 20.0 * n * n * n + 2.0 * rows * cols * (double)p->rank;
}

/* delta read, out written, the factors written */
static double bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const double rows = (double)mb_svd_rows(p), cols = (double)p->d, r = (double)p->rank;
    return 4.0 * (2.0 * rows * cols + rows * r + r + r * cols);
}

/* the copy, U, Vh, S, S_r Vh_r, iwork, and sgesdd's work array (the size setup's workspace query returns); or the
   family's own fill and check (family_svd.h) when larger */
static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    const double rows = (double)mb_svd_rows(p), cols = (double)p->d, r = (double)p->rank;
    const double kk = rows < cols ? rows : cols, lwork = mb_svd_gesdd_lwork(mb_svd_rows(p), p->d, 1) + 1;
    return fmax(4.0 * (rows * cols + rows * kk + kk * cols + kk + r * cols + 8.0 * kk + lwork),
                mb_svd_family_bytes(p));
}

const struct mb_kernel mb_kernel_peft_svd_delta = {
    .name = "peft.svd.delta",
    .aliases = "peft.svd_delta",
    .family = &mb_family_peft_svd,
    .mechanism = "svd.truncated",
    .summary = "rank-r truncated SVD of a fine-tuning delta (LAPACK sgesdd, then U_r S_r Vh_r by sgemm); also U, S, Vh",
    .complexity = "O(m n^2) time (m = max, n = min of d_out, d_in), O(d_out d_in + n^2) memory",
    .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(d) | MB_AXIS_BIT(rank),
    .rank_meaning = "r, the rank kept (1..min(d_out, d_in))",
    MB_KERNEL_SOURCE,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .flops = flops,
    .bytes = bytes,
    .workspace_bytes = workspace,
};
