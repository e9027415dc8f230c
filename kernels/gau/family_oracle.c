/* GAU family: the per-token double-precision oracles of mechanisms.def (see family.h and family.c), and the
 * sgemm helper shared by the kernels (cblas.h and GSL's headers cannot share a translation unit).
 */
#include "family.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void mb_gau_proj_silu(const float *x, int64_t rows, int64_t d, const float *w, int64_t k, float *y) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)k, (int)d, 1.0f, x, (int)d, w, (int)k, 0.0f,
                y, (int)k);
    mb_gau_silu(y, rows * k);
}

/* ------------------------------------------------------------------------------------------ oracles */
#define KB 256 /* oracle key block */

static double *dcopy_f(const float *x, int64_t count) {
    double *y = malloc((size_t)(count > 0 ? count : 1) * sizeof *y);
    if (y)
        for (int64_t i = 0; i < count; i++) y[i] = x[i];
    return y;
}

double mb_gau_oracle_bytes(const char *mechanism, const struct mb_point *p) {
    const double d = (double)p->d, s = (double)mb_gau_s(p), e = (double)mb_gau_e(p), c = (double)mb_gau_c(p);
    const double m = MB_GAU_ORACLE_ROWS;
    double per_row = d + 2 * e, block = 0; /* glu_ffn: xs, u, v */
    if (!strcmp(mechanism, "gau")) per_row += 2 * s + KB, block = KB * (d + 2 * s + e);
    else if (!strcmp(mechanism, "flash")) per_row += 3 * s, block = c * (d + 3 * s + e) + s * e;
    else if (!strcmp(mechanism, "mha_ffn")) per_row = 8 * d + 2 * (d / MB_GAU_HEAD_DIM) + KB, block = 3 * KB * d;
    return 8.0 * (mb_gau_param_count(mechanism, p) + m * (per_row + d) + block); /* + d: the check's want rows */
}

static double dsilu(double v) { return v / (1.0 + exp(-v)); }

/* y (rows x k) = act(x (rows x d, double) @ w (d x k, double)); act: 0 none, 1 silu, 2 gelu */
static void dproj(const double *x, int64_t rows, int64_t d, const double *w, int64_t k, double *y, int act) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)k, (int)d, 1.0, x, (int)d, w, (int)k, 0.0, y,
                (int)k);
    if (act == 1)
        for (int64_t i = 0; i < rows * k; i++) y[i] = dsilu(y[i]);
    else if (act == 2)
        for (int64_t i = 0; i < rows * k; i++) y[i] = 0.5 * y[i] * (1.0 + erf(y[i] / sqrt(2.0)));
}

/* rows of x of batch element b: either tok[0..count) or the range [first, first + count) when tok is NULL */
static void gather(const struct mb_gau *g, int64_t b, const int64_t *tok, int64_t first, int64_t count, double *xs) {
    for (int64_t r = 0; r < count; r++) {
        const float *src = g->x + (b * g->n + (tok ? tok[r] : first + r)) * g->d;
        for (int64_t c = 0; c < g->d; c++) xs[r * g->d + c] = src[c];
    }
}

static void daffine(const struct mb_gau *g, const double *z, int64_t rows, int row, double *out) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < g->s; c++) out[r * g->s + c] = z[r * g->s + c] * g->gamma[row * g->s + c] + g->beta[row * g->s + c];
}

static double dquad(const struct mb_gau *g, double qk, int64_t len) {
    double a = g->norm == MB_GAU_NORM_PAPER ? qk / (double)len : qk / sqrt((double)g->s);
    a = a > 0 ? a * a : 0;
    return g->norm == MB_GAU_NORM_PAPER ? a : a / (double)len;
}

static void free_all(void **p, int count) {
    for (int i = 0; i < count; i++) free(p[i]);
}

int mb_gau_oracle_glu_ffn(const struct mb_gau *g, int64_t b, const int64_t *tok, int64_t m, double *out) {
    const int64_t d = g->d, e = g->e;
    void *buf[6] = {malloc((size_t)(m * d) * 8), malloc((size_t)(m * e) * 8), malloc((size_t)(m * e) * 8),
                    dcopy_f(g->w_u, d * e), dcopy_f(g->w_v, d * e), dcopy_f(g->w_o, e * d)};
    for (int i = 0; i < 6; i++)
        if (!buf[i]) return free_all(buf, 6), -1;
    double *xs = buf[0], *u = buf[1], *v = buf[2];
    gather(g, b, tok, 0, m, xs);
    dproj(xs, m, d, buf[3], e, u, 1);
    dproj(xs, m, d, buf[4], e, v, 1);
    for (int64_t i = 0; i < m * e; i++) u[i] *= v[i];
    dproj(u, m, e, buf[5], d, out, 0);
    free_all(buf, 6);
    return 0;
}

int mb_gau_oracle_gau(const struct mb_gau *g, int64_t b, const int64_t *tok, int64_t m, double *out) {
    const int64_t d = g->d, e = g->e, s = g->s, n = g->n, last = g->causal ? tok[m - 1] + 1 : n;
    void *buf[14] = {malloc((size_t)(m * d) * 8), malloc((size_t)(m * e) * 8), malloc((size_t)(m * s) * 8),
                     malloc((size_t)(m * s) * 8), calloc((size_t)(m * e), 8), malloc((size_t)(KB * d) * 8),
                     malloc((size_t)(KB * s) * 8), malloc((size_t)(KB * s) * 8), malloc((size_t)(KB * e) * 8),
                     malloc((size_t)(m * KB) * 8), dcopy_f(g->w_u, d * e), dcopy_f(g->w_v, d * e),
                     dcopy_f(g->w_z, d * s), dcopy_f(g->w_o, e * d)};
    for (int i = 0; i < 14; i++)
        if (!buf[i]) return free_all(buf, 14), -1;
    double *xs = buf[0], *u = buf[1], *z = buf[2], *q = buf[3], *acc = buf[4], *xk = buf[5], *zk = buf[6], *k = buf[7],
           *vk = buf[8], *a = buf[9];
    gather(g, b, tok, 0, m, xs);
    dproj(xs, m, d, buf[10], e, u, 1);
    dproj(xs, m, d, buf[12], s, z, 1);
    daffine(g, z, m, 0, q);
    for (int64_t j0 = 0; j0 < last; j0 += KB) {
        const int64_t kb = last - j0 < KB ? last - j0 : KB;
        gather(g, b, NULL, j0, kb, xk);
        dproj(xk, kb, d, buf[12], s, zk, 1);
        daffine(g, zk, kb, 1, k);
        dproj(xk, kb, d, buf[11], e, vk, 1);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)kb, (int)s, 1.0, q, (int)s, k, (int)s, 0.0, a,
                    (int)kb);
        for (int64_t r = 0; r < m; r++)
            for (int64_t j = 0; j < kb; j++)
                a[r * kb + j] = g->causal && j0 + j > tok[r] ? 0.0 : dquad(g, a[r * kb + j], n);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)e, (int)kb, 1.0, a, (int)kb, vk, (int)e, 1.0,
                    acc, (int)e);
    }
    for (int64_t i = 0; i < m * e; i++) u[i] *= acc[i];
    dproj(u, m, e, buf[13], d, out, 0);
    free_all(buf, 14);
    return 0;
}

/* Chunk by chunk: Kl_h^T V_h is added to the running sum P after the chunk's own tokens used it (causal: the
 * exclusive prefix over h < g); non-causal tokens use the total P at the end. */
int mb_gau_oracle_flash(const struct mb_gau *g, int64_t b, const int64_t *tok, int64_t m, double *out) {
    const int64_t d = g->d, e = g->e, s = g->s, n = g->n, c = g->c, chunks = (n + c - 1) / c;
    const int64_t stop = g->causal ? tok[m - 1] / c + 1 : chunks;
    void *buf[16] = {malloc((size_t)(m * d) * 8), malloc((size_t)(m * e) * 8), malloc((size_t)(m * s) * 8),
                     malloc((size_t)(m * s) * 8), malloc((size_t)(m * s) * 8), calloc((size_t)(m * e), 8),
                     malloc((size_t)(c * d) * 8), malloc((size_t)(c * s) * 8), malloc((size_t)(c * s) * 8),
                     malloc((size_t)(c * s) * 8), malloc((size_t)(c * e) * 8), calloc((size_t)(s * e), 8),
                     dcopy_f(g->w_u, d * e), dcopy_f(g->w_v, d * e), dcopy_f(g->w_z, d * s), dcopy_f(g->w_o, e * d)};
    for (int i = 0; i < 16; i++)
        if (!buf[i]) return free_all(buf, 16), -1;
    double *xs = buf[0], *u = buf[1], *z = buf[2], *qq = buf[3], *ql = buf[4], *acc = buf[5], *xk = buf[6],
           *zk = buf[7], *kq = buf[8], *kl = buf[9], *vk = buf[10], *pre = buf[11];
    gather(g, b, tok, 0, m, xs);
    dproj(xs, m, d, buf[12], e, u, 1);
    dproj(xs, m, d, buf[14], s, z, 1);
    daffine(g, z, m, 0, qq);
    daffine(g, z, m, 2, ql);
    int64_t r0 = 0; /* first sampled token of the current chunk */
    for (int64_t h = 0; h < stop; h++) {
        const int64_t j0 = h * c, len = n - j0 < c ? n - j0 : c;
        gather(g, b, NULL, j0, len, xk);
        dproj(xk, len, d, buf[14], s, zk, 1);
        daffine(g, zk, len, 1, kq);
        daffine(g, zk, len, 3, kl);
        dproj(xk, len, d, buf[13], e, vk, 1);
        for (; r0 < m && tok[r0] < j0 + len; r0++) {
            const int64_t i = tok[r0];
            for (int64_t j = 0; j < len && (!g->causal || j0 + j <= i); j++) {
                double qk = 0;
                for (int64_t t = 0; t < s; t++) qk += qq[r0 * s + t] * kq[j * s + t];
                const double wgt = dquad(g, qk, c);
                for (int64_t t = 0; t < e; t++) acc[r0 * e + t] += wgt * vk[j * e + t];
            }
            if (g->causal) /* global: exclusive prefix over chunks < h */
                cblas_dgemv(CblasRowMajor, CblasTrans, (int)s, (int)e, 1.0 / (double)n, pre, (int)e, ql + r0 * s, 1, 1.0,
                            acc + r0 * e, 1);
        }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)s, (int)e, (int)len, 1.0, kl, (int)s, vk, (int)e, 1.0,
                    pre, (int)e);
    }
    if (!g->causal)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)e, (int)s, 1.0 / (double)n, ql, (int)s, pre,
                    (int)e, 1.0, acc, (int)e);
    for (int64_t i = 0; i < m * e; i++) u[i] *= acc[i];
    dproj(u, m, e, buf[15], d, out, 0);
    free_all(buf, 16);
    return 0;
}

/* Online softmax per (token, head) over key blocks. */
int mb_gau_oracle_mha_ffn(const struct mb_gau *g, int64_t b, const int64_t *tok, int64_t m, double *out) {
    const int64_t d = g->d, n = g->n, hd = MB_GAU_HEAD_DIM, heads = d / hd, last = g->causal ? tok[m - 1] + 1 : n;
    void *buf[16] = {calloc((size_t)(m * d), 8), malloc((size_t)(m * d) * 8), calloc((size_t)(m * d), 8),
                     malloc((size_t)(m * heads) * 8), calloc((size_t)(m * heads), 8), malloc((size_t)(KB * d) * 8),
                     malloc((size_t)(KB * d) * 8), malloc((size_t)(KB * d) * 8), malloc((size_t)(m * KB) * 8),
                     malloc((size_t)(m * 4 * d) * 8), dcopy_f(g->w_q, d * d), dcopy_f(g->w_k, d * d),
                     dcopy_f(g->w_v_attn, d * d), dcopy_f(g->w_o_attn, d * d), dcopy_f(g->w_1, d * 4 * d),
                     dcopy_f(g->w_2, 4 * d * d)};
    for (int i = 0; i < 16; i++)
        if (!buf[i]) return free_all(buf, 16), -1;
    double *xs = buf[0], *q = buf[1], *acc = buf[2], *mx = buf[3], *l = buf[4], *xk = buf[5], *k = buf[6], *v = buf[7],
           *a = buf[8], *hid = buf[9];
    for (int64_t i = 0; i < m * heads; i++) mx[i] = -INFINITY;
    gather(g, b, tok, 0, m, xs);
    dproj(xs, m, d, buf[10], d, q, 0);
    const double scale = 1.0 / sqrt((double)hd);
    for (int64_t j0 = 0; j0 < last; j0 += KB) {
        const int64_t kb = last - j0 < KB ? last - j0 : KB;
        gather(g, b, NULL, j0, kb, xk);
        dproj(xk, kb, d, buf[11], d, k, 0);
        dproj(xk, kb, d, buf[12], d, v, 0);
        for (int64_t h = 0; h < heads; h++) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)kb, (int)hd, scale, q + h * hd, (int)d,
                        k + h * hd, (int)d, 0.0, a, (int)kb);
            for (int64_t r = 0; r < m; r++) {
                double *row = a + r * kb, bm = mx[r * heads + h];
                const int64_t valid = g->causal ? (tok[r] - j0 + 1 < kb ? tok[r] - j0 + 1 : kb) : kb;
                for (int64_t j = 0; j < valid; j++) bm = row[j] > bm ? row[j] : bm;
                const double rescale = exp(mx[r * heads + h] - bm); /* 0 on the first block */
                double sum = 0;
                for (int64_t j = 0; j < kb; j++) sum += row[j] = j < valid ? exp(row[j] - bm) : 0.0;
                if (valid <= 0) continue;
                l[r * heads + h] = l[r * heads + h] * rescale + sum;
                mx[r * heads + h] = bm;
                for (int64_t t = 0; t < hd; t++) acc[r * d + h * hd + t] *= rescale;
            }
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)hd, (int)kb, 1.0, a, (int)kb, v + h * hd,
                        (int)d, 1.0, acc + h * hd, (int)d);
        }
    }
    for (int64_t r = 0; r < m; r++)
        for (int64_t c = 0; c < d; c++) acc[r * d + c] /= l[r * heads + c / hd];
    dproj(acc, m, d, buf[13], d, q, 0);        /* y = attention @ w_o_attn (reuses q) */
    dproj(q, m, d, buf[14], 4 * d, hid, 2);    /* gelu(y @ w_1) */
    dproj(hid, m, 4 * d, buf[15], d, out, 0);  /* @ w_2 */
    free_all(buf, 16);
    return 0;
}
