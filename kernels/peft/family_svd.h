/* peft.svd family (family_svd.c): "full fine-tune, then store the delta by SVD".
 *
 *   delta (d_out, d_in)  a fine-tuning update dW            -> out (d_out, d_in) = U_r S_r Vh_r, the rank-r truncation,
 *                                                               U (d_out, r), S (r), Vh (r, d_in) (torch.linalg.svd's names)
 *   Eckart-Young: delta_r is the best rank-r approximation, ||delta - delta_r||_F = sqrt(sum_{i>r} s_i^2).
 * Axes: n = d_out (the rows of delta; 0 = d, square), d = d_in, rank = r (1..min(d_out, d_in)).
 * Seeded input (param decay = rho, default 0.9): delta = Q1 diag(s) Q2^T with s_i = rho^i (i = 0..k-1, k =
 * min(d_out, d_in)), a known geometrically decaying spectrum; Q1 (d_out x k), Q2 (d_in x k) random orthonormal, the QR
 * factors (LAPACKE dgeqrf, dorgqr) of seeded N(0, 1) matrices; built in double, stored in float.
 * The truncation is well defined when s_r > s_{r+1} (true of the seeded spectrum).
 * Sources: Eckart & Young 1936; Golub & Van Loan, Matrix Computations, Thm. 2.5.3; Hu et al. 2021, LoRA, Sec. 7
 * (the update of a fine-tuned weight has a low "intrinsic rank").
 */
#ifndef MB_PEFT_FAMILY_SVD_H
#define MB_PEFT_FAMILY_SVD_H

#include "core/mechbench.h"

extern const struct mb_family mb_family_peft_svd;
extern const struct mb_kernel mb_kernel_peft_svd_delta;
extern const struct mb_probe mb_peft_svd_probes[2]; /* svd_probes.c: svd_tail, rank_sufficiency */

enum { MB_SVD_DELTA };                                    /* inputs */
enum { MB_SVD_OUT, MB_SVD_U, MB_SVD_S, MB_SVD_VH };       /* outputs */

struct mb_svd {
    int64_t rows, cols, r; /* d_out, d_in, rank */
    const float *delta;    /* (rows, cols) */
    float *out, *u, *s, *vh; /* (rows, cols), (rows, r), (r), (r, cols) */
};
void mb_svd_bind(struct mb_svd *a, const struct mb_workload *w);
int64_t mb_svd_rows(const struct mb_point *p); /* d_out: n, or d when n = 0 */

/* delta (rows x cols, row-major, double) = Q1 diag(s) Q2^T, s_i = decay^i, Q1, Q2 random orthonormal (seeded by
   seed, stream). Returns 0 or -1 (out of memory, LAPACK failure). */
int mb_svd_spectrum_matrix(int64_t rows, int64_t cols, double decay, uint64_t seed, uint64_t stream, double *delta);
/* Singular values (descending, min(rows, cols) of them) of a float matrix, in double (LAPACKE dgesdd); with
   u, vt non-NULL also the thin factors: u (rows x k), vt (k x cols), row-major. Returns 0 or -1. */
int mb_svd_double(const float *a, int64_t rows, int64_t cols, double *s, double *u, double *vt);
/* Elements of the optimal work array of sgesdd (single) or dgesdd, jobz = 'S', on the column-major view of a
   row-major rows x cols matrix (LAPACK's workspace query); 0 when the query fails. */
double mb_svd_gesdd_lwork(int64_t rows, int64_t cols, int single);
/* Peak bytes the family itself holds beside the tensors at p: the fill's float64 construction of delta, or the
   check's dgesdd (its copy of delta, the thin factors, LAPACK's work arrays), whichever is larger. A kernel's
   workspace model is at least this (the fill precedes setup, the check follows teardown). */
double mb_svd_family_bytes(const struct mb_point *p);

#endif
